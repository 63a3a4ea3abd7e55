//! The answers of the hostile fault actions ([`FaultAction::Redirect`],
//! [`FaultAction::WrongId`], [`FaultAction::LyingList`], [`FaultAction::SelfNext`],
//! [`FaultAction::EchoHeaders`], [`FaultAction::HugeBody`]): what a misconfigured proxy, a
//! gateway or a broken server answers, for the tests of issue 20 ("believe nothing a server
//! says"). A leaf beside `reply`.
//!
//! [`FaultAction::Redirect`]: super::FaultAction::Redirect
//! [`FaultAction::WrongId`]: super::FaultAction::WrongId
//! [`FaultAction::LyingList`]: super::FaultAction::LyingList
//! [`FaultAction::SelfNext`]: super::FaultAction::SelfNext
//! [`FaultAction::EchoHeaders`]: super::FaultAction::EchoHeaders
//! [`FaultAction::HugeBody`]: super::FaultAction::HugeBody

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::reply::scim_error;
use super::state::Emu;

/// A redirect to `location`, with a small HTML body as real servers send.
pub(super) fn redirect(status: u16, location: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::TEMPORARY_REDIRECT);
    let mut response = (code, "<html><body>Moved</body></html>").into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// 400 whose detail quotes every request header.
pub(super) fn echo_headers(headers: &HeaderMap) -> Response {
    let echoed: Vec<String> = headers
        .iter()
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    scim_error(
        400,
        Some("invalidSyntax"),
        format!("malformed request; received headers: {}", echoed.join("; ")),
    )
}

/// 200 with `total` bytes of an unfinished JSON array, streamed in 64 KiB chunks; the bytes
/// produced are counted ([`super::Emulator::idp_bytes_sent`]).
pub(super) fn huge_body(emu: &Emu, total: u64) -> Response {
    const CHUNK: u64 = 64 * 1024;
    let emu = emu.clone();
    let stream = futures::stream::unfold(0u64, move |sent| {
        let emu = emu.clone();
        async move {
            if sent >= total {
                return None;
            }
            let n = (total - sent).min(CHUNK);
            let mut chunk = vec![b' '; usize::try_from(n).unwrap_or(0)];
            if sent == 0 && !chunk.is_empty() {
                chunk[0] = b'[';
            }
            emu.idp_bytes_sent
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), sent + n))
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `startIndex` taken out of `uri`'s query, so every page read is the first.
pub(super) fn without_start_index(uri: &Uri) -> Uri {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .filter(|(k, _)| k != "startIndex")
            .collect();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let pq = if query.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{query}", uri.path())
    };
    pq.parse().unwrap_or_else(|_| uri.clone())
}

/// The request's own URL (`http://<Host><path>?<query>`), for a self-pointing link.
pub(super) fn own_url(headers: &HeaderMap, uri: &Uri) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("http://{host}{pq}")
}

/// How a processed answer is rewritten.
pub(super) enum Rewrite {
    /// Its JSON `id` becomes this.
    Id(String),
    /// Its `totalResults` becomes a million.
    Total,
    /// Its next link (Link header, `@odata.nextLink`) becomes `self_url`; a Graph page loses
    /// its `@odata.deltaLink`.
    SelfNext {
        /// The request's own URL.
        self_url: String,
    },
}

/// `response` rewritten by `how`.
pub(super) async fn rewrite(response: Response, how: Rewrite) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let mut json: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    match how {
        Rewrite::Id(id) => {
            if let Some(obj) = json.as_object_mut() {
                obj.insert("id".into(), id.into());
            }
        }
        Rewrite::Total => {
            if let Some(obj) = json.as_object_mut() {
                obj.insert("totalResults".into(), 1_000_000.into());
            }
        }
        Rewrite::SelfNext { self_url } => {
            if let Some(obj) = json.as_object_mut() {
                obj.remove("@odata.deltaLink");
                obj.insert("@odata.nextLink".into(), self_url.clone().into());
            }
            if let Ok(v) = HeaderValue::from_str(&format!("<{self_url}>; rel=\"next\"")) {
                parts.headers.insert(header::LINK, v);
            }
        }
    }
    let bytes = serde_json::to_vec(&json).expect("a JSON value serialises");
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}
