//! The state file: per-group IdP cursors, advanced only after a group's changes are applied,
//! and a lock so that two applies cannot share it.
//!
//! ```json
//! {"format_version": 1, "groups": {"sales": {"cursor": "c15", "etag": "\"43\"",
//!   "applied_at": "2026-11-29T03:00:00Z", "plan_sha256": "…"}}}
//! ```
//!
//! Keys are the config's group names. The file is written atomically (temp file + rename) and
//! owner-only. A missing file is an empty state: every group starts from a full read.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::model::{Cursor, ETag};

/// The state file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A state file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Unreadable.
    #[error("cannot read state file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not a state file.
    #[error(
        "state file {path} is not a scimsync state file ({message}); restore it from a backup, or delete it to start every group again from a full IdP read (delta groups then re-add, never remove)"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// Written by a newer scimsync.
    #[error(
        "state file {path} has format_version {found}; this scimsync reads {FORMAT_VERSION}: upgrade scimsync"
    )]
    Newer {
        /// The file.
        path: String,
        /// The version found.
        found: u32,
    },
    /// Could not be written.
    #[error("cannot write state file {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another apply holds the lock.
    #[error(
        "another scimsync apply is using state file {path} (lock {lock} is held); wait for it to finish"
    )]
    Locked {
        /// The state file.
        path: String,
        /// The lock file.
        lock: String,
    },
}

/// What is known of one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRecord {
    /// The IdP cursor to read changes from next time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    /// The group's ETag after the last apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<ETag>,
    /// When the last apply finished this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    /// The sha256 of the plan last applied to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_sha256: Option<String>,
}

/// The state file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Always [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// Per group (config name).
    #[serde(default)]
    pub groups: BTreeMap<String, GroupRecord>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            format_version: FORMAT_VERSION,
            groups: BTreeMap::new(),
        }
    }
}

impl State {
    /// Read the state at `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Self, StateError> {
        let shown = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(StateError::Read {
                    path: shown,
                    source,
                });
            }
        };
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let corrupt = |e: serde_json::Error| StateError::Corrupt {
            path: shown.clone(),
            message: e.to_string(),
        };
        let version: Version = serde_json::from_slice(&bytes).map_err(corrupt)?;
        if version.format_version > FORMAT_VERSION {
            return Err(StateError::Newer {
                path: shown,
                found: version.format_version,
            });
        }
        serde_json::from_slice(&bytes).map_err(corrupt)
    }

    /// Write the state to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("state serialises");
        bytes.push(b'\n');
        atomic_file::write(path, &bytes).map_err(|source| StateError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// The cursor of group `name`, if it has one.
    pub fn cursor(&self, name: &str) -> Option<&Cursor> {
        self.groups.get(name).and_then(|g| g.cursor.as_ref())
    }
}

/// An exclusive lock on a state file, released when dropped or when the process dies
/// (an OS file lock on `<state>.lock`, so a killed apply leaves no stale lock behind).
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
                lock: path.display().to_string(),
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
    fn missing_is_empty_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut s = State::load(&path).unwrap();
        assert!(s.groups.is_empty());
        s.groups.insert(
            "sales".into(),
            GroupRecord {
                cursor: Some(Cursor("c3".into())),
                ..GroupRecord::default()
            },
        );
        s.save(&path).unwrap();
        let back = State::load(&path).unwrap();
        assert_eq!(back.cursor("sales").unwrap().as_str(), "c3");
    }

    #[test]
    fn corrupt_and_newer_files_are_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            b"{\"format_version\": 1, \"groups\": {\"a\": {\"cursor\": ",
        )
        .unwrap();
        let e = State::load(&path).unwrap_err().to_string();
        assert!(e.contains("s.json") && e.contains("delete it"), "{e}");
        std::fs::write(&path, b"{\"format_version\": 9}").unwrap();
        assert!(
            State::load(&path)
                .unwrap_err()
                .to_string()
                .contains("upgrade")
        );
    }

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
