"""The official Genesys Cloud SDK against scimsync's emulator (tests/sdk_contract.rs)."""
import json
import sys

import PureCloudPlatformClientV2 as gc
from PureCloudPlatformClientV2.rest import ApiException

base, token, ids, names = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
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
print(json.dumps(out))
