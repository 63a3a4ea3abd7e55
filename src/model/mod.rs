//! Small shared types: identifiers, ETags, cursors and member sets.
//!
//! Every identifier is a newtype over `String` so that a group id cannot be passed where a
//! user id is expected. Member sets are `BTreeSet`s: sorted, so that digests and plans are
//! deterministic whatever order a server or an IdP answered in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

mod grants;
mod intent;
mod journal_head;
mod mapping;
mod policy;

pub use self::grants::{ALL_DIVISIONS, GrantsMode, PermissionPolicy, Review, RoleGrant};
pub use self::intent::Intent;
pub use self::journal_head::{JournalHead, JournalLink};
pub use self::mapping::Mapping;
pub use self::policy::Policy;
use sha2::{Digest, Sha256};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A user as the identity provider names them: whatever the source's user keys are
    /// (`source.user_key` says which Genesys attribute they match), in the normal form of
    /// [`UserKey::normalize`]. Mirrors, the resolution cache, intents and pending users are
    /// in these keys; changes are in [`UserId`]s.
    IdpKey
);

impl IdpKey {
    /// Whether the key can name a user at all: not blank, no control characters. A key that
    /// cannot is skipped as `invalid-key`, never looked up.
    ///
    /// ```
    /// use scimsync::model::IdpKey;
    /// assert!(IdpKey::from("alice@example.com").can_name_a_user());
    /// assert!(!IdpKey::from("  ").can_name_a_user());
    /// assert!(!IdpKey::from("bob\u{7}@x").can_name_a_user());
    /// ```
    pub fn can_name_a_user(&self) -> bool {
        !(self.0.chars().any(char::is_control) || self.0.trim().is_empty())
    }
}

id_type!(
    /// A sha256 digest in lower-case hex: of a plan (what a human approves), of a config, of
    /// a group's member set.
    Sha256Hex
);

impl Sha256Hex {
    /// The first 12 hex digits, for messages.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
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
id_type!(
    /// A state's identity: made once, when the state is first written. A plan made against
    /// one state is never applied against another.
    Lineage
);

impl Lineage {
    /// A new random lineage (128 bits, hex).
    pub fn new_random() -> Self {
        Self(hex(&rand::random::<[u8; 16]>()))
    }
}

/// What a group must still be for planned changes to apply: the state it was read in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Precondition {
    /// The ETag read; sent in `If-Match`. `None` when the server sent none (a `kind =
    /// "scim"` target: then the member digest is checked by a re-read before each PATCH).
    pub etag: Option<ETag>,
    /// [`members_sha256`] of the members read: lets a lost response be settled by a re-read.
    pub members_sha256: Sha256Hex,
    /// How many members it had.
    pub member_count: usize,
}

impl Precondition {
    /// The precondition of a group read with `etag` and `members`.
    pub fn of(etag: Option<ETag>, members: &MemberSet) -> Self {
        Self {
            etag,
            members_sha256: members_sha256(members),
            member_count: members.len(),
        }
    }
}

/// Now, to the second: plans and states record times a person reads.
pub fn now_to_the_second() -> jiff::Timestamp {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
}

/// Where a group's state stood when a plan was made: what apply holds the plan against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    /// The state's lineage (`None`: the state had never been written).
    pub lineage: Option<Lineage>,
    /// The group's serial (0: never written).
    pub serial: u64,
}

/// Which Genesys (SCIM) attribute an IdP user key is matched against.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum UserKey {
    /// The Genesys user id itself.
    #[default]
    #[serde(rename = "id")]
    Id,
    /// `userName` (in Genesys, the main email). Matched without regard to case, as SCIM
    /// defines it (`caseExact: false`), in Unicode.
    #[serde(rename = "userName")]
    UserName,
    /// `externalId`.
    #[serde(rename = "externalId")]
    ExternalId,
}

impl UserKey {
    /// The SCIM attribute name.
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::UserName => "userName",
            Self::ExternalId => "externalId",
        }
    }

    /// The form of an IdP key that scimsync compares and stores: for `userName`, lower case
    /// (Unicode: `Ünïcødé@x` and `üNÏCØDÉ@x` are one user); other keys as they are.
    ///
    /// ```
    /// use scimsync::model::UserKey;
    /// assert_eq!(UserKey::UserName.normalize("Ünïcødé@Example.COM"), "ünïcødé@example.com");
    /// assert_eq!(UserKey::ExternalId.normalize("AbC"), "AbC");
    /// ```
    pub fn normalize(self, key: &str) -> String {
        self.normalize_owned(key.to_owned())
    }

    /// [`normalize`](Self::normalize), reusing `key` where it is already normal.
    pub fn normalize_owned(self, key: String) -> String {
        match self {
            Self::UserName if key.chars().any(|c| !c.to_lowercase().eq([c])) => key.to_lowercase(),
            Self::UserName | Self::Id | Self::ExternalId => key,
        }
    }

    /// Whether a user's attribute value `found` is the IdP key `key`.
    pub fn matches(self, key: &str, found: &str) -> bool {
        match self {
            Self::UserName => found == key || found.to_lowercase() == key.to_lowercase(),
            Self::Id | Self::ExternalId => found == key,
        }
    }
}

/// Why a plan made at one state no longer fits a group's state: apply refuses the group as
/// superseded and re-plans it from the state as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// The state was replaced since: another lineage.
    OtherLineage {
        /// The plan's.
        planned: Lineage,
        /// The state's now.
        current: Lineage,
    },
    /// Another plan was applied to the group since: another serial.
    Written {
        /// The serial the plan was made at.
        planned: u64,
        /// The serial now.
        current: u64,
        /// The sha256 of the plan that wrote it, if recorded.
        by_plan: Option<Sha256Hex>,
    },
}

impl fmt::Display for Moved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OtherLineage { planned, current } => write!(
                f,
                "the plan was made against another state (lineage {planned}, this one is {current})"
            ),
            Self::Written {
                planned,
                current,
                by_plan,
            } => {
                f.write_str("another plan was applied to this group since this one was made")?;
                if let Some(s) = by_plan {
                    write!(f, " by plan {}", s.short())?;
                }
                write!(
                    f,
                    " (state serial {planned} → {current}); this plan is superseded"
                )
            }
        }
    }
}

/// What the state's resolution cache says of an IdP key: the Genesys user it was last
/// resolved to. The planner derives every resolution a plan does not carry from it
/// (`plan::Resolution::derived`); the state implements it, tests use a map.
pub trait ResolutionCache: Sync {
    /// The Genesys user `key` was last resolved to, if the cache holds it.
    fn user_of(&self, key: &IdpKey) -> Option<UserId>;
}

impl ResolutionCache for BTreeMap<IdpKey, UserId> {
    fn user_of(&self, key: &IdpKey) -> Option<UserId> {
        self.get(key).cloned()
    }
}

/// No cache: every key not resolved otherwise is derived from itself or unknown.
impl ResolutionCache for () {
    fn user_of(&self, _: &IdpKey) -> Option<UserId> {
        None
    }
}

/// What the IdP said of one group, in its own user keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Changes since the cursor (or, on a first read, every member as an addition).
    Delta {
        /// Users added.
        add: BTreeSet<IdpKey>,
        /// Users removed.
        remove: BTreeSet<IdpKey>,
    },
    /// The whole desired membership.
    Full {
        /// Every member.
        members: BTreeSet<IdpKey>,
    },
}

/// The members of one group, sorted.
pub type MemberSet = BTreeSet<UserId>;

/// A user found in the target by a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUser {
    /// Its id.
    pub id: UserId,
    /// A human label: its userName, else its display name, else its id.
    pub label: String,
    /// Whether it is active (Genesys refuses to add an inactive user to a group).
    pub active: bool,
}

/// A group as read from the target: its user members, the members that are groups, and the
/// ETag to send back when patching it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupSnapshot {
    /// The group's id.
    pub id: GroupId,
    /// Its display name.
    pub display_name: String,
    /// Its members that are users (or of no stated type).
    pub members: MemberSet,
    /// Its members whose `type` is `Group`: never added, removed or counted by scimsync.
    pub member_groups: BTreeSet<GroupId>,
    /// Its version: the `ETag` header, else `meta.version`; `None` if the server sent neither.
    pub etag: Option<ETag>,
}

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
pub fn members_sha256(members: &MemberSet) -> Sha256Hex {
    let mut hasher = Sha256::new();
    for member in members {
        hasher.update(member.as_str().as_bytes());
        hasher.update(b"\n");
    }
    Sha256Hex(hex(&hasher.finalize()))
}

/// sha256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> Sha256Hex {
    Sha256Hex(hex(&Sha256::digest(bytes)))
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
    #[serde(deserialize_with = "bulk_set")]
    pub add: MemberSet,
    /// Users to remove from the group.
    #[serde(deserialize_with = "bulk_set")]
    pub remove: MemberSet,
}

/// Read a set as a list first: building a `BTreeSet` from a (sorted) list is one bulk step,
/// where serde's own reading inserts one element at a time (a million keys of a state's
/// mirrors or a first plan's grants: most of their reading time).
pub fn bulk_set<'de, D, T>(d: D) -> Result<BTreeSet<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Ord + Deserialize<'de>,
{
    Ok(Vec::<T>::deserialize(d)?.into_iter().collect())
}

/// [`bulk_set`], for a set that may be absent.
pub fn bulk_set_opt<'de, D, T>(d: D) -> Result<Option<BTreeSet<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Ord + Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.map(|v| v.into_iter().collect()))
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

/// Which kind of SCIM server the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Genesys Cloud.
    #[default]
    Genesys,
    /// Any RFC 7644 SCIM server.
    Scim,
}

/// Which identity provider a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// The generic delta endpoint.
    DeltaHttp,
    /// A declarative file.
    File,
    /// Microsoft Graph (Entra ID).
    Graph,
    /// Okta.
    Okta,
}

/// `as_str`, `Display` and comparison with the name as written in configs and plans.
macro_rules! named_kind {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// The name, as written in configs and plans.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

named_kind!(TargetKind { Genesys => "genesys", Scim => "scim" });
named_kind!(SourceKind {
    DeltaHttp => "delta-http",
    File => "file",
    Graph => "graph",
    Okta => "okta",
});

/// Which Okta attribute names a user (`source.user_attribute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OktaUserAttribute {
    /// `profile.email`: what Genesys Cloud's Okta app provisions as `userName`.
    #[default]
    Email,
    /// `profile.login`: the Okta username.
    Login,
    /// The Okta user id (`00u…`).
    Id,
}

impl OktaUserAttribute {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Login => "login",
            Self::Id => "id",
        }
    }
}

/// How removals are written in a PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemoveStyle {
    /// `{"op":"remove","path":"members","value":[{"value":"<id>"},…]}`: what Genesys and
    /// Microsoft Entra use.
    #[default]
    ValueList,
    /// One `{"op":"remove","path":"members[value eq \"<id>\"]"}` per member: what strict
    /// RFC 7644 servers want.
    FilterPath,
}

/// How a configured group is found in the target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupTarget {
    /// By id (`target_id`).
    Id(GroupId),
    /// By exact display name (`target_name`, looked up with a displayName filter).
    Name(String),
}

impl fmt::Display for GroupTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "target_id {id}"),
            Self::Name(name) => write!(f, "target_name {name:?}"),
        }
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
