//! A declarative TOML file of desired members, kept in the repository so that the pull
//! request itself is the approval:
//!
//! ```toml
//! [groups.sales]
//! members = ["alice@example.com", "bob@example.com"]
//! ```
//!
//! In `full` mode a group's list is its desired membership; in `delta` mode it is read as
//! additions only (nothing is ever removed). It has no cursor.

use crate::model::IdpKey;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::read::{MAX_USERS_PER_ANSWER, SourceError, SourceRead};
use crate::model::Answer;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    #[serde(default)]
    groups: BTreeMap<String, FileGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    members: Vec<String>,
}

/// The file source, read once.
#[derive(Debug)]
pub struct FileSource {
    path: String,
    groups: BTreeMap<String, BTreeSet<IdpKey>>,
}

impl FileSource {
    /// Read and parse `path`.
    pub fn load(path: &Path) -> Result<Self, SourceError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SourceError::File {
            path: shown.clone(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, &shown)
    }

    /// Parse file text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, SourceError> {
        let body: FileBody = toml::from_str(text).map_err(|e| SourceError::File {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let mut groups = BTreeMap::new();
        for (name, group) in body.groups {
            if let Some(bad) = group.members.iter().find(|m| m.trim().is_empty()) {
                return Err(SourceError::File {
                    path: path.to_owned(),
                    message: format!("groups.{name}.members holds an empty entry {bad:?}"),
                });
            }
            if group.members.len() > MAX_USERS_PER_ANSWER {
                return Err(SourceError::TooLarge {
                    group: name,
                    count: group.members.len(),
                });
            }
            groups.insert(name, group.members.into_iter().map(IdpKey).collect());
        }
        Ok(Self {
            path: path.to_owned(),
            groups,
        })
    }
}

impl FileSource {
    /// Group `group`'s members as listed in the file.
    pub fn read(&self, group: &str) -> Result<SourceRead, SourceError> {
        match self.groups.get(group) {
            None => Err(SourceError::FileGroupMissing {
                path: self.path.clone(),
                group: group.to_owned(),
            }),
            Some(members) => Ok(SourceRead {
                answer: Answer::Full {
                    members: members.clone(),
                },
                cursor_to: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_groups_as_whole_listings() {
        let f = FileSource::parse("[groups.sales]\nmembers = [\"a\", \"b\"]\n", "m.toml").unwrap();
        let read = f.read("sales").unwrap();
        assert!(matches!(read.answer, Answer::Full { ref members } if members.len() == 2));
        assert_eq!(read.cursor_to, None);
        let e = f.read("ops").unwrap_err().to_string();
        assert!(e.contains("[groups.ops]"), "{e}");
        let e = FileSource::parse("[groups.x]\nmember = []\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.toml") && e.contains("member"), "{e}");
    }
}
