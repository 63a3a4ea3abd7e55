//! The state: what scimsync knows between runs. Format 3 (format 2 and a `journal` head):
//!
//! ```json
//! {"format_version": 2, "lineage": "c0a8…",
//!  "users": {"alice@example.com": {"id": "3b8c…", "label": "Alice Smith", "confirmed_at": "…"}},
//!  "groups": {"sales": {"serial": 7, "cursor": "c15",
//!                       "idp_members": ["alice@example.com", "carol@example.com"],
//!                       "etag": "W/\"43\"", "applied_at": "…", "plan_sha256": "…"}}}
//! ```
//!
//! - `groups.<name>.idp_members` is **the mirror**: the IdP's membership of the group as of
//!   its `cursor`, in IdP keys, sorted. It is what lets a plan tell "the IdP revoked bob" from
//!   "bob was added by hand in Genesys", after any gap (an expired cursor, a lost run). Absent
//!   means unknown (a format 1 state, or a group never applied): that group's next plan reads
//!   the whole membership and removes nothing in `delta` mode.
//! - `users` is **the resolution cache**: IdP key → Genesys user id, a human label, and when
//!   it was last confirmed. A user is looked up once; users that resolved to nobody (or to an
//!   inactive user) are never cached, so every plan looks them up again; an entry proved wrong
//!   (a PATCH naming it answered 400 `invalidValue`) is dropped. Every applied change refreshes
//!   the entry of each user it names, with the plan's label (ids as keys too), so a later plan
//!   names and resolves them without a request; an entry whose key is in no mirror is kept
//!   for [`USER_RETENTION`] (180 days) from then, and dropped by the next apply after it.
//! - `groups.<name>.serial` goes up by one each time apply writes the group; `lineage` is made
//!   once, on the first write. A plan records both per group, and apply refuses a group whose
//!   state has moved since (another plan was applied): what is applied is what was approved.
//! - A group's cursor, mirror and serial change together, only after its changes are applied,
//!   never backwards.
//!
//! A format 1 file (`{"format_version": 1, "groups": {"sales": {"cursor": …}}}`) is read as
//! cursors with unknown mirrors, and written back as format 2 by the next apply.
//!
//! Keys of `groups` are the config's group names. Where the state lives is [`Store`]; the
//! lock that keeps two applies apart is [`StateLock`].

pub mod journal_store;
pub mod ledger;
mod lock;
pub mod object;
mod store;

use crate::model::Base;
use crate::model::IdpKey;
use crate::model::Moved;
use crate::model::Sha256Hex;
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use self::lock::{LockHolder, StateLock};
pub use self::store::{Loaded, Store, StoreLock, writes};
use crate::model::{Cursor, ETag, JournalHead, Lineage, UserId};

/// The state format this build writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 3;

/// A state that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Unreadable.
    #[error("cannot read state {path}: {cause}")]
    Read {
        /// The file or object.
        path: String,
        /// The I/O error (in the message, not a separate `source`: `{:#}` prints it once).
        cause: std::io::Error,
    },
    /// Not a state file.
    #[error(
        "state {path} is not a scimsync state ({message}); restore it from a backup (the README's \"State\" section says how), or delete it to start every group again from a full IdP read (delta groups then add, never remove)"
    )]
    Corrupt {
        /// The file or object.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// Written by a newer scimsync.
    #[error(
        "state {path} has format_version {found}; this scimsync reads up to {FORMAT_VERSION}: upgrade scimsync"
    )]
    Newer {
        /// The file or object.
        path: String,
        /// The version found.
        found: u32,
    },
    /// Could not be written.
    #[error("cannot write state {path}: {cause}")]
    Write {
        /// The file or object.
        path: String,
        /// The I/O error (in the message, not a separate `source`: `{:#}` prints it once).
        cause: std::io::Error,
    },
    /// Another apply holds the lock.
    #[error("another scimsync apply is using state {path} ({holder}); wait for it to finish")]
    Locked {
        /// The state file or object.
        path: String,
        /// Who holds the lock, as far as is known.
        holder: String,
    },
    /// Someone else wrote the state between this run's read and its write.
    #[error(
        "state {path} was changed by another run since it was read; nothing of this run's state was written"
    )]
    Conflict {
        /// The state file or object.
        path: String,
    },
    /// The object store answered with an error (unreachable, denied, …).
    #[error("state {path}: {message}; check the store's URL, its credentials and the network")]
    Store {
        /// The state URL.
        path: String,
        /// What failed, secrets blanked.
        message: String,
    },
    /// A copy (`state push` / `state pull`) that would replace a state it must not.
    #[error("refusing to overwrite state {to} with {from}: {reason}")]
    Diverged {
        /// The state copied.
        from: String,
        /// The state that would have been replaced.
        to: String,
        /// Why, and what to do.
        reason: String,
    },
    /// The lock cannot be removed by this command.
    #[error("cannot unlock state {path}: {reason}")]
    Unlock {
        /// The state file or object.
        path: String,
        /// Why, and what to do.
        reason: String,
    },
}

/// A user resolved once: an IdP key's Genesys user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachedUser {
    /// The Genesys user id.
    pub id: UserId,
    /// A human label (userName or display name), for plans; never decided on.
    pub label: String,
    /// When a lookup last found this user, active.
    pub confirmed_at: Timestamp,
}

/// How long a user in no group's mirror keeps their resolution-cache entry, counted from
/// `confirmed_at` (the last lookup that found them, or the last applied change that named
/// them): 180 days. A user who leaves every group and comes back within it costs no request;
/// after it, one bulk read. Entries of users in any mirror are kept whatever their age.
pub const USER_RETENTION: jiff::SignedDuration = jiff::SignedDuration::from_hours(180 * 24);

/// What is known of one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRecord {
    /// +1 each time apply writes this group (0: never written).
    #[serde(default)]
    pub serial: u64,
    /// The IdP cursor to read changes from next time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    /// The mirror: the IdP's membership as of `cursor`, in IdP keys. `None`: unknown.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::bulk_set_opt"
    )]
    pub idp_members: Option<BTreeSet<IdpKey>>,
    /// The group's ETag after the last apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// When the last apply finished this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<Timestamp>,
    /// The sha256 of the plan last applied to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_sha256: Option<Sha256Hex>,
}

/// The state's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// Made once, on the first write; `None` until then (and in format 1 files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Lineage>,
    /// The resolution cache: IdP key → Genesys user.
    #[serde(default)]
    pub users: BTreeMap<IdpKey, CachedUser>,
    /// Per group (config name).
    #[serde(default)]
    pub groups: BTreeMap<String, GroupRecord>,
    /// Where the journal stood at this state's write (format 3; `None` before the first
    /// journaled apply). `scimsync log verify` checks the journal against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<JournalHead>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            format_version: FORMAT_VERSION,
            lineage: None,
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            journal: None,
        }
    }
}

impl crate::model::ResolutionCache for State {
    fn user_of(&self, key: &IdpKey) -> Option<UserId> {
        self.users.get(key).map(|c| c.id.clone())
    }
}

impl State {
    /// Parse a state; `shown` names it in errors.
    pub fn decode(bytes: &[u8], shown: &str) -> Result<Self, StateError> {
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let corrupt = |e: serde_json::Error| StateError::Corrupt {
            path: shown.to_owned(),
            message: e.to_string(),
        };
        let version: Version = serde_json::from_slice(bytes).map_err(corrupt)?;
        if version.format_version > FORMAT_VERSION {
            return Err(StateError::Newer {
                path: shown.to_owned(),
                found: version.format_version,
            });
        }
        let mut state: Self = serde_json::from_slice(bytes).map_err(corrupt)?;
        if state.format_version < 2 {
            // Format 1 held cursors only: mirrors are unknown, serials start at 0.
            for record in state.groups.values_mut() {
                record.idp_members = None;
            }
        }
        Ok(state)
    }

    /// The state as written: pretty JSON and a trailing newline, as format [`FORMAT_VERSION`]
    /// with a lineage (made now if it had none).
    ///
    /// # Panics
    ///
    /// Never: a state always serializes into a `Vec`.
    pub fn encode(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.write_to(&mut bytes).expect("a Vec takes any write");
        bytes
    }

    /// [`State::encode`], streamed into `w`: the state is serialized once, straight to where
    /// it goes (a file, an object's payload), never first copied or cloned. With the mirror a
    /// large state is tens of MB: one pass is what keeps an apply's writes cheap.
    pub fn write_to(&mut self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.format_version = FORMAT_VERSION;
        if self.lineage.is_none() {
            self.lineage = Some(Lineage::new_random());
        }
        serde_json::to_writer_pretty(&mut *w, self).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    }

    /// Read a local state file; a missing file is an empty state.
    pub fn load_file(path: &std::path::Path) -> Result<Self, StateError> {
        let shown = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => Self::decode(&bytes, &shown),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(cause) => Err(StateError::Read { path: shown, cause }),
        }
    }

    /// Write a local state file atomically, owner-only, streamed.
    pub fn save_file(&mut self, path: &std::path::Path) -> Result<(), StateError> {
        crate::atomic_file::write_with(path, |w| self.write_to(w)).map_err(|cause| {
            StateError::Write {
                path: path.display().to_string(),
                cause,
            }
        })
    }

    /// Why this state must not replace `dest` (a state copy's destination), if it must not:
    /// `dest` is another lineage (another team's or another setup's state), or one of its
    /// groups was written more often than here (it is newer). An empty `dest` (never
    /// written) may always be replaced; so may one that this state is a copy or a
    /// successor of.
    pub fn must_not_replace(&self, dest: &State) -> Option<String> {
        let Some(theirs) = &dest.lineage else {
            return None;
        };
        match &self.lineage {
            None => {
                return Some(
                    "the state being copied was never written (it has no lineage): run an apply first, or copy the other way".into(),
                );
            }
            Some(ours) if ours != theirs => {
                return Some(format!(
                    "it is another state (lineage {theirs}, the copy is {ours}); if it really is to be replaced, delete it first (after a backup)"
                ));
            }
            Some(_) => {}
        }
        let newer: Vec<String> = dest
            .groups
            .iter()
            .filter_map(|(name, theirs)| {
                let ours = self.groups.get(name).map_or(0, |g| g.serial);
                (theirs.serial > ours)
                    .then(|| format!("{name} (serial {} > {ours})", theirs.serial))
            })
            .collect();
        (!newer.is_empty()).then(|| {
            format!(
                "it is newer for group(s) {}: an apply wrote it since the copy was made; copy it the other way instead",
                newer.join(", ")
            )
        })
    }

    /// Drop resolution-cache entries older than [`USER_RETENTION`] at `now` whose key is in
    /// no group's mirror; how many were dropped.
    pub fn prune_users(&mut self, now: Timestamp) -> usize {
        let before = self.users.len();
        let Some(cutoff) = now.checked_sub(USER_RETENTION).ok() else {
            return 0;
        };
        let groups = &self.groups;
        self.users.retain(|key, user| {
            user.confirmed_at >= cutoff
                || groups
                    .values()
                    .any(|g| g.idp_members.as_ref().is_some_and(|m| m.contains(key)))
        });
        before - self.users.len()
    }

    /// The cursor of group `name`, if it has one.
    pub fn cursor(&self, name: &str) -> Option<&Cursor> {
        self.groups.get(name).and_then(|g| g.cursor.as_ref())
    }

    /// The mirror of group `name`, if known.
    pub fn mirror(&self, name: &str) -> Option<&BTreeSet<IdpKey>> {
        self.groups.get(name).and_then(|g| g.idp_members.as_ref())
    }

    /// Where group `name` stands now.
    pub fn base(&self, name: &str) -> Base {
        Base {
            lineage: self.lineage.clone(),
            serial: self.groups.get(name).map_or(0, |g| g.serial),
        }
    }

    /// Why a plan made at `base` no longer fits group `name`, if it does not: the state was
    /// replaced (another lineage) or the group was written since (another serial).
    pub fn moved_since(&self, name: &str, base: &Base) -> Option<Moved> {
        let now = self.base(name);
        if let (Some(planned), Some(current)) = (&base.lineage, &now.lineage)
            && planned != current
        {
            return Some(Moved::OtherLineage {
                planned: planned.clone(),
                current: current.clone(),
            });
        }
        (now.serial != base.serial).then(|| Moved::Written {
            planned: base.serial,
            current: now.serial,
            by_plan: self.groups.get(name).and_then(|g| g.plan_sha256.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_a_lineage_made_on_first_write() {
        let mut s = State::default();
        assert!(s.lineage.is_none());
        s.groups.insert(
            "sales".into(),
            GroupRecord {
                serial: 3,
                cursor: Some(Cursor("c3".into())),
                idp_members: Some([IdpKey::from("b"), IdpKey::from("a")].into()),
                ..GroupRecord::default()
            },
        );
        let bytes = s.encode();
        let lineage = s.lineage.clone().unwrap();
        let back = State::decode(&bytes, "s.json").unwrap();
        assert_eq!(back, s);
        assert_eq!(back.cursor("sales").unwrap().as_str(), "c3");
        assert_eq!(
            back.mirror("sales").unwrap().iter().collect::<Vec<_>>(),
            ["a", "b"]
        );
        let mut again = back.clone();
        again.encode();
        assert_eq!(again.lineage, Some(lineage), "made once, then kept");
    }

    #[test]
    fn format_1_is_read_as_cursors_with_unknown_mirrors() {
        let v1 = br#"{"format_version": 1, "groups": {"sales": {"cursor": "c15", "etag": "\"43\"",
            "applied_at": "2026-11-29T03:00:00Z", "plan_sha256": "abc"}}}"#;
        let s = State::decode(v1, "old.json").unwrap();
        let g = &s.groups["sales"];
        assert_eq!(g.cursor.as_ref().unwrap().as_str(), "c15");
        assert_eq!(g.idp_members, None);
        assert_eq!(g.serial, 0);
        assert!(s.lineage.is_none() && s.users.is_empty());
    }

    #[test]
    fn corrupt_and_newer_files_are_refused_with_advice() {
        let e = State::decode(b"{\"format_version\": 2, \"groups\": {\"a\": ", "s.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.json") && e.contains("delete it"), "{e}");
        let e = State::decode(b"{\"format_version\": 9}", "s.json").unwrap_err();
        assert!(e.to_string().contains("upgrade"), "{e}");
    }

    #[test]
    fn a_copy_never_replaces_another_lineage_or_newer_groups() {
        let mut src = State::default();
        src.groups.entry("sales".into()).or_default().serial = 3;
        // Never-written destinations take anything.
        assert_eq!(src.must_not_replace(&State::default()), None);
        src.encode();
        let mut dest = src.clone();
        assert_eq!(src.must_not_replace(&dest), None, "the same state");
        dest.groups.get_mut("sales").unwrap().serial = 4;
        let why = src.must_not_replace(&dest).unwrap();
        assert!(why.contains("sales (serial 4 > 3)"), "{why}");
        dest.groups.get_mut("sales").unwrap().serial = 2;
        assert_eq!(src.must_not_replace(&dest), None, "older: replaced");
        dest.lineage = Some(Lineage("other".into()));
        let why = src.must_not_replace(&dest).unwrap();
        assert!(why.contains("another state"), "{why}");
        assert!(State::default().must_not_replace(&dest).is_some());
    }

    #[test]
    fn a_moved_group_or_another_lineage_is_named() {
        let mut s = State::default();
        s.encode();
        let base = s.base("sales");
        assert_eq!(s.moved_since("sales", &base), None);
        s.groups.entry("sales".into()).or_default().serial += 1;
        let why = s.moved_since("sales", &base).unwrap().to_string();
        assert!(why.contains("superseded") && why.contains("0 → 1"), "{why}");
        let other = Base {
            lineage: Some(Lineage("other".into())),
            serial: 1,
        };
        assert!(
            s.moved_since("sales", &other)
                .unwrap()
                .to_string()
                .contains("another state")
        );
        // A plan made before the state was ever written fits any lineage.
        let unborn = Base {
            lineage: None,
            serial: 1,
        };
        assert_eq!(s.moved_since("sales", &unborn), None);
    }
}
