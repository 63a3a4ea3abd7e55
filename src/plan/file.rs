//! The plan file: versioned JSON, stable key order, a trailing newline, and a sha256 over the
//! canonical serialization of every other field.
//!
//! Canonical serialization: the plan with its `sha256` key removed, as compact JSON in the
//! struct's key order, sets sorted. Reading re-serializes the parsed plan, so whitespace and
//! key order in the file do not matter; any change of a value does.

use crate::model::Sha256Hex;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{FORMAT_VERSION, GroupPlan, Plan, Resolution, SourceSettings, Summary, TargetRef};
use crate::atomic_file;
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use crate::model::{UserId, hex};

/// A plan file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// Unreadable.
    #[error("cannot read plan file {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error (in the message; not an error source, so `{:#}` says it once).
        cause: std::io::Error,
    },
    /// Not a plan (not JSON, truncated, missing or unknown keys, wrong types).
    #[error(
        "{path} is not a scimsync plan file ({message}); make a new one with `scimsync plan --out {path}`"
    )]
    Invalid {
        /// The file.
        path: String,
        /// What the parser said, with line and column.
        message: String,
    },
    /// Written by a newer scimsync.
    #[error(
        "plan file {path} has format_version {found}, made by scimsync {tool}; this scimsync {ours} reads format_version {FORMAT_VERSION}: upgrade scimsync, or re-plan with this one"
    )]
    Newer {
        /// The file.
        path: String,
        /// Its format version.
        found: u32,
        /// The version of scimsync that wrote it.
        tool: String,
        /// This build's version.
        ours: &'static str,
    },
    /// Written by an older scimsync, in a format this one no longer applies.
    #[error(
        "plan file {path} has format_version {found}, made by scimsync {tool}; this scimsync applies format_version {FORMAT_VERSION} only (it records the state each group was planned from): make a new plan with `scimsync plan` and approve it"
    )]
    Older {
        /// The file.
        path: String,
        /// Its format version.
        found: u32,
        /// The version of scimsync that wrote it.
        tool: String,
    },
    /// The digest does not match the content.
    #[error(
        "plan file {path} was modified after it was made: its sha256 field says {recorded} but its content hashes to {actual}; re-plan and approve the new plan"
    )]
    Tampered {
        /// The file.
        path: String,
        /// The sha256 field.
        recorded: Sha256Hex,
        /// The content's digest.
        actual: Sha256Hex,
    },
    /// Could not be written.
    #[error("cannot write plan file {path}: {cause}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error (in the message; not an error source, so `{:#}` says it once).
        cause: std::io::Error,
    },
}

/// Every field of a plan but `sha256`, in the plan's key order: what the digest covers.
#[derive(Serialize)]
struct Unsealed<'a> {
    format_version: u32,
    tool_version: &'a str,
    created_at: &'a jiff::Timestamp,
    target: &'a TargetRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a SourceSettings>,
    config_sha256: &'a Sha256Hex,
    groups: &'a [GroupPlan],
    labels: &'a BTreeMap<UserId, String>,
    summary: &'a Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaces: Option<&'a Sha256Hex>,
}

/// Feeds serialized bytes straight into a hasher: no copy of a large plan is ever built.
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The digest of `plan`'s canonical serialization: compact JSON of all fields but `sha256`,
/// in the plan's key order.
///
/// # Panics
///
/// Never: a plan always serializes.
pub fn digest(plan: &Plan) -> Sha256Hex {
    let unsealed = Unsealed {
        format_version: plan.format_version,
        tool_version: &plan.tool_version,
        created_at: &plan.created_at,
        target: &plan.target,
        source: plan.source.as_ref(),
        config_sha256: &plan.config_sha256,
        groups: &plan.groups,
        labels: &plan.labels,
        summary: &plan.summary,
        replaces: plan.replaces.as_ref(),
    };
    let mut writer = HashWriter(Sha256::new());
    serde_json::to_writer(&mut writer, &unsealed).expect("plans serialise");
    Sha256Hex(hex(&writer.0.finalize()))
}

/// Set `plan.sha256` to its digest.
pub fn seal(plan: &mut Plan) {
    plan.sha256 = digest(plan);
}

/// The file bytes of `plan`: pretty JSON and a trailing newline.
///
/// # Panics
///
/// Never: a plan always serializes.
pub fn to_bytes(plan: &Plan) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(plan).expect("plans serialise");
    bytes.push(b'\n');
    bytes
}

/// Write `plan` to `path` atomically (owner-only), streamed: a large plan is never held
/// twice in memory.
pub fn write(path: &Path, plan: &Plan) -> Result<(), PlanFileError> {
    atomic_file::write_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, plan).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })
    .map_err(|cause| PlanFileError::Write {
        path: path.display().to_string(),
        cause,
    })
}

/// Read the plan at `path`, checking its format version (not its digest: see [`verify`]).
pub fn read(path: &Path) -> Result<Plan, PlanFileError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|cause| PlanFileError::Read {
        path: shown.clone(),
        cause,
    })?;
    parse(&bytes, &shown)
}

/// Parse plan file bytes; `path` names them in errors.
pub fn parse(bytes: &[u8], path: &str) -> Result<Plan, PlanFileError> {
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: Option<u64>,
        tool_version: Option<String>,
    }
    let invalid = |message: String| PlanFileError::Invalid {
        path: path.to_owned(),
        message,
    };
    // Only when the plan does not read: is it a newer format (then say "upgrade", not a
    // confusing schema error)? Other keys are skipped without being built.
    let newer = |found: u64, tool: Option<String>| PlanFileError::Newer {
        path: path.to_owned(),
        found: u32::try_from(found).unwrap_or(u32::MAX),
        tool: tool.unwrap_or_else(|| "unknown".into()),
        ours: env!("CARGO_PKG_VERSION"),
    };
    // A UTF-8 byte-order mark (some editors and Windows tools add one) is not content.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let plan = match serde_json::from_slice::<Plan>(bytes) {
        Ok(plan) => plan,
        Err(e) => {
            if let Ok(Version {
                format_version: Some(found),
                tool_version,
            }) = serde_json::from_slice::<Version>(bytes)
            {
                if found > u64::from(FORMAT_VERSION) {
                    return Err(newer(found, tool_version));
                }
                if found < u64::from(FORMAT_VERSION) {
                    return Err(PlanFileError::Older {
                        path: path.to_owned(),
                        found: u32::try_from(found).unwrap_or(0),
                        tool: tool_version.unwrap_or_else(|| "unknown".into()),
                    });
                }
            }
            return Err(invalid(e.to_string()));
        }
    };
    if plan.format_version > FORMAT_VERSION {
        return Err(newer(
            u64::from(plan.format_version),
            Some(plan.tool_version),
        ));
    }
    if plan.format_version < FORMAT_VERSION {
        return Err(PlanFileError::Older {
            path: path.to_owned(),
            found: plan.format_version,
            tool: plan.tool_version,
        });
    }
    Ok(plan)
}

/// Check that `plan.sha256` is the digest of its content.
pub fn verify(plan: &Plan, path: &str) -> Result<(), PlanFileError> {
    let actual = digest(plan);
    if actual == plan.sha256 {
        Ok(())
    } else {
        Err(PlanFileError::Tampered {
            path: path.to_owned(),
            recorded: plan.sha256.clone(),
            actual,
        })
    }
}

impl Plan {
    /// A sealed plan of `groups` (labels from `labels`, kept only for ids the plan names).
    pub fn new(
        target: TargetRef,
        source: Option<SourceSettings>,
        config_sha256: Sha256Hex,
        created_at: Timestamp,
        groups: Vec<GroupPlan>,
        labels: &BTreeMap<UserId, String>,
    ) -> Self {
        let named: BTreeSet<&UserId> = groups
            .iter()
            .flat_map(|g| {
                g.changes
                    .add
                    .iter()
                    .chain(&g.changes.remove)
                    .chain(g.resolution.values().filter_map(Resolution::id))
            })
            .collect();
        let labels = named
            .into_iter()
            .filter_map(|id| labels.get(id).map(|l| (id.clone(), l.clone())))
            .collect();
        let mut plan = Self {
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at,
            target,
            source,
            config_sha256,
            summary: Summary::of(&groups),
            groups,
            labels,
            replaces: None,
            sha256: Sha256Hex::default(),
        };
        seal(&mut plan);
        plan
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{
        Base, ETag, GroupId, GroupTarget, Intent, MemberChanges, Mode, Precondition, UserId,
    };
    use crate::plan::*;

    pub(crate) fn sample() -> Plan {
        let ids = |v: &[&str]| v.iter().map(|s| UserId::from(*s)).collect::<BTreeSet<_>>();
        let keys = |v: &[&str]| v.iter().map(|s| IdpKey::from(*s)).collect::<BTreeSet<_>>();
        let group = GroupPlan {
            group_id: GroupId::from("5f4bc742"),
            display_name: "Sales".into(),
            mapping: Mapping {
                idp_group: "sales".into(),
                target: GroupTarget::Id(GroupId::from("5f4bc742")),
                mode: Mode::Delta,
            },
            precondition: Precondition {
                etag: Some(ETag::from("W/\"42\"")),
                members_sha256: Sha256Hex("ab".repeat(32)),
                member_count: 120,
            },
            base: Base {
                lineage: Some(crate::model::Lineage::from("0123abcd")),
                serial: 7,
            },
            source: SourceRef {
                kind: crate::model::SourceKind::DeltaHttp,
                read: ReadKind::Delta,
                cursor_from: Some("c10".into()),
                cursor_to: Some("c15".into()),
            },
            intent: Intent::new(
                &keys(&["alice@x", "bob@x", "dan@x"]),
                Some(&keys(&["bob@x", "carol@x"])),
            ),
            resolution: [
                ("alice@x", Resolution::Found("u1".into())),
                ("bob@x", Resolution::User("u2".into())),
                ("carol@x", Resolution::User("u3".into())),
                ("dan@x", Resolution::Unknown),
            ]
            .into_iter()
            .map(|(k, v)| (IdpKey::from(k), v))
            .collect(),
            changes: MemberChanges {
                add: ids(&["u1"]),
                remove: ids(&["u3"]),
            },
            reasons: [("u1", ChangeReason::Granted), ("u3", ChangeReason::Revoked)]
                .into_iter()
                .map(|(k, v)| (UserId::from(k), v))
                .collect(),
            pending: vec![Pending {
                key: "dan@x".into(),
                reason: PendingReason::UnknownUser,
            }],
            skipped: Vec::new(),
            member_groups: BTreeSet::new(),
            guard: Guard {
                removals: 1,
                limit: 25,
                overridden: false,
            },
            grants: None,
            privileged: false,
        };
        let labels = [
            ("u1", "Alice Smith"),
            ("u2", "bob@x"),
            ("u3", "Carol Jones"),
        ]
        .into_iter()
        .map(|(k, v)| (UserId::from(k), v.to_owned()))
        .collect();
        Plan::new(
            TargetRef {
                kind: crate::model::TargetKind::Genesys,
                api_base: "https://api.mypurecloud.com".into(),
            },
            None,
            Sha256Hex("cd".repeat(32)),
            "2026-11-29T03:00:00Z".parse().unwrap(),
            vec![group],
            &labels,
        )
    }

    #[test]
    fn round_trips_and_verifies() {
        let plan = sample();
        let bytes = to_bytes(&plan);
        assert!(bytes.ends_with(b"}\n"));
        let back = parse(&bytes, "p.json").unwrap();
        assert_eq!(back, plan);
        verify(&back, "p.json").unwrap();
        // Key order is the documented one.
        let text = String::from_utf8(bytes).unwrap();
        let order: Vec<usize> = [
            "format_version",
            "tool_version",
            "created_at",
            "target",
            "config_sha256",
            "groups",
            "labels",
            "summary",
            "\"sha256\"",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }

    #[test]
    fn tampering_truncation_and_newer_versions_are_refused() {
        let plan = sample();
        let text = String::from_utf8(to_bytes(&plan)).unwrap();
        let tampered = parse(text.replace("\"u1\"", "\"u9\"").as_bytes(), "p.json").unwrap();
        let e = verify(&tampered, "p.json").unwrap_err().to_string();
        assert!(e.contains("modified after it was made"), "{e}");
        let e = parse(&text.as_bytes()[..text.len() / 2], "p.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.json") && e.contains("line"), "{e}");
        let newer = text.replace("\"format_version\": 2", "\"format_version\": 3");
        let e = parse(newer.as_bytes(), "p.json").unwrap_err().to_string();
        assert!(
            e.contains("format_version 3") && e.contains("upgrade"),
            "{e}"
        );
        let older = text.replace("\"format_version\": 2", "\"format_version\": 1");
        let e = parse(older.as_bytes(), "p.json").unwrap_err().to_string();
        assert!(
            e.contains("format_version 1") && e.contains("new plan"),
            "{e}"
        );
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(parse(&bom, "p.json").unwrap(), plan);
        let e = parse(b"\xff\xfe", "p.json").unwrap_err();
        assert!(matches!(e, PlanFileError::Invalid { .. }));
    }
}
