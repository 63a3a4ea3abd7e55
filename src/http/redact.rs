//! One redaction for every text a server sent: before an error detail, a log line or a
//! message that quotes a server is shown, [`redact`] takes out
//! - every live secret scimsync holds or has sent (client secrets, access tokens, IdP API
//!   tokens), remembered by [`remember`] where each is read or received;
//! - whatever follows `Bearer`, `Basic` or `SSWS` (an echoed `Authorization` header, even one
//!   holding a secret scimsync never saw).
//!
//! A server that echoes the request (a 400 whose detail quotes the headers; a proxy's error
//! page) therefore never makes scimsync print a credential (issue 20, finding 14).

use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

/// What stands in for a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this are not searched for (they would redact ordinary words).
const MIN_SECRET: usize = 6;

static LIVE: Mutex<Vec<SecretString>> = Mutex::new(Vec::new());

/// Remember `secret` as live: [`redact`] takes it out of every text from now on.
pub fn remember(secret: &str) {
    if secret.len() < MIN_SECRET {
        return;
    }
    let mut live = LIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !live.iter().any(|s| s.expose_secret() == secret) {
        live.push(SecretString::from(secret));
    }
}

/// `text` with every live secret and every `Bearer …` / `Basic …` / `SSWS …` credential
/// replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    {
        let live = LIVE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for secret in live.iter() {
            let secret = secret.expose_secret();
            if out.contains(secret) {
                out = out.replace(secret, REDACTED);
            }
        }
    }
    schemes(&out)
}

/// A credential after an authorization scheme's name (as a header spells it: `Bearer`,
/// `Basic`, `SSWS`), replaced: a word of 8 or more token characters (RFC 6750 §2.1's
/// `b64token`), so that prose ("Basic authentication failed") mostly stays readable.
fn schemes(text: &str) -> String {
    let token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["Bearer ", "Basic ", "SSWS "]
        .iter()
        .filter_map(|s| rest.find(s).map(|i| (i, s.len())))
        .min()
    {
        let (i, len) = at;
        out.push_str(&rest[..i + len]);
        rest = &rest[i + len..];
        let spaces = rest.len() - rest.trim_start_matches(' ').len();
        out.push_str(&rest[..spaces]);
        rest = &rest[spaces..];
        let end = rest.find(|c: char| !token_char(c)).unwrap_or(rest.len());
        if end >= 8 {
            out.push_str(REDACTED);
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// Standard error through [`redact`]: the log's writer (one per event, written when
/// dropped), so that no log line shows a live secret whatever it quotes.
#[derive(Debug, Default)]
pub struct Stderr {
    buffer: Vec<u8>,
}

impl std::io::Write for Stderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let text = redact(&String::from_utf8_lossy(&std::mem::take(&mut self.buffer)));
        std::io::stderr().write_all(text.as_bytes())
    }
}

impl Drop for Stderr {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_secrets_and_schemes_are_taken_out() {
        remember("s3cr3t-live-value");
        let text = r#"{"detail":"bad header Authorization: Bearer eyJ.abc.def, x=s3cr3t-live-value","basic":"Basic dXNlcjpwYXNz"}"#;
        let out = redact(text);
        assert!(!out.contains("eyJ.abc.def"), "{out}");
        assert!(!out.contains("s3cr3t-live-value"), "{out}");
        assert!(!out.contains("dXNlcjpwYXNz"), "{out}");
        assert!(out.contains("Bearer [REDACTED]"), "{out}");
        assert!(out.contains("Basic [REDACTED]"), "{out}");
        assert_eq!(redact("Basic auth: failed"), "Basic auth: failed");
        assert_eq!(redact("no credential here"), "no credential here");
        assert_eq!(redact("SSWS 00abcdefgh"), "SSWS [REDACTED]");
    }
}
