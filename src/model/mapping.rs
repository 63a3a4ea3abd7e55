//! One `[[group]]` of the config: which IdP group feeds which Genesys group, in which mode.
//! The config holds a list of them and a plan records the one each group was planned
//! under, so that apply can refuse a group the config maps differently by then.

use serde::{Deserialize, Serialize};

use super::{GroupTarget, Mode};

/// How the config maps an IdP group to a Genesys group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The IdP group's id (the config's `name`): what `--group` selects and what keys the
    /// state.
    pub idp_group: String,
    /// How the Genesys group is named.
    pub target: GroupTarget,
    /// Delta or full.
    pub mode: Mode,
}
