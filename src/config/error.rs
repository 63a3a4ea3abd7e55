//! What can be wrong with a config file, and the checks every section shares: each error
//! names the file and key and says what was expected.

use crate::endpoint::{Endpoint, EndpointError};

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {cause}; pass another with --config FILE")]
    Read {
        /// The file.
        path: String,
        /// The I/O error (in the message; not an error source, so `{:#}` says it once).
        cause: std::io::Error,
    },
    /// Not TOML, or not this schema (unknown key, wrong type).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, with line, column and key.
        message: String,
    },
    /// A value that does not fit.
    #[error("config file {path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The key, dotted (`target.region`, `group[2].target_id`).
        key: String,
        /// What was wrong and what is expected.
        message: String,
    },
}

/// `text` as a checked URL for `key` (https, or http only to loopback).
pub fn endpoint(
    key: &str,
    text: &str,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<Endpoint, ConfigError> {
    Endpoint::parse(text, key).map_err(|e| match e {
        EndpointError::Invalid { .. }
        | EndpointError::Plaintext { .. }
        | EndpointError::Scheme { .. } => invalid(key, e.to_string()),
    })
}

/// `value` (else `default`) if it is in `1..=max`, as a `T` (every `max` fits one).
pub fn positive<T: TryFrom<i64>>(
    key: &str,
    value: Option<i64>,
    default: i64,
    max: i64,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<T, ConfigError> {
    let v = value.unwrap_or(default);
    let out_of_range = || invalid(key, format!("{v} is out of range: expected 1 to {max}"));
    if !(1..=max).contains(&v) {
        return Err(out_of_range());
    }
    T::try_from(v).map_err(|_| out_of_range())
}
