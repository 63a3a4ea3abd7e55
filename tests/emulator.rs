//! The emulator's own behaviours, over raw HTTP, as genesys-scim-api.md describes the API.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use scimsync::emulator::{FaultAction, RateLimit, Route, StaleStatus};
use serde_json::{Value, json};

use crate::harness::*;

struct Raw {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Raw {
    async fn new(r: &scimsync::emulator::Running) -> Self {
        let base = r.base_url();
        let token: Value = token_request(&base, CLIENT_SECRET, "client_credentials")
            .await
            .json()
            .await
            .unwrap();
        Self {
            http: reqwest::Client::new(),
            base,
            token: token["access_token"].as_str().unwrap().to_owned(),
        }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}/api/v2/scim/v2{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// GET `path` below the SCIM base, as JSON.
    async fn json(&self, path: &str) -> Value {
        self.get(path).send().await.unwrap().json().await.unwrap()
    }

    fn patch(&self, id: &str, if_match: Option<&str>, body: Value) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .patch(format!("{}/api/v2/scim/v2/groups/{id}", self.base))
            .bearer_auth(&self.token)
            .json(&body);
        if let Some(e) = if_match {
            b = b.header("If-Match", e);
        }
        b
    }
}

fn add(ids: &[&str]) -> Value {
    let values: Vec<Value> = ids.iter().map(|i| json!({"value": i})).collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "add", "path": "members", "value": values}]})
}

/// POST the emulator's token endpoint with the test client's id.
async fn token_request(base: &str, secret: &str, grant: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(CLIENT_ID, Some(secret))
        .form(&[("grant_type", grant)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn token_endpoint_checks_client_and_grant() {
    let r = start().await;
    let base = r.base_url();
    let ok: Value = token_request(&base, CLIENT_SECRET, "client_credentials")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok["token_type"], "bearer");
    assert_eq!(ok["expires_in"], 86400);
    let bad = token_request(&base, "nope", "client_credentials").await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let grant = token_request(&base, CLIENT_SECRET, "password").await;
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_needs_a_valid_token() {
    let r = start().await;
    let raw = Raw::new(&r).await;
    let none = raw
        .http
        .get(format!("{}/api/v2/scim/v2/groups/{GROUP}", raw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        raw.get(&format!("/groups/{GROUP}"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    emu(&r).expire_tokens();
    assert_eq!(
        raw.get(&format!("/groups/{GROUP}"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn group_get_has_etag_meta_version_members_and_304() {
    let r = start().await;
    let raw = Raw::new(&r).await;
    let resp = raw.get(&format!("/groups/{GROUP}")).send().await.unwrap();
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["meta"]["version"], etag.as_str());
    assert_eq!(body["members"].as_array().unwrap().len(), 5);
    let r0 = &body["members"][0];
    assert_eq!(r0["type"], "User");
    assert!(r0["$ref"].as_str().unwrap().starts_with(&r.base_url()));
    let not_modified = raw
        .get(&format!("/groups/{GROUP}"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    let excluded: Value = raw
        .get(&format!("/groups/{GROUP}?excludedAttributes=members"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(excluded.get("members").is_none());
    // PATCH honours it too (RFC 7644 §3.9): the group comes back without its members.
    let patched = raw
        .http
        .patch(format!(
            "{}/api/v2/scim/v2/groups/{GROUP}?excludedAttributes=members",
            raw.base
        ))
        .bearer_auth(&raw.token)
        .json(&add(&["u010"]))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    assert!(patched.headers().contains_key("etag"));
    let patched: Value = patched.json().await.unwrap();
    assert!(patched.get("members").is_none(), "{patched}");
    assert_eq!(patched["id"], GROUP);
    let with: Value = raw
        .patch(GROUP, None, add(&["u011"]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(with["members"].as_array().unwrap().len(), 7);
    emu(&r).add_group("g-empty", "Empty", &[]);
    let empty: Value = raw.json("/groups/g-empty").await;
    assert!(
        empty.get("members").is_none(),
        "an empty group has no members key: {empty}"
    );
}

#[tokio::test]
async fn group_list_needs_a_filter_pages_and_refuses_big_pages() {
    let r = start().await;
    let raw = Raw::new(&r).await;
    let no_filter = raw.get("/groups").send().await.unwrap();
    assert_eq!(no_filter.status(), StatusCode::BAD_REQUEST);
    let body: Value = no_filter.json().await.unwrap();
    assert_eq!(body["scimType"], "invalidFilter");
    assert_eq!(body["status"], "400");
    let big = raw
        .get("/groups?filter=displayName%20eq%20Sales&count=26")
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::TOO_MANY_REQUESTS);
    let unquoted: Value = raw.json("/groups?filter=displayname%20eq%20Sales").await;
    assert_eq!(unquoted["totalResults"], 1);
    assert_eq!(unquoted["Resources"][0]["id"], GROUP);
    for i in 0..30 {
        emu(&r).add_group(&format!("d{i:02}"), "Dup", &[]);
    }
    let page2: Value = raw
        .json("/groups?filter=displayName%20eq%20%22Dup%22&startIndex=26&count=25")
        .await;
    assert_eq!(page2["totalResults"], 30);
    assert_eq!(page2["itemsPerPage"], 5);
    assert_eq!(page2["startIndex"], 26);
}

#[tokio::test]
async fn users_list_only_active_without_filter() {
    let r = start().await;
    emu(&r).configure(|o| o.max_page_size = 500);
    let raw = Raw::new(&r).await;
    let all: Value = raw.json("/users?count=500").await;
    assert_eq!(all["totalResults"], 200);
    let by_name: Value = raw
        .json("/users?filter=userName%20eq%20%22u003@example.com%22")
        .await;
    assert_eq!(by_name["Resources"][0]["id"], "u003");
}

#[tokio::test]
async fn patch_needs_capital_operations_and_is_atomic() {
    let r = start().await;
    let raw = Raw::new(&r).await;
    let lower = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "operations": [{"op": "add", "path": "members", "value": [{"value": "u010"}]}]});
    let resp = raw.patch(GROUP, None, lower).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let unknown = raw
        .patch(GROUP, None, add(&["u010", "ghost"]))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["scimType"], "invalidValue");
    assert_eq!(emu(&r).members(GROUP).len(), 5);
    let many: Vec<String> = (10..61).map(user).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let too_many = raw.patch(GROUP, None, add(&many)).send().await.unwrap();
    let body: Value = too_many.json().await.unwrap();
    assert_eq!(body["scimType"], "tooMany");
    assert_eq!(emu(&r).etag(GROUP).unwrap(), "\"1\"");
}

#[tokio::test]
async fn version_moves_only_when_membership_changes() {
    let r = start().await;
    let raw = Raw::new(&r).await;
    let again = raw
        .patch(GROUP, Some("\"1\""), add(&["u000"]))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["etag"], "\"1\"");
    let changed = raw
        .patch(GROUP, Some("\"1\""), add(&["u010"]))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.headers()["etag"], "\"2\"");
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["meta"]["version"], "\"2\"");
}

#[tokio::test]
async fn if_match_mismatch_answers_the_configured_stale_form() {
    for (form, status, scim_type) in [
        (StaleStatus::InvalidVers400, 400, Some("invalidVers")),
        (StaleStatus::Conflict409, 409, None),
        (StaleStatus::PreconditionFailed412, 412, None),
    ] {
        let r = start().await;
        emu(&r).configure(|o| o.stale_status = form);
        let raw = Raw::new(&r).await;
        let resp = raw
            .patch(GROUP, Some("\"0\""), add(&["u010"]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["scimType"].as_str(), scim_type);
        assert_eq!(emu(&r).members(GROUP).len(), 5);
    }
}

#[tokio::test]
async fn patch_can_answer_204_and_remove_by_filter_path_or_replace() {
    let r = start().await;
    emu(&r).configure(|o| o.patch_response = scimsync::emulator::PatchResponse::NoContent);
    let raw = Raw::new(&r).await;
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": "members[value eq \"u000\"]"}]});
    let resp = raw.patch(GROUP, Some("\"1\""), body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers()["etag"], "\"2\"");
    assert_eq!(resp.bytes().await.unwrap().len(), 0);
    let replace = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "members", "value": [{"value": "u050"}]}]});
    raw.patch(GROUP, Some("\"2\""), replace)
        .send()
        .await
        .unwrap();
    assert_eq!(emu(&r).members(GROUP), ["u050"]);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_and_inin_headers() {
    let r = start().await;
    emu(&r).configure(|o| {
        o.rate_limit = Some(RateLimit {
            requests: 2,
            window: Duration::from_mins(1),
        });
    });
    let raw = Raw::new(&r).await;
    for _ in 0..2 {
        let ok = raw.get(&format!("/groups/{GROUP}")).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()["inin-ratelimit-allowed"], "2");
    }
    let limited = raw.get(&format!("/groups/{GROUP}")).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = limited.headers();
    let after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&after));
    assert_eq!(h["inin-ratelimit-count"], "2");
    assert!(h.contains_key("inin-ratelimit-reset"));
    assert!(h.contains_key("inin-correlation-id"));
    assert_eq!(emu(&r).count_status(Route::GroupGet, 429), 1);
}

#[tokio::test]
async fn scripted_faults_and_counts() {
    let r = start().await;
    let raw = Raw::new(&r).await;
    emu(&r).inject(
        Route::GroupGet,
        2,
        FaultAction::Status {
            status: 503,
            retry_after: None,
        },
    );
    for want in [503, 503, 200] {
        let s = raw
            .get(&format!("/groups/{GROUP}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s.as_u16(), want);
    }
    emu(&r).inject(Route::GroupPatch, 1, FaultAction::CommitThenDrop);
    let lost = raw.patch(GROUP, Some("\"1\""), add(&["u010"])).send().await;
    assert!(lost.is_err(), "the connection should have been dropped");
    assert!(
        emu(&r).members(GROUP).contains(&"u010".to_string()),
        "committed before the drop"
    );
    emu(&r).inject(Route::GroupPatch, 1, FaultAction::Drop);
    assert!(
        raw.patch(GROUP, Some("\"2\""), add(&["u011"]))
            .send()
            .await
            .is_err()
    );
    assert!(
        !emu(&r).members(GROUP).contains(&"u011".to_string()),
        "dropped before commit"
    );
    emu(&r).inject(
        Route::GroupGet,
        1,
        FaultAction::Delay(Duration::from_millis(300)),
    );
    let t = std::time::Instant::now();
    raw.get(&format!("/groups/{GROUP}")).send().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(emu(&r).count(Route::GroupGet), 4);
    assert_eq!(emu(&r).count_status(Route::GroupGet, 503), 2);
    assert_eq!(emu(&r).count(Route::Token), 1);
}

#[tokio::test]
async fn a_concurrent_writer_moves_the_group_after_a_patch() {
    let r = start().await;
    let raw = Raw::new(&r).await;
    emu(&r).write_after_patches(GROUP, 1, &["u199"], &["u000"]);
    let resp = raw
        .patch(GROUP, Some("\"1\""), add(&["u010"]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["etag"], "\"2\"");
    assert_eq!(emu(&r).etag(GROUP).unwrap(), "\"3\"");
    let members = emu(&r).members(GROUP);
    assert!(members.contains(&"u199".to_string()) && !members.contains(&"u000".to_string()));
}

#[tokio::test]
async fn idp_delta_endpoint() {
    let r = start().await;
    emu(&r).set_idp_token("idp-tok");
    emu(&r).idp_change("sales", &["a", "b"], &[]);
    let http = reqwest::Client::new();
    let url = format!("{}/delta/groups/members", r.base_url());
    let get =
        |q: Vec<(&'static str, String)>| http.get(&url).bearer_auth("idp-tok").query(&q).send();
    let unauth = http
        .get(&url)
        .query(&[("group_id", "sales")])
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), StatusCode::UNAUTHORIZED);
    let full: Value = get(vec![("group_id", "sales".into())])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(full["additions"], json!(["a", "b"]));
    let cursor = full["idp_etag"].as_str().unwrap().to_owned();
    emu(&r).idp_change("sales", &["c"], &["a"]);
    let delta: Value = get(vec![
        ("group_id", "sales".into()),
        ("since", cursor.clone()),
    ])
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(delta["additions"], json!(["c"]));
    assert_eq!(delta["removals"], json!(["a"]));
    emu(&r).idp_expire_cursors();
    let gone = get(vec![("group_id", "sales".into()), ("since", cursor)])
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
    let missing = get(vec![("group_id", "nope".into())]).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// GET `path` over a bare connection with this `Host` header (reqwest would send a valid
/// one): the status and the body.
async fn get_with_host(
    r: &scimsync::emulator::Running,
    path: &str,
    host: &str,
    auth: &str,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Graph's delta and Okta's next links are built on the request's Host header: one that
/// makes no URL answers 400 with a body that says so, and the emulator keeps serving.
#[tokio::test]
async fn a_host_header_that_makes_no_url_answers_400() {
    let r = start().await;
    emu(&r).issue_token("graph-tok");
    emu(&r).set_idp_token("okta-tok");
    emu(&r).idp_change("sales", &["a", "b"], &[]);
    let graph = "/v1.0/groups/delta?%24filter=id%20eq%20%27sales%27";
    let okta = "/api/v1/groups/sales/users?limit=1";
    let (status, body) = get_with_host(&r, graph, "bad host", "Bearer graph-tok").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Host header"),
        "{body}"
    );
    let (status, body) = get_with_host(&r, okta, "bad host", "SSWS okta-tok").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errorSummary"]
            .as_str()
            .unwrap()
            .contains("Host header"),
        "{body}"
    );
    let host = r.addr.to_string();
    let (status, body) = get_with_host(&r, graph, &host, "Bearer graph-tok").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get_with_host(&r, okta, &host, "SSWS okta-tok").await;
    assert_eq!(status, 200, "{body}");
}

/// `scimsync emulator --port 0 --seed …` serves the seed on loopback.
#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_command_serves_a_seed() {
    let seed = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        seed.path(),
        "[[clients]]\nid = \"c\"\nsecret = \"s\"\n[[groups]]\nid = \"g1\"\ndisplayName = \"Ops\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimsync"))
        .args(["emulator", "--port", "0", "--seed"])
        .arg(seed.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    let status = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth("c", Some("s"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdout);
    assert_eq!(status, StatusCode::OK);

    let bad = Command::new(env!("CARGO_BIN_EXE_scimsync"))
        .args([
            "emulator",
            "--port",
            "0",
            "--seed",
            "/nonexistent/seed.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("/nonexistent/seed.toml"), "{err}");
}
