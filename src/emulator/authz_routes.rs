//! The Platform API's grant reads: `GET /api/v2/authorization/subjects/{subjectId}` (the
//! roles a user or group holds, each in a division) and `GET /api/v2/groups/{groupId}` (the
//! group, with `rolesEnabled`).
//!
//! No kinder than Genesys, each behaviour beside its source (MyPureCloud/
//! platform-client-sdk-python `build/docs/AuthorizationApi.md` `get_authorization_subject`,
//! `GroupsApi.md` `get_group`, the models `AuthzSubject`, `AuthzGrant`, `AuthzGrantRole`,
//! `AuthzGrantPolicy`, `AuthzDivision`, `Group`, `ErrorBody`; the Authorization API's error
//! codes in Genesys's API definition as split by api-evangelist/genesys
//! `openapi/genesys-authorization-api-openapi.yml`; our `docs/real-api-notes.md`):
//!
//! - The subject read requires the permission `authorization:grant:view` ("Requires ANY
//!   permissions"): without it ([`PlatformGrants::MissingPermission`]) 403
//!   `missing.any.permissions`, "Unable to perform the requested action. You must have at
//!   least one of the following permissions assigned: authorization:grant:view"; without the
//!   scope ([`PlatformGrants::MissingScope`]) 403 `app.not.authorized.for.scope`, "App not
//!   authorized to use scope authorization:readonly".
//! - A subject that is neither a group nor a user: 404 `not.found`, "The requested resource
//!   was not found." A user holds no grants here (the emulator seeds roles on groups only).
//! - A role's `policies` come only with `includeFullRoles=true` ("Include full role data
//!   with permission policies for each grant"); the value is read without regard to case,
//!   as the Python SDK sends `True`. Another value: 400 `invalid.query.param.value`.
//! - All divisions is the division `*` (Terraform provider `genesyscloud_group_roles`).
//! - The group read "Requires NO permissions" (`get_group`); an unknown group is 404
//!   `not.found`. `rolesEnabled` is true for a group that carries a grant (**unverified**:
//!   Genesys lets a group have `rolesEnabled` and no grant; the emulator does not model it).
//! - Errors are `ErrorBody` (`message`, `code`, `status`, `contextId`).
//!
//! [`PlatformGrants::MissingPermission`]: super::PlatformGrants::MissingPermission
//! [`PlatformGrants::MissingScope`]: super::PlatformGrants::MissingScope

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::authz::policies;
use super::options::PlatformGrants;
use super::state::Emu;
use crate::scim::wire::authz::ALL_DIVISIONS;
use crate::scim::wire::authz::{
    self, AuthzDivision, AuthzGrant, AuthzGrantPolicy, AuthzGrantRole, AuthzSubject, PERMISSION,
};
use crate::scim::wire::platform::ErrorBody;

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        message: Some(message.into()),
        code: Some(code.to_owned()),
        status: Some(i32::from(status.as_u16())),
        context_id: Some(format!("{:032x}", rand::random::<u128>())),
        message_params: None,
    };
    (status, axum::Json(body)).into_response()
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not.found",
        "The requested resource was not found.",
    )
}

/// `includeFullRoles` from the query: absent is false.
fn full_roles(query: Option<&str>) -> Result<bool, Box<Response>> {
    let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes());
    let mut full = false;
    for (k, v) in pairs {
        if k == "includeFullRoles" || k == "includeDuplicates" {
            let value = match v.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(Box::new(error(
                        StatusCode::BAD_REQUEST,
                        "invalid.query.param.value",
                        format!(
                            "Value [{v}] is not valid for parameter [{k}]. Allowable values are: true, false"
                        ),
                    )));
                }
            };
            if k == "includeFullRoles" {
                full = value;
            }
        }
    }
    Ok(full)
}

/// `GET /api/v2/authorization/subjects/{subjectId}`.
pub(super) async fn subject(
    State(emu): State<Emu>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let state = emu.lock();
    match state.options.platform_grants {
        PlatformGrants::Allowed => {}
        PlatformGrants::MissingPermission => {
            return error(
                StatusCode::FORBIDDEN,
                "missing.any.permissions",
                format!(
                    "Unable to perform the requested action. You must have at least one of the following permissions assigned: {PERMISSION}"
                ),
            );
        }
        PlatformGrants::MissingScope => {
            return error(
                StatusCode::FORBIDDEN,
                "app.not.authorized.for.scope",
                format!("App not authorized to use scope {}", authz::SCOPE),
            );
        }
    }
    let full = match full_roles(query.as_deref()) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let name = if let Some(g) = state.org.groups.get(&id) {
        g.display_name.clone()
    } else if let Some(u) = state.org.users.get(&id) {
        u.user_name.clone()
    } else {
        return not_found();
    };
    let a = &state.authz;
    let grants = a
        .of(&id)
        .filter_map(|(role_id, division_id)| {
            let role = a.roles.get(role_id)?;
            Some(AuthzGrant {
                subject_id: Some(id.clone()),
                division: Some(AuthzDivision {
                    id: Some(division_id.clone()),
                    name: Some(a.division_name(division_id)),
                    description: String::new(),
                    home_division: Some(a.home.as_deref() == Some(division_id.as_str())),
                    self_uri: (division_id != ALL_DIVISIONS)
                        .then(|| format!("/api/v2/authorization/divisions/{division_id}")),
                }),
                role: Some(AuthzGrantRole {
                    id: Some(role_id.clone()),
                    name: Some(role.name.clone()),
                    description: Some(String::new()),
                    policies: full.then(|| {
                        policies(&role.permissions)
                            .into_iter()
                            .map(|((domain, entity), actions)| AuthzGrantPolicy {
                                actions,
                                condition: None,
                                domain: Some(domain),
                                entity_name: Some(entity),
                            })
                            .collect()
                    }),
                    default: Some(false),
                    self_uri: Some(format!("/api/v2/authorization/roles/{role_id}")),
                }),
                grant_made_at: Some("2026-01-01T00:00:00.000Z".into()),
            })
        })
        .collect();
    axum::Json(AuthzSubject {
        id: Some(id.clone()),
        name: Some(name),
        grants,
        version: Some(1),
        self_uri: Some(format!("/api/v2/authorization/subjects/{id}")),
    })
    .into_response()
}

/// `GET /api/v2/groups/{groupId}`.
pub(super) async fn group(State(emu): State<Emu>, Path(id): Path<String>) -> Response {
    let state = emu.lock();
    let Some(g) = state.org.groups.get(&id) else {
        return not_found();
    };
    axum::Json(authz::Group {
        id: g.id.clone(),
        name: g.display_name.clone(),
        member_count: i64::try_from(g.members.len()).ok(),
        state: Some("active".into()),
        version: i64::try_from(g.version).ok(),
        kind: Some("official".into()),
        visibility: Some("public".into()),
        roles_enabled: Some(state.authz.of(&id).next().is_some()),
        self_uri: Some(format!("/api/v2/groups/{id}")),
    })
    .into_response()
}
