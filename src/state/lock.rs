//! The apply lock. Of a local state file: an OS lock on `<state>.lock`, released when dropped
//! or when the process dies, so a killed apply leaves no stale lock behind. Of a state in
//! object storage: an object `<key>.lock` holding a [`LockHolder`] (see `object.rs`), which
//! a killed apply leaves behind for `scimsync state unlock` to remove.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::StateError;

/// Who took a lock in object storage, and when: the lock object's JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The host name of the machine.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The CI run, when there is one (`GitHub Actions run 123`, `GitLab CI job 456`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_run: Option<String>,
    /// When the lock was taken.
    pub since: Timestamp,
}

/// CI systems' run-id variables, and how to name them.
const CI_RUN_VARS: &[(&str, &str)] = &[
    ("GITHUB_RUN_ID", "GitHub Actions run"),
    ("CI_JOB_ID", "GitLab CI job"),
    ("BUILD_BUILDID", "Azure Pipelines build"),
    ("BUILDKITE_BUILD_ID", "Buildkite build"),
    ("CIRCLE_WORKFLOW_ID", "CircleCI workflow"),
    ("BUILD_TAG", "Jenkins build"),
];

impl LockHolder {
    /// This process, now.
    pub fn here() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(|| std::env::var("COMPUTERNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "an unknown host".into());
        let ci_run = CI_RUN_VARS.iter().find_map(|(var, what)| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| format!("{what} {}", v.trim()))
        });
        Self {
            host,
            pid: std::process::id(),
            ci_run,
            since: Timestamp::now(),
        }
    }

    /// The lock object's body.
    ///
    /// # Panics
    ///
    /// Never: a lock holder always serializes.
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a lock holder serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Read a lock object's body; one that is not a holder (written by hand, or by another
    /// tool) is shown as unreadable rather than refused, so that it can still be unlocked.
    pub fn from_json(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_else(|_| Self {
            host: "(an unreadable lock object)".into(),
            pid: 0,
            ci_run: None,
            since: Timestamp::UNIX_EPOCH,
        })
    }
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} on host {}", self.pid, self.host)?;
        if let Some(run) = &self.ci_run {
            write!(f, " ({run})")?;
        }
        write!(f, " since {}", self.since)
    }
}

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
            .map_err(|cause| StateError::Write {
                path: path.display().to_string(),
                cause,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Locked {
                path: state_path.display().to_string(),
                holder: format!("lock {} is held by a running process", path.display()),
            }),
            Err(std::fs::TryLockError::Error(cause)) => Err(StateError::Write {
                path: path.display().to_string(),
                cause,
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

    #[test]
    fn a_holder_round_trips_and_names_itself() {
        let h = LockHolder {
            host: "runner-7".into(),
            pid: 4242,
            ci_run: Some("GitHub Actions run 99".into()),
            since: "2026-11-29T03:00:00Z".parse().unwrap(),
        };
        assert_eq!(LockHolder::from_json(&h.to_json()), h);
        assert_eq!(
            h.to_string(),
            "pid 4242 on host runner-7 (GitHub Actions run 99) since 2026-11-29T03:00:00Z"
        );
        assert!(LockHolder::from_json(b"junk").host.contains("unreadable"));
    }
}
