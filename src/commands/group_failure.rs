//! Why one group could not be planned or re-planned: what `plan` and apply's re-plan share.

use crate::model::GroupId;
use crate::plan::basis::UnknownUsers;
use crate::plan::planner::Stopped;
use crate::scim::ScimError;
use crate::scim::grants::GrantsError;
use crate::source::SourceError;

/// Why one group could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum GroupFailure {
    /// The IdP read failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A SCIM call failed.
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// The roles the group grants could not be read (not for want of access: that is
    /// "roles unknown").
    #[error(transparent)]
    Grants(#[from] GrantsError),
    /// `--strict` and some users do not exist.
    #[error(transparent)]
    Strict(#[from] UnknownUsers),
    /// A safety guard stopped it.
    #[error(transparent)]
    Guard(#[from] Stopped),
    /// Two config entries name the same Genesys group.
    #[error(
        "groups {first:?} and {second:?} both map to Genesys group {display_name} ({id}); two mappings of one group would undo each other's changes: keep one [[group]] for it"
    )]
    DoubleMapping {
        /// The first entry's name.
        first: String,
        /// The second entry's name.
        second: String,
        /// The Genesys group.
        id: GroupId,
        /// Its display name.
        display_name: String,
    },
}
