//! A base URL of a remote service (Genesys, its login service, an IdP), checked once.
//!
//! Rule 7 of DESIGN.md lives here: plaintext `http://` is refused unless the host is a
//! loopback address, so that a token can never cross a network in the clear. Tests and the
//! emulator run on `127.0.0.1`, which is allowed.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

/// Why a base URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The text is not a URL.
    #[error("{what} {url:?} is not a valid URL ({cause}): write it as https://host[/path]")]
    Invalid {
        /// Which setting held it.
        what: String,
        /// The text given.
        url: String,
        /// The parser's complaint (in the message; not an error source, so `{:#}` says it once).
        cause: url::ParseError,
    },
    /// `http://` to a host that is not loopback.
    #[error(
        "{what} {url} uses plain http:// to a host that is not loopback: tokens would cross the network in the clear; use https://"
    )]
    Plaintext {
        /// Which setting held it.
        what: String,
        /// The URL given.
        url: String,
    },
    /// A scheme other than http or https.
    #[error(
        "{what} {url} has scheme {scheme:?}: only https:// (or http:// to loopback) is supported"
    )]
    Scheme {
        /// Which setting held it.
        what: String,
        /// The URL given.
        url: String,
        /// The scheme found.
        scheme: String,
    },
}

/// A checked base URL: https, or http to a loopback host. Never has a trailing slash.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint(Url);

impl Endpoint {
    /// Parse and check `text`; `what` names the setting in errors (e.g. `target.api_base`).
    pub fn parse(text: &str, what: &str) -> Result<Self, EndpointError> {
        let url = Url::parse(text.trim()).map_err(|cause| EndpointError::Invalid {
            what: what.to_owned(),
            url: text.to_owned(),
            cause,
        })?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(EndpointError::Plaintext {
                    what: what.to_owned(),
                    url: url.to_string(),
                });
            }
            other => {
                return Err(EndpointError::Scheme {
                    what: what.to_owned(),
                    url: url.to_string(),
                    scheme: other.to_owned(),
                });
            }
        }
        Ok(Self(url))
    }

    /// The URL of `segments` below this base; each segment is percent-encoded, so an id
    /// holding `/` or `?` stays one segment.
    ///
    /// # Panics
    ///
    /// Never: an http(s) URL always has a path.
    pub fn join(&self, segments: &[&str]) -> Url {
        let mut url = self.0.clone();
        {
            let mut path = url
                .path_segments_mut()
                .expect("http(s) URLs always have a path");
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    /// The base URL itself.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The base URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({})", self.as_str())
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        assert!(Endpoint::parse("https://api.mypurecloud.com", "t").is_ok());
        assert!(Endpoint::parse("http://127.0.0.1:8080", "t").is_ok());
        assert!(Endpoint::parse("http://127.3.4.5", "t").is_ok());
        assert!(Endpoint::parse("http://[::1]:9/x", "t").is_ok());
        assert!(Endpoint::parse("http://localhost:1", "t").is_ok());
        let err = Endpoint::parse("http://api.mypurecloud.com", "target.api_base").unwrap_err();
        assert!(err.to_string().contains("target.api_base"), "{err}");
        assert!(matches!(err, EndpointError::Plaintext { .. }));
        assert!(Endpoint::parse("http://10.0.0.1", "t").is_err());
        assert!(Endpoint::parse("ftp://127.0.0.1", "t").is_err());
        assert!(Endpoint::parse("not a url", "t").is_err());
    }

    #[test]
    fn join_encodes_segments() {
        let e = Endpoint::parse("http://127.0.0.1:1/api/v2/scim/v2/", "t").unwrap();
        assert_eq!(e.as_str(), "http://127.0.0.1:1/api/v2/scim/v2");
        assert_eq!(
            e.join(&["groups", "a/b?c"]).as_str(),
            "http://127.0.0.1:1/api/v2/scim/v2/groups/a%2Fb%3Fc"
        );
    }
}
