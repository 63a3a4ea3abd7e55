//! `[state]`: where the state is kept (a local file, or object storage).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ConfigError;
use crate::state::Store;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    path: Option<PathBuf>,
    url: Option<String>,
}

pub(super) fn validate_state(
    raw: RawState,
    dir: &Path,
    invalid: &impl Fn(&str, String) -> ConfigError,
) -> Result<Store, ConfigError> {
    match (raw.path, raw.url) {
        (Some(_), Some(_)) => Err(invalid(
            "state.url",
            "set path (a local file) or url (object storage), not both".into(),
        )),
        (None, Some(url)) if !url.contains("://") => Err(invalid(
            "state.url",
            format!(
                "{url:?} is not a URL: write s3://bucket/key, gs://bucket/key, az://container/key or file:///path (a relative path goes in state.path)"
            ),
        )),
        (None, Some(url)) => {
            Store::parse(&url, dir).map_err(|e| invalid("state.url", e.to_string()))
        }
        (path, None) => Ok(Store::File(
            dir.join(path.unwrap_or_else(|| PathBuf::from("scimsync.state.json"))),
        )),
    }
}
