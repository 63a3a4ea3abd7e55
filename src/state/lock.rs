//! The apply lock of a local state file: an OS lock on `<state>.lock`, released when dropped
//! or when the process dies, so a killed apply leaves no stale lock behind.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::StateError;

/// An exclusive lock on a local state file.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Take the lock for the state file at `state_path`, or fail at once if it is held.
    pub fn acquire(state_path: &Path) -> Result<Self, StateError> {
        let mut lock = state_path.as_os_str().to_owned();
        lock.push(".lock");
        let path = PathBuf::from(lock);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StateError::Write {
                path: path.display().to_string(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Locked {
                path: state_path.display().to_string(),
                holder: format!("lock {} is held by a running process", path.display()),
            }),
            Err(std::fs::TryLockError::Error(source)) => Err(StateError::Write {
                path: path.display().to_string(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let lock = StateLock::acquire(&path).unwrap();
        let e = StateLock::acquire(&path).unwrap_err();
        assert!(matches!(e, StateError::Locked { .. }), "{e}");
        drop(lock);
        StateLock::acquire(&path).unwrap();
    }
}
