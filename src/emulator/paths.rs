//! The URL paths the emulator serves, and which [`Route`] (for faults and the journal) a
//! matched path is.

use axum::http::Method;

use super::faults::Route;

/// The SCIM base path, as Genesys serves it.
pub(super) const SCIM: &str = "/api/v2/scim/v2";
/// The SCIM base path of a generic RFC 7644 server.
pub(super) const RFC: &str = "/scim/v2";

/// The route of a request, from its method and the path pattern it matched.
pub(super) fn route_of(method: &Method, path: Option<&str>) -> Route {
    let Some(path) = path else {
        return Route::Other;
    };
    let rest = path
        .strip_prefix(SCIM)
        .or_else(|| path.strip_prefix(RFC))
        .unwrap_or(path)
        .to_ascii_lowercase();
    match (method.as_str(), rest.as_str()) {
        ("POST", "/oauth/token") => Route::Token,
        ("GET", "/groups") => Route::GroupList,
        ("GET", "/groups/{id}") => Route::GroupGet,
        ("PATCH", "/groups/{id}") => Route::GroupPatch,
        ("GET", "/users") => Route::UserList,
        ("GET", "/users/{id}") => Route::UserGet,
        ("GET", "/api/v2/users") => Route::PlatformUsers,
        ("POST", "/api/v2/users/search") => Route::PlatformUserSearch,
        ("GET", "/api/v2/authorization/subjects/{id}") => Route::AuthzSubject,
        ("GET", "/api/v2/groups/{id}") => Route::PlatformGroupGet,
        ("GET", "/delta/groups/members") => Route::IdpDelta,
        ("POST", "/{tenant}/oauth2/v2.0/token") => Route::GraphToken,
        ("GET", "/v1.0/groups/delta") => Route::GraphDelta,
        ("POST", "/v1.0/directoryobjects/getbyids") => Route::GraphGetByIds,
        ("GET", "/api/v1/groups/{id}/users") => Route::OktaUsers,
        _ => Route::Other,
    }
}
