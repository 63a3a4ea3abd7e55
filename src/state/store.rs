//! Where the state lives. One small interface over the places a team keeps it:
//!
//! - [`Store::File`]: a local file (the default; atomic rename, owner-only, `<path>.lock`
//!   held by apply).
//!
//! Every store reads the whole state with the [`Version`] it was read at, and writes it back
//! conditionally on that version (compare-and-swap), so that a write never silently replaces
//! another run's. A local file is guarded by the apply lock instead, and has no version.

use std::path::PathBuf;

use super::{State, StateError, StateLock};

/// The version a state was read at, for a conditional write (an object's ETag or
/// generation). `None` for a local file, and for a state that did not exist yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub String);

/// A state as read, with what a conditional write of it must expect.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The state (empty when there was none).
    pub state: State,
    /// What it was read at.
    pub version: Option<Version>,
}

/// A held apply lock, released when dropped.
#[derive(Debug)]
pub enum StoreLock {
    /// The OS lock of a local file.
    File(StateLock),
}

/// A place where the state is kept.
#[derive(Debug, Clone)]
pub enum Store {
    /// A local file.
    File(PathBuf),
}

impl Store {
    /// What to call it in messages: the path or URL, never a credential.
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
        }
    }

    /// Read the state; a missing one is empty.
    pub async fn load(&self) -> Result<Loaded, StateError> {
        match self {
            Self::File(path) => Ok(Loaded {
                state: State::load_file(path)?,
                version: None,
            }),
        }
    }

    /// Write `state` if the stored one is still at `expected`; the new version on success,
    /// [`StateError::Conflict`] when another run wrote in between.
    pub async fn save(
        &self,
        state: &mut State,
        expected: Option<&Version>,
    ) -> Result<Option<Version>, StateError> {
        match self {
            Self::File(path) => {
                // The apply lock keeps writers apart; a local file has no version to check.
                let _ = expected;
                state.save_file(path)?;
                Ok(None)
            }
        }
    }

    /// Take the apply lock, or fail at once naming who holds it.
    pub async fn lock(&self) -> Result<StoreLock, StateError> {
        match self {
            Self::File(path) => Ok(StoreLock::File(StateLock::acquire(path)?)),
        }
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
}
