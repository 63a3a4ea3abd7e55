//! The safety policy a group is planned under: the config's `[safety]` and `--allow-removals`.

use std::collections::BTreeSet;

use super::UserId;

/// The safety policy a group is planned under.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Never removed.
    pub protected: BTreeSet<UserId>,
    /// `safety.max_removals_per_group`.
    pub max_removals: usize,
    /// `safety.max_removal_ratio`.
    pub max_ratio: f64,
    /// `--allow-removals N`: replaces both limits.
    pub allow_removals: Option<usize>,
    /// `safety.allow_empty_source`.
    pub allow_empty_source: bool,
}

/// The config's defaults (`[safety]` left out): at most 25 removals and a quarter of a
/// group's members, nobody protected, no empty source, no override.
impl Default for Policy {
    fn default() -> Self {
        Self {
            protected: BTreeSet::new(),
            max_removals: 25,
            max_ratio: 0.25,
            allow_removals: None,
            allow_empty_source: false,
        }
    }
}

impl Policy {
    /// The removal limit for a group of `members` members, and whether it was overridden.
    pub fn limit(&self, members: usize) -> (usize, bool) {
        if let Some(n) = self.allow_removals {
            (n, true)
        } else {
            // A ratio in [0, 1] of a member count: the float is exact enough and in range.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let by_ratio = (self.max_ratio * members as f64).floor() as usize;
            // At least one removal per group, so that a small group can lose a member,
            // unless the ratio is 0: then none.
            let by_ratio = if self.max_ratio > 0.0 {
                by_ratio.max(1)
            } else {
                0
            };
            (self.max_removals.min(by_ratio), false)
        }
    }
}
