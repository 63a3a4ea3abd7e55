//! The hash chain: each record's `prev` is the sha256 of the line before it, its `seq` one
//! more than that line's; the state keeps the chain's ends ([`JournalHead`]).
//!
//! What that catches, in a journal checked against the state that wrote it:
//! - an edited record: the next record's `prev` no longer matches (or, for the newest record
//!   the state knows of, the state's `last_sha256`);
//! - a removed record: a gap in `seq`, and a `prev` that does not match;
//! - a truncated journal: it ends before the state's `last_seq`;
//! - records removed from the start: it starts after the state's `first_seq` (a prune
//!   records its new start in the state before it removes anything, so a journal may start
//!   before `first_seq`, never after it, and no record in the journal can vouch for a later
//!   start).
//!
//! Records after the state's `last_seq` are allowed, and counted: a run writes its records
//! before the state that names them, and one killed in between leaves such records (the next
//! apply settles that run and moves the state's head past them). What the chain cannot catch
//! is an edit of both the journal and the state by someone who can write both: for that,
//! export the journal as it is written (`scimsync log --format ocsf|ecs`) to a store the
//! operators of scimsync cannot rewrite (a SIEM).

use jiff::Timestamp;

use super::{Event, Record, RunRef, SCHEMA_VERSION};
use crate::model::JournalLink;
use crate::model::{JournalHead, Sha256Hex, sha256_hex};

/// The all-zero hash: `prev` of record 1.
pub fn genesis() -> Sha256Hex {
    JournalLink::start().sha256
}

/// New records, chained after `after` and serialized: one JSON line each (no newline).
///
/// `run.started_seq` of a record whose event is [`Event::RunStarted`] is set to its own
/// sequence number, and every later record of the same run in `events` gets it too; the
/// others keep `run` as given.
///
/// # Panics
///
/// Never: a record always serializes.
pub fn seal(
    events: &[(Timestamp, Event)],
    run: &RunRef,
    after: &JournalLink,
) -> (Vec<String>, JournalLink) {
    /// [`Record`], borrowed: sealing serializes the events where they are, without a copy
    /// (a first apply of a million memberships journals a hundred MB of them).
    #[derive(serde::Serialize)]
    struct Sealed<'e> {
        v: u32,
        seq: u64,
        prev: &'e Sha256Hex,
        time: &'e Timestamp,
        run: &'e RunRef,
        #[serde(flatten)]
        event: &'e Event,
    }
    let mut link = after.clone();
    let mut run = run.clone();
    let mut out = Vec::with_capacity(events.len());
    for (time, event) in events {
        let seq = link.seq + 1;
        if matches!(event, Event::RunStarted(_)) {
            run.started_seq = seq;
        }
        let record = Sealed {
            v: SCHEMA_VERSION,
            seq,
            prev: &link.sha256,
            time,
            run: &run,
            event,
        };
        let json = serde_json::to_string(&record).expect("a journal record serializes");
        link = JournalLink {
            seq,
            sha256: sha256_hex(json.as_bytes()),
        };
        out.push(json);
    }
    (out, link)
}

/// A journal that ends before the newest record the state knows of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "ends at record {ends}, but the state knows of record {knows}: it was cut short or replaced by an older copy"
)]
pub struct CutShort {
    /// The journal's newest record.
    pub ends: u64,
    /// The newest record the state knows of.
    pub knows: u64,
}

/// Whether a journal whose newest record is `ends` holds every record `head` knows of: what
/// `log verify`, `validate` and apply (before it appends) all hold a journal to.
pub fn cut_short(ends: u64, head: Option<&JournalHead>) -> Result<(), CutShort> {
    match head {
        Some(h) if ends < h.last_seq => Err(CutShort {
            ends,
            knows: h.last_seq,
        }),
        _ => Ok(()),
    }
}

/// A journal whose chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Records checked.
    pub records: u64,
    /// The first and the last record's links (`None`: an empty journal).
    pub ends: Option<(u64, JournalLink)>,
    /// Records after the newest one the state knows of.
    pub after_head: u64,
    /// The state holds no journal head: the chain was checked on its own, from its first
    /// record, and nothing vouches for its ends.
    pub unanchored: bool,
}

/// Where and why a journal's chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {why}", match .seq { Some(seq) => format!("record {seq} (line {line})"), None => format!("line {line}") })]
pub struct Broken {
    /// The 1-based line of the first bad record (the line after the last one, when the
    /// journal is cut short).
    pub line: usize,
    /// Its `seq`, when it has one.
    pub seq: Option<u64>,
    /// What is wrong.
    pub why: String,
}

/// `line` as a record this scimsync reads; else its `seq` if it has one, and why not.
fn parse(line: &str) -> Result<Record, (Option<u64>, String)> {
    let record: Record = serde_json::from_str(line).map_err(|e| {
        (
            JournalLink::of_line(line).map(|l| l.seq),
            format!("not a journal record ({e})"),
        )
    })?;
    if record.v > SCHEMA_VERSION {
        return Err((
            Some(record.seq),
            format!(
                "schema version {} is newer than this scimsync reads ({SCHEMA_VERSION}): upgrade scimsync",
                record.v
            ),
        ));
    }
    Ok(record)
}

/// Whether the first record may start the journal `head` describes: at its start, or
/// before it (records a prune has yet to remove: the state records a prune's new start
/// before anything is removed), never after it.
fn check_start(record: &Record, head: Option<&JournalHead>) -> Result<(), String> {
    let starts = record.seq;
    match head {
        Some(h) if starts > h.first_seq => Err(format!(
            "the journal starts at record {starts}, but the state says it starts at record {}: records were removed from its start",
            h.first_seq
        )),
        None if starts == 1 && record.prev != genesis() => Err(format!(
            "record 1's prev is {}, not the all-zero hash: the start of the journal was replaced",
            record.prev.short()
        )),
        Some(_) | None => Ok(()),
    }
}

/// Check `lines` (the journal's lines, oldest first, without newlines) against `head`, the
/// ends the state recorded.
pub fn verify<'l>(
    lines: impl IntoIterator<Item = &'l str>,
    head: Option<&JournalHead>,
) -> Result<Verified, Broken> {
    let mut previous: Option<JournalLink> = None;
    let mut first: Option<u64> = None;
    let mut count = 0u64;
    let mut line_no = 0usize;
    let mut saw_head = false;
    let mut after_head = 0u64;
    for line in lines {
        line_no += 1;
        let broken = |seq: Option<u64>, why: String| Broken {
            line: line_no,
            seq,
            why,
        };
        let record = parse(line).map_err(|(seq, why)| broken(seq, why))?;
        let seq = Some(record.seq);
        match &previous {
            None => {
                check_start(&record, head).map_err(|why| broken(seq, why))?;
                first = Some(record.seq);
            }
            Some(p) => {
                if record.seq != p.seq + 1 {
                    let why = format!(
                        "it follows record {}: record {} is missing",
                        p.seq,
                        p.seq + 1
                    );
                    return Err(broken(seq, why));
                }
                if record.prev != p.sha256 {
                    return Err(Broken {
                        line: line_no - 1,
                        seq: Some(p.seq),
                        why: format!(
                            "its line hashes to {}, but the record after it says {}: record {} was edited",
                            p.sha256.short(),
                            record.prev.short(),
                            p.seq
                        ),
                    });
                }
            }
        }
        let link = JournalLink {
            seq: record.seq,
            sha256: sha256_hex(line.as_bytes()),
        };
        if let Some(h) = head {
            if link.seq == h.first_seq && record.prev != h.first_prev {
                return Err(broken(
                    seq,
                    format!(
                        "its prev is {}, but the state says the record before it hashed to {}: the start of the journal was replaced",
                        record.prev.short(),
                        h.first_prev.short()
                    ),
                ));
            }
            if link.seq == h.last_seq {
                if link.sha256 != h.last_sha256 {
                    return Err(broken(
                        seq,
                        format!(
                            "its line hashes to {}, but the state recorded {} for it: it was edited",
                            link.sha256.short(),
                            h.last_sha256.short()
                        ),
                    ));
                }
                saw_head = true;
            } else if link.seq > h.last_seq {
                after_head += 1;
            }
        }
        count += 1;
        previous = Some(link);
    }
    if !saw_head {
        let ends = previous.as_ref().map_or(0, |p| p.seq);
        cut_short(ends, head).map_err(|cut| Broken {
            line: line_no + 1,
            seq: None,
            why: format!("the journal {cut}"),
        })?;
    }
    Ok(Verified {
        records: count,
        ends: first.zip(previous),
        after_head,
        unanchored: head.is_none(),
    })
}

/// What pruning keeps: the number of leading `records` (oldest first) written before
/// `before`, which are removed. Only a prefix is removed, so the rest stays one chain.
pub fn prunable(records: &[Record], before: Timestamp) -> usize {
    records.iter().take_while(|r| r.time < before).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(code: u8) -> (Timestamp, Event) {
        (
            "2026-12-01T00:00:00Z".parse().unwrap(),
            Event::RunEnded { exit_code: code },
        )
    }

    fn run() -> RunRef {
        RunRef {
            id: "r1".into(),
            started_seq: 0,
        }
    }

    fn journal(n: u8) -> (Vec<String>, JournalHead) {
        let (lines, last) = seal(
            &(0..n).map(event).collect::<Vec<_>>(),
            &run(),
            &JournalLink::start(),
        );
        let head = JournalHead {
            first_seq: 1,
            first_prev: genesis(),
            last_seq: last.seq,
            last_sha256: last.sha256,
        };
        (lines, head)
    }

    fn check(lines: &[String], head: &JournalHead) -> Result<Verified, Broken> {
        verify(lines.iter().map(String::as_str), Some(head))
    }

    #[test]
    fn a_sealed_journal_verifies_and_appends_continue_the_chain() {
        let (mut lines, head) = journal(3);
        let verified = check(&lines, &head).unwrap();
        assert_eq!(verified.records, 3);
        let last = JournalLink::of_line(lines.last().unwrap()).unwrap();
        let (more, to) = seal(&[event(9)], &run(), &last);
        lines.extend(more);
        assert_eq!(to.seq, 4);
        // The state still names record 3: record 4 is after its head.
        assert_eq!(check(&lines, &head).unwrap().after_head, 1);
    }

    #[test]
    fn an_edited_record_is_named() {
        let (mut lines, head) = journal(3);
        lines[1] = lines[1].replace("\"exit_code\":1", "\"exit_code\":0");
        let broken = check(&lines, &head).unwrap_err();
        assert_eq!((broken.seq, broken.line), (Some(2), 2), "{broken}");
        assert!(
            broken.to_string().contains("record 2 was edited"),
            "{broken}"
        );
    }

    #[test]
    fn an_edited_last_record_is_caught_by_the_state_head() {
        let (mut lines, head) = journal(3);
        lines[2] = lines[2].replace("\"exit_code\":2", "\"exit_code\":0");
        let broken = check(&lines, &head).unwrap_err();
        assert_eq!(broken.seq, Some(3), "{broken}");
    }

    #[test]
    fn a_removed_record_is_named() {
        let (mut lines, head) = journal(4);
        lines.remove(1);
        let broken = check(&lines, &head).unwrap_err();
        assert_eq!(broken.seq, Some(3), "{broken}");
        assert!(
            broken.to_string().contains("record 2 is missing"),
            "{broken}"
        );
    }

    #[test]
    fn a_truncated_journal_is_caught() {
        let (mut lines, head) = journal(4);
        lines.truncate(2);
        let broken = check(&lines, &head).unwrap_err();
        assert!(broken.to_string().contains("cut short"), "{broken}");
        assert!(check(&[], &head).is_err());
    }

    #[test]
    fn records_removed_from_the_start_are_caught() {
        let (lines, head) = journal(4);
        let broken = check(&lines[1..], &head).unwrap_err();
        assert!(
            broken.to_string().contains("removed from its start"),
            "{broken}"
        );
    }

    /// The state records a prune's new start before anything is removed: a journal that
    /// still holds the records before it (a run stopped in between) verifies; one that
    /// starts after it does not, whatever records follow (a forged `pruned` one included).
    #[test]
    fn a_prune_not_yet_done_verifies_and_a_forged_one_does_not() {
        let (lines, mut head) = journal(4);
        head.first_seq = 3;
        head.first_prev = JournalLink::of_line(&lines[1]).unwrap().sha256;
        assert_eq!(check(&lines, &head).unwrap().records, 4);
        let (lines, head) = journal(4);
        let last = JournalLink::of_line(&lines[3]).unwrap();
        let forged = (
            "2026-12-01T00:00:00Z".parse().unwrap(),
            Event::Pruned {
                before: "2026-12-01T00:00:00Z".parse().unwrap(),
                through_seq: 2,
                records: 2,
            },
        );
        let (more, _) = seal(&[forged], &run(), &last);
        let cut: Vec<String> = lines[2..].iter().cloned().chain(more).collect();
        let broken = check(&cut, &head).unwrap_err();
        assert!(
            broken.to_string().contains("removed from its start"),
            "{broken}"
        );
    }

    #[test]
    fn a_pruned_journal_verifies_from_its_new_start() {
        let (lines, mut head) = journal(4);
        let link = JournalLink::of_line(&lines[1]).unwrap();
        head.first_seq = 3;
        head.first_prev = link.sha256;
        assert_eq!(check(&lines[2..], &head).unwrap().records, 2);
    }
}
