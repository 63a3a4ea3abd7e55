//! Where the state lives. One small interface over the places a team keeps it:
//!
//! - [`Store::File`]: a local file (the default; atomic rename, owner-only, `<path>.lock`
//!   held by apply).
//! - [`Store::Object`]: an object in S3 (or an S3-compatible store), Google Cloud Storage or
//!   Azure Blob Storage (see [`super::object`]), with a lock object beside it.
//!
//! Every store reads the whole state with the [`Version`] it was read at, and writes it back
//! conditionally on that version (compare-and-swap), so that a write never silently replaces
//! another run's. A local file is guarded by the apply lock instead, and has no version.
//! Which store a URL or path names is [`Store::parse`].

use std::path::{Path, PathBuf};

use url::Url;

use super::object::{ObjectState, UrlError, Version};
use super::{State, StateError, StateLock};

/// A state as read, with what a conditional write of it must expect.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The state (empty when there was none).
    pub state: State,
    /// What it was read at.
    pub version: Option<Version>,
}

/// A held apply lock. Call [`StoreLock::release`] on every exit path: a lock object in
/// object storage is not removed by dropping (a file's OS lock is).
#[derive(Debug)]
pub enum StoreLock {
    /// The OS lock of a local file.
    File(StateLock),
    /// The lock object of a state in object storage.
    Object(ObjectState),
}

impl StoreLock {
    /// Release the lock: drop a file's OS lock, delete a lock object. A lock object that
    /// cannot be deleted is logged with what to do, not turned into an error: the work
    /// under the lock is done by now.
    pub async fn release(self) {
        match self {
            Self::File(lock) => drop(lock),
            Self::Object(object) => {
                if let Err(e) = object.unlock().await {
                    tracing::error!(
                        "the apply lock of state {} could not be released ({e}); remove it with `scimsync state unlock --force` before the next apply",
                        object.url()
                    );
                }
            }
        }
    }
}

/// State writes made by this process, for the benchmark (group commit keeps an apply's
/// writes to a few a second, whatever its number of groups).
static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many times this process has written a state (any store).
pub fn writes() -> usize {
    WRITES.load(std::sync::atomic::Ordering::Relaxed)
}

/// A place where the state is kept.
#[derive(Debug, Clone)]
pub enum Store {
    /// A local file.
    File(PathBuf),
    /// An object in S3, Google Cloud Storage or Azure Blob Storage.
    Object(ObjectState),
}

impl Store {
    /// The store `text` names: a URL (`s3://bucket/key`, `gs://…`, `az://…`,
    /// `file:///path`), or else a path, relative to `dir`. Object stores take their
    /// settings and credentials from the environment.
    pub fn parse(text: &str, dir: &Path) -> Result<Self, UrlError> {
        Self::parse_in(text, dir, &std::env::vars().collect::<Vec<_>>())
    }

    /// [`Store::parse`] with the environment `env` (name, value) instead of the process's.
    pub fn parse_in(text: &str, dir: &Path, env: &[(String, String)]) -> Result<Self, UrlError> {
        let text = text.trim();
        if !text.contains("://") {
            return Ok(Self::File(dir.join(text)));
        }
        let url = Url::parse(text).map_err(|e| UrlError::Invalid {
            url: text.to_owned(),
            message: format!(
                "is not a valid URL ({e}): write s3://bucket/key, gs://bucket/key, az://container/key or file:///path"
            ),
        })?;
        if url.scheme() == "file" {
            return url
                .to_file_path()
                .map(Self::File)
                .map_err(|()| UrlError::Invalid {
                    url: text.to_owned(),
                    message: "is not a local file: write file:///absolute/path".into(),
                });
        }
        Ok(Self::Object(ObjectState::from_url_in(&url, env)?))
    }

    /// The journal kept beside this state.
    pub fn journal(&self) -> super::journal_store::JournalStore {
        match self {
            Self::File(path) => super::journal_store::JournalStore::beside_file(path),
            Self::Object(object) => super::journal_store::JournalStore::beside_object(object),
        }
    }

    /// What to call it in messages: the path or URL, never a credential.
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Object(object) => object.url().to_string(),
        }
    }

    /// What kind of store it is, for `validate`: `local file`, `S3`, ….
    pub fn kind(&self) -> &'static str {
        match self {
            Self::File(_) => "local file",
            Self::Object(object) => object.service().name(),
        }
    }

    /// Read the state; a missing one is empty.
    pub async fn load(&self) -> Result<Loaded, StateError> {
        match self {
            Self::File(path) => {
                for warning in writable_by_others(path) {
                    tracing::warn!("{warning}");
                }
                Ok(Loaded {
                    state: State::load_file(path)?,
                    version: None,
                })
            }
            Self::Object(object) => {
                let (state, version) = object.load().await?;
                Ok(Loaded { state, version })
            }
        }
    }

    /// Write `state` if the stored one is still at `expected` (for an object store, `None`
    /// means "if there is none yet"); the new version on success, [`StateError::Conflict`]
    /// when another run wrote in between. Never retried: the caller re-reads.
    pub async fn save(
        &self,
        state: &mut State,
        expected: Option<&Version>,
    ) -> Result<Option<Version>, StateError> {
        self.save_with(|w| state.write_to(w), expected).await
    }

    /// [`Store::save`] of whatever `fill` serializes ([`State::write_to`]), streamed straight
    /// into the file, or into the object's payload: the caller need not hold a copy of the
    /// state, only serialize it (under its own lock) when asked.
    pub async fn save_with(
        &self,
        fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
        expected: Option<&Version>,
    ) -> Result<Option<Version>, StateError> {
        WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self {
            Self::File(path) => {
                // The apply lock keeps writers apart; a local file has no version to check.
                let _ = expected;
                crate::atomic_file::write_with(path, fill).map_err(|cause| StateError::Write {
                    path: path.display().to_string(),
                    cause,
                })?;
                Ok(None)
            }
            Self::Object(object) => {
                let mut bytes = Vec::new();
                fill(&mut bytes).map_err(|cause| StateError::Write {
                    path: object.url().to_string(),
                    cause,
                })?;
                object.save_bytes(bytes, expected).await.map(Some)
            }
        }
    }

    /// Take the apply lock, or fail at once naming who holds it.
    pub async fn lock(&self) -> Result<StoreLock, StateError> {
        match self {
            Self::File(path) => Ok(StoreLock::File(StateLock::acquire(path)?)),
            Self::Object(object) => {
                object.lock().await?;
                Ok(StoreLock::Object(object.clone()))
            }
        }
    }

    /// Who holds the apply lock now, if anyone.
    pub async fn holder(&self) -> Result<Option<String>, StateError> {
        match self {
            Self::File(path) => match StateLock::acquire(path) {
                Ok(_free) => Ok(None),
                Err(StateError::Locked { holder, .. }) => Ok(Some(holder)),
                Err(e) => Err(e),
            },
            Self::Object(object) => Ok(object.holder().await?.map(|h| h.to_string())),
        }
    }

    /// Remove a lock whose holder died. A local file's lock is the OS's: it goes with its
    /// process, and cannot be removed here.
    pub async fn unlock(&self) -> Result<(), StateError> {
        match self {
            Self::File(path) => Err(StateError::Unlock {
                path: path.display().to_string(),
                reason: "a local state file's lock is an OS lock held by a running process and released when it exits; stop that scimsync process instead".into(),
            }),
            Self::Object(object) => object.unlock().await,
        }
    }

    /// Copy the state here to `dest` (`state push` / `state pull`), under `dest`'s apply
    /// lock and conditional on the version of `dest` read, refusing to replace another
    /// lineage or a state with newer groups ([`State::must_not_replace`]), with the journal
    /// beside it ([`JournalStore::catch_up`](super::journal_store::JournalStore::catch_up)).
    /// The state copied, on success.
    pub async fn copy_to(&self, dest: &Store) -> Result<State, StateError> {
        let mut state = self.load().await?.state;
        if state.lineage.is_none() && state.groups.is_empty() {
            return Err(StateError::Diverged {
                from: self.describe(),
                to: dest.describe(),
                reason: "there is nothing to copy: that state was never written".into(),
            });
        }
        let lock = dest.lock().await?;
        let copied = async {
            let found = dest.load().await?;
            if let Some(reason) = state.must_not_replace(&found.state) {
                return Err(StateError::Diverged {
                    from: self.describe(),
                    to: dest.describe(),
                    reason,
                });
            }
            // The journal goes with it: the state names its head, and a state whose journal
            // is missing is one apply refuses to append to.
            let journal = dest.journal().catch_up(&self.journal()).await?;
            if journal > 0 {
                tracing::info!("copied {journal} journal record(s) with the state");
            }
            dest.save(&mut state, found.version.as_ref()).await?;
            Ok(state)
        }
        .await;
        lock.release().await;
        copied
    }

    /// Check that the store is reachable and writable, by a conditional write of a probe
    /// beside the state, then its removal.
    pub async fn probe(&self) -> Result<(), StateError> {
        match self {
            Self::File(path) => {
                let mut probe = path.as_os_str().to_owned();
                probe.push(format!(".probe-{}", std::process::id()));
                let probe = PathBuf::from(probe);
                let write = |cause| StateError::Write {
                    path: probe.display().to_string(),
                    cause,
                };
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&probe)
                    .map_err(write)?;
                std::fs::remove_file(&probe).map_err(write)
            }
            Self::Object(object) => object.probe().await,
        }
    }
}

/// Warnings for a local state that other users of the machine could rewrite: the file, or a
/// folder it is in that is writable by others and not sticky (anyone could rename another
/// state over it). Whoever can write the state decides what scimsync believes was applied.
fn writable_by_others(path: &Path) -> Vec<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut out = Vec::new();
        let mode = |p: &Path| std::fs::metadata(p).ok().map(|m| m.permissions().mode());
        if let Some(m) = mode(path).filter(|m| m & 0o002 != 0) {
            out.push(format!(
                "state file {} is writable by every user of this machine (mode {:o}): run `chmod 600 {}`",
                path.display(),
                m & 0o7777,
                path.display()
            ));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Some(m) = mode(dir).filter(|m| m & 0o002 != 0 && m & 0o1000 == 0) {
            out.push(format!(
                "the folder of state file {} is writable by every user of this machine (mode {:o}): anyone could replace the state; run `chmod o-w {}` or keep the state elsewhere",
                path.display(),
                m & 0o7777,
                dir.display()
            ));
        }
        out
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_file_is_empty_and_a_saved_one_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::File(dir.path().join("s.json"));
        let mut loaded = store.load().await.unwrap();
        assert!(loaded.state.groups.is_empty());
        loaded
            .state
            .groups
            .insert("sales".into(), super::super::GroupRecord::default());
        store.save(&mut loaded.state, None).await.unwrap();
        let back = store.load().await.unwrap();
        assert!(back.state.groups.contains_key("sales"));
        assert!(back.state.lineage.is_some());
    }

    #[test]
    fn paths_and_file_urls_are_files_and_bad_urls_are_named() {
        let dir = Path::new("/etc/scimsync");
        let s = Store::parse("s.json", dir).unwrap();
        assert_eq!(s.describe(), "/etc/scimsync/s.json");
        let s = Store::parse("file:///var/lib/s.json", dir).unwrap();
        assert_eq!(s.describe(), "/var/lib/s.json");
        assert_eq!(s.kind(), "local file");
        let s = Store::parse("s3://bucket/team/s.json", dir).unwrap();
        assert_eq!(
            (s.describe().as_str(), s.kind()),
            ("s3://bucket/team/s.json", "S3")
        );
        let e = Store::parse("s3://", dir).unwrap_err().to_string();
        assert!(e.contains("s3://"), "{e}");
    }
}
