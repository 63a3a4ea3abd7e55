//! Small shared types: identifiers, ETags, cursors and member sets.
//!
//! Every identifier is a newtype over `String` so that a group id cannot be passed where a
//! user id is expected. Member sets are `BTreeSet`s: sorted, so that digests and plans are
//! deterministic whatever order a server or an IdP answered in.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

id_type!(
    /// A user's id in Genesys Cloud (the SCIM `id` of a User, the `value` of a member reference).
    UserId
);
id_type!(
    /// A group's id in Genesys Cloud (the SCIM `id` of a Group).
    GroupId
);
id_type!(
    /// An entity tag exactly as the server sent it (`"42"` or `W/"42"`).
    ///
    /// It is opaque: scimsync never parses, normalises or strips it, and sends it back in
    /// `If-Match` byte for byte.
    ETag
);
id_type!(
    /// An identity provider's position in its change feed (the delta endpoint's `idp_etag`).
    Cursor
);

/// The members of one group, sorted.
pub type MemberSet = BTreeSet<UserId>;

/// The digest of a member set: sha256 over each sorted id followed by `\n`, lower-case hex.
///
/// Plans record it as `members_sha256`: a second drift check for servers that send no ETag,
/// and the way to tell whether a PATCH whose response was lost had been applied.
///
/// ```
/// use scimsync::model::{MemberSet, UserId, members_sha256, sha256_hex};
/// let members: MemberSet = ["b", "a"].into_iter().map(UserId::from).collect();
/// assert_eq!(members_sha256(&members), sha256_hex(b"a\nb\n"));
/// ```
pub fn members_sha256(members: &MemberSet) -> String {
    let mut hasher = Sha256::new();
    for member in members {
        hasher.update(member.as_str().as_bytes());
        hasher.update(b"\n");
    }
    hex(&hasher.finalize())
}

/// sha256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes` (sha2 0.11's output does not implement `LowerHex`).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Membership changes for one group: users to add and users to remove.
///
/// The two sets are disjoint when they come from the planner: an add is never a current
/// member and a remove always is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChanges {
    /// Users to add to the group.
    #[serde(deserialize_with = "member_set")]
    pub add: MemberSet,
    /// Users to remove from the group.
    #[serde(deserialize_with = "member_set")]
    pub remove: MemberSet,
}

/// Read a member set as a list first: building a `BTreeSet` from a (sorted) list is one
/// bulk step, where serde's own reading inserts one id at a time.
pub fn member_set<'de, D: serde::Deserializer<'de>>(d: D) -> Result<MemberSet, D::Error> {
    Ok(Vec::<UserId>::deserialize(d)?.into_iter().collect())
}

impl MemberChanges {
    /// True when there is nothing to add and nothing to remove.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// How many member values these changes carry.
    pub fn len(&self) -> usize {
        self.add.len() + self.remove.len()
    }

    /// `base` with these changes applied.
    pub fn applied_to(&self, base: &MemberSet) -> MemberSet {
        base.iter()
            .filter(|m| !self.remove.contains(*m))
            .chain(self.add.iter())
            .cloned()
            .collect()
    }

    /// `current` with these changes undone: what the group held before they were applied,
    /// given that the adds were not members before and the removes were.
    pub fn undone_from(&self, current: &MemberSet) -> MemberSet {
        current
            .iter()
            .filter(|m| !self.add.contains(*m))
            .chain(self.remove.iter())
            .cloned()
            .collect()
    }

    /// Merge `other` into these changes.
    pub fn extend(&mut self, other: &MemberChanges) {
        self.add.extend(other.add.iter().cloned());
        self.remove.extend(other.remove.iter().cloned());
    }
}

/// What a group's plan reads from the IdP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Apply the IdP's changes since the group's cursor (all members as additions on a first
    /// run). Never removes a member the IdP did not name.
    #[default]
    Delta,
    /// Read the whole membership each time and also remove members the IdP lacks, within the
    /// safety limits.
    Full,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> MemberSet {
        ids.iter().map(|s| UserId::from(*s)).collect()
    }

    #[test]
    fn digest_is_order_independent_and_known() {
        let a = set(&["b", "a"]);
        assert_eq!(members_sha256(&a), members_sha256(&set(&["a", "b"])));
        assert_eq!(members_sha256(&a), sha256_hex(b"a\nb\n"));
        assert_eq!(members_sha256(&set(&[])), sha256_hex(b""));
    }

    #[test]
    fn hex_encodes_lower_case() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn changes_apply_and_undo() {
        let base = set(&["a", "b", "c"]);
        let changes = MemberChanges {
            add: set(&["d"]),
            remove: set(&["a"]),
        };
        let after = changes.applied_to(&base);
        assert_eq!(after, set(&["b", "c", "d"]));
        assert_eq!(changes.undone_from(&after), base);
        assert_eq!(changes.len(), 2);
        assert!(!changes.is_empty());
    }
}
