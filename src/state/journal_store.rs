//! Where the journal's lines are kept: in the same store as the state, never rewritten
//! (pruning aside), appended so that two writers never lose each other's records.
//!
//! - Beside a local state `state.json`: `state.journal.jsonl`, JSON Lines, owner-only.
//!   An append takes the file's OS lock (`File::lock`), reads the last line to chain on,
//!   writes its lines in one `write` and syncs them. A last line without its newline (a
//!   machine that lost power mid-write) was never acknowledged: it is cut off before the
//!   next append, with a warning.
//! - Beside a state object `s3://b/scimsync/state.json`: immutable segment objects
//!   `scimsync/state.json.journal/<first seq, 20 digits>.jsonl`. An append creates the
//!   next segment only if absent (`If-None-Match: *`); a writer that
//!   loses the race reads the segment that won, chains after it and tries the next name.
//!   Object stores cannot append; create-only segments are what keeps every writer's
//!   records without a read-modify-write of one object.
//!
//! The store knows lines, sequence numbers and hashes ([`JournalLink`]); what a record says
//! is `crate::journal`'s.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use object_store::path::Path as ObjectPath;

use super::StateError;
use super::object::ObjectState;
use crate::model::{JournalLink, Sha256Hex};

/// How many times an object-store append chains again after losing a race before giving up.
const APPEND_ATTEMPTS: usize = 20;

/// The journal of one state.
#[derive(Debug)]
pub enum JournalStore {
    /// A JSON Lines file beside a local state.
    File {
        /// `<state>.journal.jsonl`.
        path: PathBuf,
        /// The file's length after this process's last append, and the link it ended at:
        /// the next append starts from it without a read, unless the file grew since.
        tail: Mutex<Option<(u64, JournalLink)>>,
    },
    /// Segments beside a state object.
    Object {
        /// The state's object (its store, credentials and messages).
        state: Box<ObjectState>,
        /// `<state key>.journal`.
        prefix: ObjectPath,
        /// The newest segment this process knows of, and the link after it.
        tail: Mutex<Option<(u64, JournalLink)>>,
    },
}

/// What a prune would do ([`JournalStore::prunable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prunable {
    /// The journal's first record now.
    pub first: u64,
    /// The first record it would keep.
    pub keep: u64,
    /// That record's `prev`: the journal's new `first_prev`.
    pub keep_prev: Sha256Hex,
}

/// `state.json` → `state.journal.jsonl`.
///
/// ```
/// use std::path::Path;
/// use scimsync::state::journal_store::file_beside;
/// assert_eq!(file_beside(Path::new("s/state.json")), Path::new("s/state.journal.jsonl"));
/// assert_eq!(file_beside(Path::new("state")), Path::new("state.journal.jsonl"));
/// ```
pub fn file_beside(state: &Path) -> PathBuf {
    let stem = state
        .file_stem()
        .map_or_else(|| "state".into(), |s| s.to_string_lossy().into_owned());
    state.with_file_name(format!("{stem}.journal.jsonl"))
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.jsonl")
}

fn first_seq_of(path: &ObjectPath) -> Option<u64> {
    path.filename()?.strip_suffix(".jsonl")?.parse().ok()
}

impl JournalStore {
    /// The journal beside the local state file `state`.
    pub fn beside_file(state: &Path) -> Self {
        Self::File {
            path: file_beside(state),
            tail: Mutex::new(None),
        }
    }

    /// The journal beside the state object `state`.
    pub fn beside_object(state: &ObjectState) -> Self {
        Self::Object {
            prefix: ObjectPath::from(format!("{}.journal", state.key())),
            state: Box::new(state.clone()),
            tail: Mutex::new(None),
        }
    }

    /// What to call it in messages.
    pub fn describe(&self) -> String {
        match self {
            Self::File { path, .. } => path.display().to_string(),
            Self::Object { state, .. } => format!("{}.journal/", state.url()),
        }
    }

    fn read_failed(&self, cause: std::io::Error) -> StateError {
        StateError::Read {
            path: self.describe(),
            cause,
        }
    }

    fn write_failed(&self, cause: std::io::Error) -> StateError {
        StateError::Write {
            path: self.describe(),
            cause,
        }
    }

    /// Every line, oldest first (a torn last line left out).
    pub async fn lines(&self) -> Result<Vec<String>, StateError> {
        match self {
            Self::File { path, .. } => {
                let text = match std::fs::read_to_string(path) {
                    Ok(text) => text,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(self.read_failed(e)),
                };
                let complete = text.rfind('\n').map_or("", |end| &text[..end]);
                Ok(complete.lines().map(str::to_owned).collect())
            }
            Self::Object { state, .. } => {
                let mut lines = Vec::new();
                for (_, path) in &self.segments().await? {
                    let bytes = state.get_bytes(path).await?.unwrap_or_default();
                    let text = String::from_utf8_lossy(&bytes);
                    lines.extend(text.lines().map(str::to_owned));
                }
                Ok(lines)
            }
        }
    }

    /// The segments, by their first sequence number.
    async fn segments(&self) -> Result<Vec<(u64, ObjectPath)>, StateError> {
        let Self::Object { state, prefix, .. } = self else {
            return Ok(Vec::new());
        };
        let mut segments: Vec<(u64, ObjectPath)> = state
            .list(prefix)
            .await?
            .into_iter()
            .filter_map(|p| first_seq_of(&p).map(|seq| (seq, p)))
            .collect();
        segments.sort();
        Ok(segments)
    }

    /// Append lines made by `seal` from the link they follow (the journal's newest record);
    /// `seal` is called again, after a fresh read, when another writer appended first.
    /// Returns the link of the last line written.
    pub async fn append(
        &self,
        mut seal: impl FnMut(&JournalLink) -> (Vec<String>, JournalLink),
    ) -> Result<JournalLink, StateError> {
        match self {
            Self::File { path, tail } => self.append_file(path, tail, &mut seal),
            Self::Object {
                state,
                prefix,
                tail,
            } => {
                let known = tail
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let mut after = match known {
                    Some((_, link)) => link,
                    None => self.newest().await?,
                };
                for _ in 0..APPEND_ATTEMPTS {
                    let (lines, last) = seal(&after);
                    if lines.is_empty() {
                        return Ok(after);
                    }
                    let first = after.seq + 1;
                    let path = prefix.clone().join(segment_name(first));
                    let mut body = lines.join("\n");
                    body.push('\n');
                    // Taken already: by another writer, or by this very write, made by the
                    // store although its answer was lost and the append is being retried
                    // (sealing is deterministic: the same bytes are this write's).
                    let ours = state.create(&path, body.clone().into_bytes()).await?
                        || state.get_bytes(&path).await?.as_deref() == Some(body.as_bytes());
                    if ours {
                        *tail
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some((first, last.clone()));
                        return Ok(last);
                    }
                    // Another writer took this name: chain after what it wrote.
                    after = self.newest().await?;
                }
                Err(StateError::Store {
                    path: self.describe(),
                    message: format!(
                        "{APPEND_ATTEMPTS} appends in a row lost the race to other writers; nothing of this batch was written: try again"
                    ),
                })
            }
        }
    }

    /// The link of the newest record (before any record: [`JournalLink::start`]).
    pub async fn newest(&self) -> Result<JournalLink, StateError> {
        Ok(self
            .last()
            .await?
            .map_or_else(JournalLink::start, |(link, _)| link))
    }

    /// The newest record's link and line (`None`: no record yet). Reads only the end of
    /// the journal: a file's last line, a bucket's last segment.
    pub async fn last(&self) -> Result<Option<(JournalLink, String)>, StateError> {
        match self {
            Self::File { path, .. } => {
                let Some(mut file) = open_existing(path).map_err(|e| self.read_failed(e))? else {
                    return Ok(None);
                };
                last_line(&mut file)
                    .map_err(|e| self.read_failed(e))
                    .map(|l| l.map(|(_, link, line)| (link, line)))
            }
            Self::Object { state, .. } => {
                let segments = self.segments().await?;
                let Some((_, path)) = segments.last() else {
                    return Ok(None);
                };
                let bytes = state.get_bytes(path).await?.unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                let newest = text.lines().last().unwrap_or_default();
                let link = JournalLink::of_line(newest).ok_or_else(|| StateError::Corrupt {
                    path: format!("{}{}", self.describe(), path),
                    message: "a journal segment without a record".into(),
                })?;
                Ok(Some((link, newest.to_owned())))
            }
        }
    }

    fn append_file(
        &self,
        path: &Path,
        cached: &Mutex<Option<(u64, JournalLink)>>,
        seal: &mut impl FnMut(&JournalLink) -> (Vec<String>, JournalLink),
    ) -> Result<JournalLink, StateError> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| self.write_failed(e))?;
        // Held until the file is closed: two processes never interleave their appends.
        file.lock().map_err(|e| self.write_failed(e))?;
        let len = file.metadata().map_err(|e| self.read_failed(e))?.len();
        let known = cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .filter(|(at, _)| *at == len);
        let after = match known {
            // Nobody wrote since this process's last append: chain on without a read.
            Some((_, link)) => link,
            None => self.tail_of(path, &mut file, len)?,
        };
        let (lines, last) = seal(&after);
        if lines.is_empty() {
            return Ok(after);
        }
        let mut body = lines.join("\n");
        body.push('\n');
        let before = file.metadata().map_err(|e| self.read_failed(e))?.len();
        if let Err(e) = file
            .write_all(body.as_bytes())
            .and_then(|()| file.sync_data())
        {
            // Part of it may be on disk: cut it off, so that the retry of these very
            // records (the buffer keeps them) does not journal them twice.
            let _ = file.set_len(before);
            return Err(self.write_failed(e));
        }
        let len = file.metadata().map_err(|e| self.read_failed(e))?.len();
        *cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((len, last.clone()));
        Ok(last)
    }

    /// The link an append to `file` (of `len` bytes) chains on: its last complete line's.
    /// A last line without its newline was never acknowledged: it is cut off, with a warning.
    fn tail_of(
        &self,
        path: &Path,
        file: &mut std::fs::File,
        len: u64,
    ) -> Result<JournalLink, StateError> {
        let tail = last_line(file).map_err(|e| self.read_failed(e))?;
        let (end, link) = match tail {
            Some((end, link, _)) => (end, link),
            None => (0, JournalLink::start()),
        };
        if len > end {
            tracing::warn!(
                "journal {}: its last {} bytes were a record cut off mid-write (the machine stopped while writing it); removed before this append",
                path.display(),
                len - end
            );
            file.set_len(end).map_err(|e| self.write_failed(e))?;
        }
        Ok(link)
    }

    /// Bring this journal up to `source`'s (`state push` / `pull`): copy the records it
    /// lacks, when it is empty or a start of `source`'s chain (its newest record is one of
    /// `source`'s); anything else is another history, refused. Returns the records copied.
    pub async fn catch_up(&self, source: &Self) -> Result<usize, StateError> {
        let lines = source.lines().await?;
        let chain: Vec<JournalLink> = lines
            .iter()
            .filter_map(|l| JournalLink::of_line(l))
            .collect();
        let newest = self.newest().await?;
        let from = if newest.seq == 0 {
            0
        } else if let Some(at) = chain.iter().position(|l| *l == newest) {
            at + 1
        } else {
            return Err(StateError::Diverged {
                from: source.describe(),
                to: self.describe(),
                reason: format!(
                    "the journal there has record {} ({}), which is not in this one: it holds another history; check both with `scimsync log verify`",
                    newest.seq,
                    newest.sha256.short()
                ),
            });
        };
        let rest = &lines[from..];
        let Some(last) = chain.last().cloned() else {
            return Ok(0);
        };
        if rest.is_empty() {
            return Ok(0);
        }
        let first = chain[from].seq;
        if newest.seq == 0 && first > 1 {
            // A pruned journal: its records keep their numbers.
            self.import(rest, first).await?;
        } else {
            self.append(|_| (rest.to_vec(), last.clone())).await?;
        }
        Ok(rest.len())
    }

    /// Write `lines` (records `first` and after) into this empty journal.
    async fn import(&self, lines: &[String], first: u64) -> Result<(), StateError> {
        let mut body = lines.join("\n");
        body.push('\n');
        match self {
            Self::File { path, tail } => {
                *tail
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                crate::atomic_file::write_with(path, |w| w.write_all(body.as_bytes()))
                    .map_err(|e| self.write_failed(e))
            }
            Self::Object {
                state,
                prefix,
                tail,
            } => {
                *tail
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                let path = prefix.clone().join(segment_name(first));
                if state.create(&path, body.into_bytes()).await? {
                    Ok(())
                } else {
                    Err(StateError::Conflict {
                        path: self.describe(),
                    })
                }
            }
        }
    }

    /// What a prune of the records written before `before` (and numbered below `below`)
    /// would do; `None` when it would remove nothing. Only a prefix goes, so the rest stays
    /// one chain; in object storage only whole segments go. Reads the journal's first record
    /// and, only when it is old, the records it would remove and the one after.
    pub async fn prunable(
        &self,
        before: jiff::Timestamp,
        below: u64,
    ) -> Result<Option<Prunable>, StateError> {
        #[derive(serde::Deserialize)]
        struct Stamp {
            seq: u64,
            time: jiff::Timestamp,
        }
        let old = |line: &str| {
            serde_json::from_str::<Stamp>(line)
                .ok()
                .filter(|s| s.time < before && s.seq < below)
                .map(|s| s.seq)
        };
        let kept = |line: &str, first: u64| {
            JournalLink::of_line(line)
                .zip(JournalLink::prev_of_line(line))
                .map(|(link, prev)| Prunable {
                    first,
                    keep: link.seq,
                    keep_prev: prev,
                })
        };
        match self {
            Self::File { path, .. } => {
                let Some(file) = open_existing(path).map_err(|e| self.read_failed(e))? else {
                    return Ok(None);
                };
                let mut head = String::new();
                std::io::BufRead::read_line(&mut std::io::BufReader::new(file), &mut head)
                    .map_err(|e| self.read_failed(e))?;
                let Some(first) = old(head.trim_end()) else {
                    return Ok(None);
                };
                let lines = self.lines().await?;
                Ok(lines
                    .iter()
                    .find(|l| old(l).is_none())
                    .and_then(|l| kept(l, first)))
            }
            Self::Object { state, .. } => {
                let segments = self.segments().await?;
                let Some((first, _)) = segments.first() else {
                    return Ok(None);
                };
                for (start, path) in &segments {
                    let bytes = state.get_bytes(path).await?.unwrap_or_default();
                    let text = String::from_utf8_lossy(&bytes);
                    if text.lines().last().and_then(old).is_none() {
                        return Ok((start > first)
                            .then(|| text.lines().next().and_then(|l| kept(l, *first)))
                            .flatten());
                    }
                }
                Ok(None)
            }
        }
    }

    /// Remove the records before `keep_from` (a prefix; in object storage, the whole
    /// segments before the one that holds it).
    pub async fn prune(&self, keep_from: u64) -> Result<(), StateError> {
        match self {
            Self::File { path, tail } => {
                let lines = self.lines().await?;
                let keep: Vec<&String> = lines
                    .iter()
                    .filter(|l| JournalLink::of_line(l).is_some_and(|link| link.seq >= keep_from))
                    .collect();
                if keep.len() == lines.len() {
                    return Ok(());
                }
                // The file is replaced: what this process knew of its end is no more.
                *tail
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                crate::atomic_file::write_with(path, |w| {
                    for line in &keep {
                        w.write_all(line.as_bytes())?;
                        w.write_all(b"\n")?;
                    }
                    Ok(())
                })
                .map_err(|e| self.write_failed(e))
            }
            Self::Object { state, .. } => {
                let segments = self.segments().await?;
                // A segment is removed only when the next one starts at or before keep_from.
                let keep_at = segments
                    .iter()
                    .rposition(|(s, _)| *s <= keep_from)
                    .unwrap_or(0);
                for (_, path) in &segments[..keep_at] {
                    state.delete(path).await?;
                }
                Ok(())
            }
        }
    }
}

fn open_existing(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    match std::fs::File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The last complete line of `file`: where it ends (after its newline), its link and its
/// text. Read backwards in blocks until the newline before it, so an append costs the size
/// of the last record, not of the journal.
fn last_line(file: &mut std::fs::File) -> std::io::Result<Option<(u64, JournalLink, String)>> {
    const BLOCK: usize = 64 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    let mut block = vec![0; BLOCK];
    // The newline that ends the last complete line, then the one before it.
    let (mut end, mut begin) = (None::<u64>, None::<u64>);
    let mut pos = len;
    while pos > 0 && begin.is_none() {
        let start = pos.saturating_sub(BLOCK as u64);
        let n = usize::try_from(pos - start).unwrap_or(0);
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..n])?;
        for i in (0..n).rev() {
            if block[i] == b'\n' {
                let at = start + i as u64;
                if end.is_none() {
                    end = Some(at);
                } else {
                    begin = Some(at + 1);
                    break;
                }
            }
        }
        pos = start;
    }
    let Some(end) = end else {
        return Ok(None);
    };
    let begin = begin.unwrap_or(0);
    let mut line = vec![0; usize::try_from(end - begin).unwrap_or(0)];
    file.seek(SeekFrom::Start(begin))?;
    file.read_exact(&mut line)?;
    let text = String::from_utf8_lossy(&line).into_owned();
    let found = JournalLink::of_line(&text).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "its last line is not a journal record: check it with `scimsync log verify`",
        )
    })?;
    Ok(Some((end + 1, found, text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, pad: usize) -> String {
        format!(r#"{{"seq":{seq},"pad":"{}"}}"#, "x".repeat(pad))
    }

    /// The last line is found across blocks (a line longer than a block, and one ending
    /// exactly at a block's edge), and a torn tail is not taken for a record.
    #[test]
    fn the_last_line_is_read_backwards_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        for (lines, torn) in [
            (vec![line(1, 10), line(2, 200_000)], ""),
            (vec![line(1, 70_000), line(2, 10)], "{\"seq\":3,\"pa"),
            (vec![line(7, 65_536 - 20)], ""),
        ] {
            let text = format!("{}\n{torn}", lines.join("\n"));
            std::fs::write(&path, &text).unwrap();
            let mut file = std::fs::File::open(&path).unwrap();
            let (end, link, got) = last_line(&mut file).unwrap().unwrap();
            assert_eq!(&got, lines.last().unwrap());
            assert_eq!(end, (text.len() - torn.len()) as u64);
            assert_eq!(link, JournalLink::of_line(&got).unwrap());
        }
        std::fs::write(&path, "no newline yet").unwrap();
        assert!(
            last_line(&mut std::fs::File::open(&path).unwrap())
                .unwrap()
                .is_none()
        );
    }

    /// An append after another process's chains on that process's record, not on this
    /// process's memory of the end.
    #[tokio::test]
    async fn an_append_after_another_writer_chains_on_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let (ours, theirs) = (
            JournalStore::beside_file(&state),
            JournalStore::beside_file(&state),
        );
        let one = |n: &str| {
            let n = n.to_owned();
            move |after: &JournalLink| {
                let text = format!(r#"{{"seq":{},"by":"{n}"}}"#, after.seq + 1);
                let link = JournalLink::of_line(&text).unwrap();
                (vec![text], link)
            }
        };
        ours.append(one("a")).await.unwrap();
        theirs.append(one("b")).await.unwrap();
        let last = ours.append(one("a")).await.unwrap();
        assert_eq!(last.seq, 3);
        let lines = ours.lines().await.unwrap();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].contains("\"by\":\"b\""));
    }

    /// `state push` / `pull` bring a journal up to its source's: an empty one gets all of it
    /// (a pruned one keeps its numbers), a start of the same chain gets the rest, another
    /// history is refused.
    #[tokio::test]
    async fn catch_up_copies_what_is_missing_and_refuses_another_history() {
        let dir = tempfile::tempdir().unwrap();
        let journal = |name: &str| JournalStore::beside_file(&dir.path().join(name));
        let one = |by: &'static str| {
            move |after: &JournalLink| {
                let text = format!(r#"{{"seq":{},"by":"{by}"}}"#, after.seq + 1);
                let link = JournalLink::of_line(&text).unwrap();
                (vec![text], link)
            }
        };
        let source = journal("source.json");
        source.append(one("a")).await.unwrap();
        source.append(one("a")).await.unwrap();
        let copy = journal("copy.json");
        assert_eq!(copy.catch_up(&source).await.unwrap(), 2);
        assert_eq!(copy.catch_up(&source).await.unwrap(), 0, "nothing new");
        source.append(one("a")).await.unwrap();
        assert_eq!(copy.catch_up(&source).await.unwrap(), 1, "the rest");
        assert_eq!(copy.lines().await.unwrap(), source.lines().await.unwrap());
        let other = journal("other.json");
        other.append(one("b")).await.unwrap();
        let refused = other.catch_up(&source).await.unwrap_err();
        assert!(refused.to_string().contains("another history"), "{refused}");
        // A pruned source: its records keep their numbers.
        source.prune(2).await.unwrap();
        let fresh = journal("fresh.json");
        assert_eq!(fresh.catch_up(&source).await.unwrap(), 2);
        assert_eq!(fresh.newest().await.unwrap().seq, 3);
        assert_eq!(fresh.lines().await.unwrap(), source.lines().await.unwrap());
    }
}
