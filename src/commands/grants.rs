//! The one read of what a group grants, shared by `plan` (each group with changes) and
//! `apply` (each group it re-checks): `[review] grants`, the target, and a 403 decide
//! between grants, "roles unknown" and no read at all. The rules are in
//! [`crate::plan::grants`]; this file only asks Genesys.

use crate::commands::GroupFailure;
use crate::model::{GrantsMode, GroupId, Review};
use crate::plan::grants::GroupGrants;
use crate::scim::ScimClient;

/// What group `id` grants: `None` when grants are not read (`[review] grants = "off"`, or a
/// target without the Platform API); [`GroupGrants::Unknown`] when Genesys refuses the
/// client (said once per run by the client); an error for any other failure: a group whose
/// grants cannot be read is not planned blind.
pub async fn read(
    client: &ScimClient,
    id: &GroupId,
    review: &Review,
) -> Result<Option<GroupGrants>, GroupFailure> {
    if review.grants == GrantsMode::Off || client.settings().platform_base.is_none() {
        return Ok(None);
    }
    match client.group_grants(id).await {
        Ok(read) => Ok(Some(GroupGrants::known(&read, review))),
        Err(e) if e.is_denied() => Ok(Some(GroupGrants::Unknown)),
        Err(e) => Err(e.into()),
    }
}
