"""The official Genesys Cloud SDK against scimsync's emulator (tests/sdk_contract.rs)."""
import json
import sys

import PureCloudPlatformClientV2 as gc
from PureCloudPlatformClientV2.rest import ApiException

base, token, ids, names = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
group_id = sys.argv[5]
gc.configuration.host = base
gc.configuration.access_token = token
users = gc.UsersApi()
out = {}

listing = users.get_users(id=ids, page_size=100, page_number=1, state="any")
assert isinstance(listing, gc.UserEntityListing), type(listing)
assert all(isinstance(u, gc.User) for u in listing.entities)
out["listing"] = {
    "total": listing.total, "page_size": listing.page_size, "page_count": listing.page_count,
    "users": sorted([u.id, u.username, u.state, u.self_uri] for u in listing.entities),
}

body = gc.UserSearchRequest()
body.page_size = 100
body.page_number = 1
name = gc.UserSearchCriteria()
name.type = "EXACT"
name.fields = ["username"]
name.values = names
state = gc.UserSearchCriteria()
state.type = "EXACT"
state.fields = ["state"]
state.values = ["active", "inactive"]
state.operator = "AND"
body.query = [name, state]
found = users.post_users_search(body)
assert isinstance(found, gc.UsersSearchResponse), type(found)
assert all(isinstance(u, gc.User) for u in found.results)
out["search"] = {
    "total": found.total, "page_count": found.page_count, "page_number": found.page_number,
    "types": found.types, "users": sorted([u.id, u.username, u.state] for u in found.results),
}

try:
    users.get_users(id=["x%03d" % i for i in range(101)], page_size=100)
    out["error"] = None
except ApiException as e:
    err = users.api_client._ApiClient__deserialize(json.loads(e.body), "ErrorBody")
    assert isinstance(err, gc.ErrorBody), type(err)
    out["error"] = {"status": e.status, "code": err.code, "body_status": err.status,
                    "message": err.message, "context_id": err.context_id}
# What a group grants (issue 23): the subject with full roles, the group, and an unknown subject.
authz = gc.AuthorizationApi()
subject = authz.get_authorization_subject(group_id, include_full_roles=True)
assert isinstance(subject, gc.AuthzSubject), type(subject)
for g in subject.grants:
    assert isinstance(g, gc.AuthzGrant), type(g)
    assert isinstance(g.role, gc.AuthzGrantRole), type(g.role)
    assert isinstance(g.division, gc.AuthzDivision), type(g.division)
    assert all(isinstance(p, gc.AuthzGrantPolicy) for p in g.role.policies)
out["subject"] = {
    "id": subject.id, "name": subject.name,
    "grants": sorted([
        g.subject_id, g.role.id, g.role.name, g.division.id, g.division.name,
        g.grant_made_at is not None,
        sorted([p.domain, p.entity_name, sorted(p.actions)] for p in g.role.policies),
    ] for g in subject.grants),
}
group = gc.GroupsApi().get_group(group_id)
assert isinstance(group, gc.Group), type(group)
out["group"] = {"id": group.id, "name": group.name, "roles_enabled": group.roles_enabled,
                "member_count": group.member_count, "state": group.state, "type": group.type}
try:
    authz.get_authorization_subject("nobody")
    out["subject_error"] = None
except ApiException as e:
    err = authz.api_client._ApiClient__deserialize(json.loads(e.body), "ErrorBody")
    assert isinstance(err, gc.ErrorBody), type(err)
    out["subject_error"] = {"status": e.status, "code": err.code, "body_status": err.status}
print(json.dumps(out))
