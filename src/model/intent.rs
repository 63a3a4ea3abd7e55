//! The IdP's intent for one group, as a difference against the state's mirror.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What the IdP wants of one group, in keys of type `K`, as a difference against the group's
/// mirror (the IdP's membership as last applied, in the state): what it grants that the mirror
/// lacked, and what the mirror had that it no longer grants.
///
/// The desired set itself is not kept: it is always `mirror ∪ granted − revoked` (everything
/// granted when the mirror was unknown), and [`Intent::desired`] rebuilds it. The mirror is the
/// one at the plan's state base: apply refuses a group whose state serial moved
/// (`State::moved_since`), so at apply time the state's mirror *is* the one the intent was
/// made against. An unchanged group's intent is empty, whatever the group's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(
        deserialize = "K: Ord + Deserialize<'de>",
        serialize = "K: Ord + Serialize"
    )
)]
pub struct Intent<K: Ord> {
    /// The members the mirror did not have (new grants; every desired member when the mirror
    /// was unknown).
    #[serde(deserialize_with = "super::bulk_set")]
    pub granted: BTreeSet<K>,
    /// Members the mirror had and the IdP no longer grants: its revocations.
    #[serde(deserialize_with = "super::bulk_set")]
    pub revoked: BTreeSet<K>,
    /// Whether the mirror was known. When it was not, `revoked` is empty and nothing can be
    /// told apart from a member added by hand: `delta` mode removes nobody.
    pub mirror_known: bool,
    /// How many members the IdP grants now (the size of the desired set).
    pub desired_count: usize,
}

impl<K: Ord + Clone> Intent<K> {
    /// The intent of `desired` against `mirror` (`None`: unknown).
    ///
    /// ```
    /// use scimsync::model::Intent;
    /// let mirror = ["a", "b"].into_iter().collect();
    /// let i = Intent::new(&["b", "c"].into_iter().collect(), Some(&mirror));
    /// assert_eq!(i.granted, ["c"].into_iter().collect());
    /// assert_eq!(i.revoked, ["a"].into_iter().collect());
    /// assert_eq!(i.desired_count, 2);
    /// assert_eq!(i.desired(Some(&mirror)), ["b", "c"].into_iter().collect());
    /// ```
    pub fn new(desired: &BTreeSet<K>, mirror: Option<&BTreeSet<K>>) -> Self {
        match mirror {
            Some(mirror) => Self {
                granted: desired.difference(mirror).cloned().collect(),
                revoked: mirror.difference(desired).cloned().collect(),
                mirror_known: true,
                desired_count: desired.len(),
            },
            None => Self::unmirrored(desired.clone()),
        }
    }

    /// The intent of a whole membership `desired` when the mirror is unknown: everything is
    /// granted (moved, not copied).
    pub fn unmirrored(desired: BTreeSet<K>) -> Self {
        Self {
            desired_count: desired.len(),
            granted: desired,
            revoked: BTreeSet::new(),
            mirror_known: false,
        }
    }

    /// The desired set: `mirror ∪ granted − revoked`, or `granted` when the mirror was
    /// unknown. `mirror` must be the one the intent was made against (`None` reads as empty).
    pub fn desired(&self, mirror: Option<&BTreeSet<K>>) -> BTreeSet<K> {
        let mut desired = if self.mirror_known {
            mirror.cloned().unwrap_or_default()
        } else {
            BTreeSet::new()
        };
        self.advance(&mut desired);
        desired
    }

    /// Turn `mirror` (the one the intent was made against) into the desired set, in place:
    /// what the state's mirror becomes once the plan is applied. Costs the size of the
    /// difference, not of the group, when the mirror was known.
    pub fn advance(&self, mirror: &mut BTreeSet<K>) {
        if self.mirror_known {
            for k in &self.revoked {
                mirror.remove(k);
            }
            mirror.extend(self.granted.iter().cloned());
        } else {
            mirror.clone_from(&self.granted);
        }
    }

    /// True when the IdP grants and revokes nothing against the mirror.
    pub fn is_unchanged(&self) -> bool {
        self.mirror_known && self.granted.is_empty() && self.revoked.is_empty()
    }
}
