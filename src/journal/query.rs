//! What `scimsync log` selects from the journal: its lines parsed ([`parse`]), and the
//! filters of its flags ([`Query`]). Pure; the command reads the lines and prints.
//!
//! The rules (also in `scimsync log --help` and docs/journal.md):
//!
//! - Flags combine with *and*; a repeated `--group` or `--user` matches any of its values.
//! - `--group NAME` matches the config's group name, the Genesys group id or its display
//!   name, without regard to case. `--user X` matches the Genesys user id, the IdP key or
//!   the label, without regard to case. Both match only records about a group (or a user):
//!   with either, run records (`run_started`, `run_ended`, `pruned`) are left out, and with
//!   `--user`, outcomes too.
//! - `--since T` keeps records written at or after T: an RFC 3339 timestamp
//!   (`2026-12-01T00:00:00Z`), a date (`2026-12-01`, midnight UTC), or a span back from now
//!   (`30d`, `12h`, `1w`; days are 24 hours).
//! - `--plan SHA` (the full sha256 or a prefix of at least 8 hex digits) matches records of
//!   that plan: its `plan_sha256`, or `replaces_plan_sha256` (a re-plan of it); run records
//!   other than `run_started` have no plan and are left out.
//! - Only `change` records, unless [`Kinds::All`] (`--all`; the default of `--format json`).

use jiff::{SpanRelativeTo, Timestamp};

use super::{Approval, Event, Record};

/// The shortest `--plan` prefix: 8 hex digits (one plan in four billion shares it).
pub const MIN_PLAN_PREFIX: usize = 8;

/// A journal line that is not a record, or a flag that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The journal has no record: nothing was journaled with this state yet.
    #[error(
        "journal {journal} has no records: `scimsync apply` writes it, beside the state, when it changes a group; check --config and its [state], or apply a plan first"
    )]
    NoRecords {
        /// The journal file or prefix.
        journal: String,
    },
    /// A line of the journal is not a record this scimsync reads.
    #[error(
        "journal {journal}, line {line}: not a journal record ({message}); check the chain with `scimsync log verify`"
    )]
    Line {
        /// The journal file or prefix.
        journal: String,
        /// 1-based.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// `--since` is neither a timestamp, a date nor a span.
    #[error(
        "--since {given}: not a time; give an RFC 3339 timestamp (2026-12-01T09:00:00Z), a date (2026-12-01) or a span back from now (30d, 12h)"
    )]
    Since {
        /// What was given.
        given: String,
    },
    /// `--plan` is not a sha256 or a long enough prefix of one.
    #[error(
        "--plan {given}: not a plan's sha256; give the sha256 `scimsync show` prints, or at least its first {MIN_PLAN_PREFIX} hex digits"
    )]
    Plan {
        /// What was given.
        given: String,
    },
}

/// One journal line and the record it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'l> {
    /// 1-based line number in the journal as read.
    pub line_no: usize,
    /// The line exactly as stored (what the chain hashes, and what `--format json` prints).
    pub line: &'l str,
    /// The record.
    pub record: Record,
}

/// Parse the journal's `lines` (oldest first); `journal` names it in errors. A journal
/// without any line is an error: there is nothing to query.
pub fn parse<'l>(lines: &'l [String], journal: &str) -> Result<Vec<Entry<'l>>, QueryError> {
    if lines.is_empty() {
        return Err(QueryError::NoRecords {
            journal: journal.to_owned(),
        });
    }
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map(|record| Entry {
                    line_no: i + 1,
                    line,
                    record,
                })
                .map_err(|e| QueryError::Line {
                    journal: journal.to_owned(),
                    line: i + 1,
                    message: e.to_string(),
                })
        })
        .collect()
}

/// Which kinds of records a query keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kinds {
    /// `change` records only.
    #[default]
    Changes,
    /// Every record.
    All,
}

/// A plan's sha256, or a prefix of one, in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanPrefix(String);

impl std::str::FromStr for PlanPrefix {
    type Err = QueryError;

    /// ```
    /// use scimsync::journal::query::PlanPrefix;
    /// assert!("3B8C9D0E".parse::<PlanPrefix>().is_ok());
    /// assert!("3b8c".parse::<PlanPrefix>().is_err());
    /// assert!("zzzzzzzzzz".parse::<PlanPrefix>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.trim().to_ascii_lowercase();
        if (MIN_PLAN_PREFIX..=64).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            Ok(Self(hex))
        } else {
            Err(QueryError::Plan {
                given: s.to_owned(),
            })
        }
    }
}

impl PlanPrefix {
    fn matches(&self, approval: &Approval) -> bool {
        std::iter::once(&approval.plan_sha256)
            .chain(approval.replaces_plan_sha256.as_ref())
            .any(|sha| sha.as_str().starts_with(&self.0))
    }
}

/// `--since`: an RFC 3339 timestamp, a date and time without an offset (UTC), a date
/// (midnight UTC), or a span before `now`.
///
/// ```
/// use scimsync::journal::query::since;
/// let now: jiff::Timestamp = "2026-12-03T12:00:00Z".parse().unwrap();
/// assert_eq!(since("30d", now).unwrap().to_string(), "2026-11-03T12:00:00Z");
/// assert_eq!(since("12h", now).unwrap().to_string(), "2026-12-03T00:00:00Z");
/// assert_eq!(since("2026-12-01", now).unwrap().to_string(), "2026-12-01T00:00:00Z");
/// assert_eq!(since("2026-12-01T09:00:00", now).unwrap().to_string(), "2026-12-01T09:00:00Z");
/// assert_eq!(since("2026-12-01T08:30:00+01:00", now).unwrap().to_string(), "2026-12-01T07:30:00Z");
/// assert!(since("yesterday", now).is_err());
/// ```
pub fn since(text: &str, now: Timestamp) -> Result<Timestamp, QueryError> {
    let text = text.trim();
    let invalid = || QueryError::Since {
        given: text.to_owned(),
    };
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    // A date and time without an offset is UTC, to the second given (not its midnight:
    // a date parse would take the date and drop the time).
    if let Ok(at) = text.parse::<jiff::civil::DateTime>() {
        return at
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|_| invalid());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|_| invalid());
    }
    let span: jiff::Span = text.parse().map_err(|_| invalid())?;
    let back = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|_| invalid())?;
    now.checked_sub(back.abs()).map_err(|_| invalid())
}

/// What `scimsync log` keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `--group`: any of these (config name, Genesys id or display name; any case).
    pub groups: Vec<String>,
    /// `--user`: any of these (Genesys id, IdP key or label; any case).
    pub users: Vec<String>,
    /// `--since`: written at or after.
    pub since: Option<Timestamp>,
    /// `--plan`.
    pub plan: Option<PlanPrefix>,
    /// Changes only, or every record.
    pub kinds: Kinds,
}

fn any_is(wanted: &[String], candidates: &[&str]) -> bool {
    wanted.iter().any(|w| {
        let w = w.to_lowercase();
        candidates.iter().any(|c| c.to_lowercase() == w)
    })
}

impl Query {
    /// Whether `record` is kept.
    pub fn matches(&self, record: &Record) -> bool {
        if self.kinds == Kinds::Changes && record.change().is_none() {
            return false;
        }
        if self.since.is_some_and(|since| record.time < since) {
            return false;
        }
        if !self.groups.is_empty() {
            let Some(g) = record.group() else {
                return false;
            };
            if !any_is(&self.groups, &[&g.idp, g.id.as_str(), &g.name]) {
                return false;
            }
        }
        if !self.users.is_empty() {
            let Some(c) = record.change() else {
                return false;
            };
            let key = c.user.key.as_ref().map_or("", |k| k.as_str());
            let mut candidates = vec![c.user.id.as_str(), c.user.label.as_str()];
            if !key.is_empty() {
                candidates.push(key);
            }
            if !any_is(&self.users, &candidates) {
                return false;
            }
        }
        if let Some(plan) = &self.plan {
            let approval = match &record.event {
                Event::RunStarted(r) => &r.approval,
                Event::Change(c) => &c.approval,
                Event::Outcome(o) => &o.approval,
                Event::Intents { .. } | Event::RunEnded { .. } | Event::Pruned { .. } => {
                    return false;
                }
            };
            if !plan.matches(approval) {
                return false;
            }
        }
        true
    }

    /// The entries kept, in journal order.
    pub fn select<'e, 'l>(&self, entries: &'e [Entry<'l>]) -> Vec<&'e Entry<'l>> {
        entries.iter().filter(|e| self.matches(&e.record)).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::journal::chain::seal;
    use crate::journal::{
        Actor, Change, GroupOutcome, GroupRef, Op, OutcomeKind, RunRef, RunStarted, StateRef,
        UserRef,
    };
    use crate::model::{GroupId, JournalLink, Lineage, Sha256Hex, UserId};
    use crate::plan::ChangeReason;

    pub const PLAN_A: &str = "3b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4";
    pub const PLAN_B: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0";

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    pub fn approval(plan: &str, replaces: Option<&str>, approver: &str) -> Approval {
        Approval {
            plan_sha256: Sha256Hex::from(plan.to_owned()),
            replaces_plan_sha256: replaces.map(|r| Sha256Hex::from(r.to_owned())),
            actor: Actor {
                approved_by: Some(approver.into()),
                change_ref: Some("acme/idp#7".into()),
                ran_by: Some("octocat".into()),
                system: "github".into(),
                repository: Some("acme/idp".into()),
                run_id: Some("42".into()),
                run_url: Some("https://github.com/acme/idp/actions/runs/42".into()),
                commit: Some("abc123".into()),
                host: None,
            },
        }
    }

    pub fn sales() -> GroupRef {
        GroupRef {
            idp: "sales".into(),
            id: GroupId("g-sales-0001".into()),
            name: "Sales EMEA".into(),
        }
    }

    pub fn support() -> GroupRef {
        GroupRef {
            idp: "support".into(),
            id: GroupId("g-support-02".into()),
            name: "Support".into(),
        }
    }

    pub fn user(id: &str, label: &str) -> UserRef {
        UserRef {
            id: UserId(id.into()),
            key: Some(crate::model::IdpKey::from(format!("{label}@example.com"))),
            label: label.into(),
        }
    }

    pub fn change(group: GroupRef, user: UserRef, op: Op, approval: &Approval) -> Event {
        let reason = match op {
            Op::Add => ChangeReason::Granted,
            Op::Remove => ChangeReason::Revoked,
        };
        Event::Change(Box::new(Change {
            group,
            user,
            op,
            reason,
            approval: approval.clone(),
            state: StateRef {
                lineage: Some(Lineage("c0a8-lineage".into())),
                serial: 3,
            },
            correlation_id: Some("corr-7e1f".into()),
            settled: None,
        }))
    }

    fn outcome(group: GroupRef, approval: &Approval) -> Event {
        Event::Outcome(Box::new(GroupOutcome {
            group,
            outcome: OutcomeKind::Applied,
            added: 2,
            removed: 0,
            detail: None,
            approval: approval.clone(),
            state: StateRef {
                lineage: None,
                serial: 3,
            },
        }))
    }

    /// Two runs: plan A adds alice and bob to sales and carol to support; plan B (a
    /// re-plan of A) removes bob from sales a day later, approved by someone else.
    pub fn journal() -> Vec<String> {
        let a = approval(PLAN_A, None, "maria");
        let b = approval(PLAN_B, Some(PLAN_A), "li.wei");
        let started = |approval: &Approval| {
            Event::RunStarted(Box::new(RunStarted {
                approval: approval.clone(),
                tool_version: "0.1.0".into(),
                groups: 0,
                changes: 0,
                intents: Vec::new(),
            }))
        };
        let t1 = at("2026-12-01T09:00:00Z");
        let run1 = vec![
            (t1, started(&a)),
            (t1, change(sales(), user("u-alice", "alice"), Op::Add, &a)),
            (t1, change(sales(), user("u-bob", "bob"), Op::Add, &a)),
            (t1, change(support(), user("u-carol", "carol"), Op::Add, &a)),
            (t1, outcome(sales(), &a)),
            (t1, Event::RunEnded { exit_code: 0 }),
        ];
        let run = |id: &str| RunRef {
            id: id.into(),
            started_seq: 0,
        };
        let (mut lines, last) = seal(&run1, &run("run-1"), &JournalLink::start());
        let t2 = at("2026-12-02T10:30:00Z");
        let run2 = vec![
            (t2, started(&b)),
            (t2, change(sales(), user("u-bob", "bob"), Op::Remove, &b)),
            (t2, Event::RunEnded { exit_code: 0 }),
        ];
        let (more, last) = seal(&run2, &run("run-2"), &last);
        lines.extend(more);
        // A third run settles a change of a run killed before journaling it (dave, added to
        // support under plan B), and prunes.
        let t3 = at("2026-12-03T08:00:00Z");
        let mut settled = change(support(), user("u-dave", "dave"), Op::Add, &b);
        if let Event::Change(c) = &mut settled {
            c.correlation_id = None;
            c.settled = Some(crate::journal::Settled {
                made_by_run: "run-killed".into(),
                found_at: t3,
                found_by_run: Some("run-3".into()),
            });
        }
        let mut interrupted = outcome(support(), &b);
        if let Event::Outcome(o) = &mut interrupted {
            o.outcome = OutcomeKind::Interrupted;
            o.added = 1;
            o.detail = Some("run run-killed was stopped before it journaled this group".into());
        }
        let run3 = vec![
            (t3, started(&b)),
            (t3, settled),
            (t3, interrupted),
            (
                t3,
                Event::Pruned {
                    before: at("2026-01-01T00:00:00Z"),
                    through_seq: 0,
                    records: 0,
                },
            ),
            (t3, Event::RunEnded { exit_code: 0 }),
        ];
        lines.extend(seal(&run3, &run("run-3"), &last).0);
        lines
    }

    fn seqs(q: &Query) -> Vec<u64> {
        let lines = journal();
        let entries = parse(&lines, "j").unwrap();
        q.select(&entries).iter().map(|e| e.record.seq).collect()
    }

    #[test]
    fn by_default_only_changes() {
        assert_eq!(seqs(&Query::default()), [2, 3, 4, 8, 11]);
        let all = Query {
            kinds: Kinds::All,
            ..Query::default()
        };
        assert_eq!(seqs(&all), (1..=14).collect::<Vec<_>>());
    }

    #[test]
    fn group_matches_name_id_or_display_name_in_any_case() {
        for name in ["sales", "SALES", "g-sales-0001", "sales emea"] {
            let q = Query {
                groups: vec![name.into()],
                ..Query::default()
            };
            assert_eq!(seqs(&q), [2, 3, 8], "{name}");
        }
        let q = Query {
            groups: vec!["support".into(), "nope".into()],
            kinds: Kinds::All,
            ..Query::default()
        };
        // Run records name no group: left out.
        assert_eq!(seqs(&q), [4, 11, 12]);
    }

    #[test]
    fn user_matches_id_key_or_label() {
        for who in ["u-bob", "BOB", "bob@example.com"] {
            let q = Query {
                users: vec![who.into()],
                kinds: Kinds::All,
                ..Query::default()
            };
            assert_eq!(seqs(&q), [3, 8], "{who}");
        }
    }

    #[test]
    fn since_and_plan() {
        let q = Query {
            since: Some(at("2026-12-02T00:00:00Z")),
            ..Query::default()
        };
        assert_eq!(seqs(&q), [8, 11]);
        // Plan A: its own records, and those of the plan that re-planned it.
        let q = Query {
            plan: Some(PLAN_A[..8].parse().unwrap()),
            kinds: Kinds::All,
            ..Query::default()
        };
        assert_eq!(seqs(&q), [1, 2, 3, 4, 5, 7, 8, 10, 11, 12]);
        let q = Query {
            plan: Some(PLAN_B.to_uppercase().parse().unwrap()),
            ..Query::default()
        };
        assert_eq!(seqs(&q), [8, 11]);
    }

    #[test]
    fn an_unparsable_line_is_named() {
        let mut lines = journal();
        lines[2] = "{\"seq\": 3, oops".into();
        let e = parse(&lines, "state.journal.jsonl").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("journal state.journal.jsonl, line 3: not a journal record"),
            "{e}"
        );
    }
}
