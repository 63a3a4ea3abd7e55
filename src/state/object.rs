//! A state kept in object storage (S3 or any S3-compatible store, Google Cloud Storage, Azure
//! Blob Storage), through the `object_store` crate.
//!
//! - Reads return the object's ETag (and version, where the store has one); writes are
//!   conditional on it (`If-Match`, a GCS generation, an Azure ETag), or on the object's
//!   absence (`If-None-Match: *`) when there was none. A write that loses the race is
//!   [`StateError::Conflict`], never retried.
//! - The apply lock is the object `<key>.lock`, created only if absent, holding a
//!   [`LockHolder`] as JSON; it is deleted on release.
//! - Credentials come from the standard environment variables (`AWS_*`, `GOOGLE_*`,
//!   `AZURE_*`), read by the crate's `from_env` builders. They never appear in messages:
//!   [`ObjectState`]'s `Debug` prints only the URL, and error texts have the values of
//!   secret variables blanked out.
//! - Rule 7 of DESIGN.md: an `http://` endpoint is allowed only on loopback (checked with
//!   [`Endpoint`]); scimsync turns on what conditional writes need (S3: `ETagMatch`).

use std::fmt;
use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use secrecy::SecretString;
use url::Url;

use super::lock::LockHolder;
use super::{State, StateError};

/// The version a state was read at, for a conditional write: an object's ETag and, where the
/// store has them, its version (a GCS generation, an S3 version id). A local file, and a
/// state that did not exist yet, have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The object's ETag.
    pub e_tag: Option<String>,
    /// The object's version or generation.
    pub version: Option<String>,
}
use crate::endpoint::Endpoint;

/// Which object storage service a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `s3://bucket/key`: Amazon S3 or an S3-compatible store (`AWS_ENDPOINT_URL`).
    S3,
    /// `gs://bucket/key`: Google Cloud Storage.
    Gcs,
    /// `az://container/key`: Azure Blob Storage.
    Azure,
}

impl Service {
    /// A human name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::S3 => "S3",
            Self::Gcs => "Google Cloud Storage",
            Self::Azure => "Azure Blob Storage",
        }
    }
}

/// Why a state URL could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// Not a URL, or one without a bucket or key.
    #[error("{url:?} {message}")]
    Invalid {
        /// The text given.
        url: String,
        /// What was wrong and what is expected.
        message: String,
    },
    /// An endpoint variable that is plaintext off loopback, or not a URL.
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
    /// The crate refused the settings (a bad region, a malformed variable).
    #[error("{url}: the {service} settings from the environment were refused: {message}")]
    Builder {
        /// The state URL.
        url: String,
        /// Which service.
        service: &'static str,
        /// The crate's message, secrets blanked.
        message: String,
    },
}

/// A state object: where it is and a client for its store.
#[derive(Clone)]
pub struct ObjectState {
    url: Url,
    service: Service,
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    lock_key: ObjectPath,
    /// Values of the secret variables it was built from, blanked out of its messages.
    secrets: Arc<Vec<SecretString>>,
}

// The store's own Debug may print its credentials: print only the URL.
impl fmt::Debug for ObjectState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectState({})", self.url)
    }
}

/// Environment variables whose values are secrets, blanked out of any message.
const SECRET_VARS: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_MASTER_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
];

/// `text` with each of `secrets` replaced by `[REDACTED]`.
fn blank_secrets(text: String, secrets: &[SecretString]) -> String {
    secrets
        .iter()
        .map(secrecy::ExposeSecret::expose_secret)
        .filter(|s| s.len() >= 4)
        .fold(text, |t, secret| t.replace(secret, "[REDACTED]"))
}

/// The variables of `env` named `name`.
fn var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// The first endpoint variable set among `names`, checked: https, or http to loopback.
fn endpoint_from(env: &[(String, String)], names: &[&str]) -> Result<Option<Endpoint>, UrlError> {
    names
        .iter()
        .find_map(|name| var(env, name).map(|text| Endpoint::parse(text, name)))
        .transpose()
        .map_err(UrlError::from)
}

/// `builder` given every variable of `env` that starts with `prefix`, as the crate's
/// `from_env` does with the process environment (names it does not know are skipped).
fn configure<B, K: std::str::FromStr>(
    env: &[(String, String)],
    prefix: &str,
    builder: B,
    with: impl Fn(B, K, &str) -> B,
) -> B {
    env.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .fold(builder, |b, (k, v)| match k.to_ascii_lowercase().parse() {
            Ok(key) => with(b, key, v),
            Err(_) => b,
        })
}

impl ObjectState {
    /// A state object at `url` (`s3://`, `gs://` or `az://`), with settings and credentials
    /// from the process environment. Nothing is sent yet.
    pub fn from_url(url: &Url) -> Result<Self, UrlError> {
        Self::from_url_in(url, &std::env::vars().collect::<Vec<_>>())
    }

    /// [`ObjectState::from_url`] with the environment `env` (name, value) instead of the
    /// process's: S3 reads the `AWS_*` variables, GCS `GOOGLE_*`, Azure `AZURE_*`.
    pub fn from_url_in(url: &Url, env: &[(String, String)]) -> Result<Self, UrlError> {
        let secrets: Arc<Vec<SecretString>> = Arc::new(
            SECRET_VARS
                .iter()
                .filter_map(|name| var(env, name))
                .map(SecretString::from)
                .collect(),
        );
        let invalid = |message: &str| UrlError::Invalid {
            url: url.to_string(),
            message: message.to_owned(),
        };
        let service = match url.scheme() {
            "s3" | "s3a" => Service::S3,
            "gs" => Service::Gcs,
            "az" | "azure" | "abfs" | "abfss" => Service::Azure,
            _ => return Err(invalid("is not an s3://, gs://, az:// or file:// URL")),
        };
        if url.username() != "" || url.password().is_some() {
            return Err(invalid(
                "holds credentials: put them in the environment (AWS_*, GOOGLE_*, AZURE_* variables), never in the config",
            ));
        }
        let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| {
            invalid("names no bucket: write it as s3://bucket/path/scimsync.state.json")
        })?;
        let key = url.path().trim_start_matches('/');
        if key.is_empty() || key.ends_with('/') {
            return Err(invalid(
                "names no object: write the whole key, e.g. s3://bucket/path/scimsync.state.json",
            ));
        }
        let key = ObjectPath::parse(key).map_err(|e| invalid(&format!("has a bad key: {e}")))?;
        let lock_key = ObjectPath::parse(format!("{key}.lock"))
            .map_err(|e| invalid(&format!("has a bad key: {e}")))?;
        let builder_error = |e: object_store::Error| UrlError::Builder {
            url: url.to_string(),
            service: service.name(),
            message: blank_secrets(e.to_string(), &secrets),
        };
        let store: Arc<dyn ObjectStore> = match service {
            Service::S3 => {
                let endpoint = endpoint_from(
                    env,
                    &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"],
                )?;
                endpoint_from(env, &["AWS_ENDPOINT_URL_STS"])?;
                let allow_http = endpoint
                    .as_ref()
                    .is_some_and(|e| e.url().scheme() == "http");
                let mut b = configure(env, "AWS_", AmazonS3Builder::new(), |b, k, v| {
                    b.with_config(k, v)
                })
                .with_bucket_name(bucket)
                // AWS S3 and the S3-compatible stores honour If-Match / If-None-Match.
                .with_conditional_put(S3ConditionalPut::ETagMatch)
                .with_allow_http(allow_http);
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e.as_str());
                }
                Arc::new(b.build().map_err(builder_error)?)
            }
            Service::Gcs => Arc::new(
                configure(
                    env,
                    "GOOGLE_",
                    GoogleCloudStorageBuilder::new(),
                    |b, k, v| b.with_config(k, v),
                )
                .with_bucket_name(bucket)
                .build()
                .map_err(builder_error)?,
            ),
            Service::Azure => Arc::new(
                configure(env, "AZURE_", MicrosoftAzureBuilder::new(), |b, k, v| {
                    b.with_config(k, v)
                })
                .with_container_name(bucket)
                .with_allow_http(false)
                .build()
                .map_err(builder_error)?,
            ),
        };
        Ok(Self {
            url: url.clone(),
            service,
            store,
            key,
            lock_key,
            secrets,
        })
    }

    /// The state URL (never holds a credential).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Which service it is on.
    pub fn service(&self) -> Service {
        self.service
    }

    fn shown(&self) -> String {
        self.url.to_string()
    }

    fn failed(&self, what: &str, e: &object_store::Error) -> StateError {
        StateError::Store {
            path: self.shown(),
            message: blank_secrets(format!("{what}: {e}"), &self.secrets),
        }
    }

    /// The state's key in its bucket or container.
    pub(super) fn key(&self) -> &ObjectPath {
        &self.key
    }

    /// The bytes of the object at `path` (`None`: there is none).
    pub(super) async fn get_bytes(
        &self,
        path: &ObjectPath,
    ) -> Result<Option<bytes::Bytes>, StateError> {
        match self.store.get(path).await {
            Ok(got) => got
                .bytes()
                .await
                .map(Some)
                .map_err(|e| self.failed(&format!("reading {path}"), &e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(&format!("reading {path}"), &e)),
        }
    }

    /// Create the object at `path` only if there is none (`If-None-Match: *`): false when
    /// another writer made it first.
    pub(super) async fn create(
        &self,
        path: &ObjectPath,
        bytes: Vec<u8>,
    ) -> Result<bool, StateError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(self.failed(&format!("creating {path}"), &e)),
        }
    }

    /// The objects under `prefix`.
    pub(super) async fn list(&self, prefix: &ObjectPath) -> Result<Vec<ObjectPath>, StateError> {
        use futures::TryStreamExt;
        self.store
            .list(Some(prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| self.failed(&format!("listing {prefix}/"), &e))
    }

    /// Delete the object at `path` (a missing one is fine).
    pub(super) async fn delete(&self, path: &ObjectPath) -> Result<(), StateError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(&format!("deleting {path}"), &e)),
        }
    }

    /// Read the state and its version; a missing object is an empty state.
    pub async fn load(&self) -> Result<(State, Option<Version>), StateError> {
        match self.store.get(&self.key).await {
            Ok(got) => {
                let version = Version {
                    e_tag: got.meta.e_tag.clone(),
                    version: got.meta.version.clone(),
                };
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|e| self.failed("reading the state object", &e))?;
                Ok((State::decode(&bytes, &self.shown())?, Some(version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok((State::default(), None)),
            Err(e) => Err(self.failed("reading the state object", &e)),
        }
    }

    /// Write `state` if the object is still at `expected` (absent when `None`).
    pub async fn save(
        &self,
        state: &mut State,
        expected: Option<&Version>,
    ) -> Result<Version, StateError> {
        self.save_bytes(state.encode(), expected).await
    }

    /// Write the encoded state `bytes` (moved into the payload, not copied) if the object is
    /// still at `expected` (absent when `None`).
    pub async fn save_bytes(
        &self,
        bytes: Vec<u8>,
        expected: Option<&Version>,
    ) -> Result<Version, StateError> {
        let mode = match expected {
            Some(v) => PutMode::Update(UpdateVersion {
                e_tag: v.e_tag.clone(),
                version: v.version.clone(),
            }),
            None => PutMode::Create,
        };
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let payload = PutPayload::from(bytes);
        match self.store.put_opts(&self.key, payload, opts).await {
            Ok(put) => Ok(Version {
                e_tag: put.e_tag,
                version: put.version,
            }),
            // Another writer won: it wrote (Precondition, AlreadyExists) or deleted
            // (NotFound on If-Match) the state since it was read.
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. }
                | object_store::Error::NotFound { .. },
            ) => Err(StateError::Conflict { path: self.shown() }),
            Err(e) => Err(self.failed("writing the state object", &e)),
        }
    }

    /// Create the lock object, or fail naming its holder.
    pub async fn lock(&self) -> Result<(), StateError> {
        let holder = LockHolder::here();
        if self.create(&self.lock_key, holder.to_json()).await? {
            return Ok(());
        }
        let holder = match self.holder().await {
            Ok(Some(h)) => h.to_string(),
            Ok(None) => "its holder released it just now; try again".into(),
            Err(e) => format!("its holder could not be read: {e}"),
        };
        Err(StateError::Locked {
            path: self.shown(),
            holder: format!(
                "lock object {}.lock, held by {holder}; if that run is dead, remove the lock with `scimsync state unlock`",
                self.url
            ),
        })
    }

    /// Who holds the lock, if anyone.
    pub async fn holder(&self) -> Result<Option<LockHolder>, StateError> {
        Ok(self
            .get_bytes(&self.lock_key)
            .await?
            .map(|bytes| LockHolder::from_json(&bytes)))
    }

    /// Delete the lock object (a missing one is fine).
    pub async fn unlock(&self) -> Result<(), StateError> {
        self.delete(&self.lock_key).await
    }

    /// Check the store is reachable and writable: create a probe object beside the state
    /// (only if absent), then delete it.
    pub async fn probe(&self) -> Result<(), StateError> {
        let probe = ObjectPath::parse(format!(
            "{}.probe-{}-{}",
            self.key,
            std::process::id(),
            rand::random::<u32>()
        ))
        .map_err(|e| StateError::Store {
            path: self.shown(),
            message: e.to_string(),
        })?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        self.store
            .put_opts(
                &probe,
                PutPayload::from_static(b"scimsync validate\n"),
                opts,
            )
            .await
            .map_err(|e| self.failed("writing a probe object (conditional create)", &e))?;
        self.store
            .delete(&probe)
            .await
            .map_err(|e| self.failed("deleting the probe object", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn urls_need_a_bucket_and_a_key_and_no_credentials() {
        for (bad, why) in [
            ("s3:///key.json", "no bucket"),
            ("s3://bucket", "no object"),
            ("s3://bucket/dir/", "no object"),
            ("s3://user:pw@bucket/k.json", "credentials"),
            ("ftp://bucket/k.json", "s3://"),
        ] {
            let e = ObjectState::from_url(&url(bad)).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn debug_prints_only_the_url() {
        let env = [
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-secret-value"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let s =
            ObjectState::from_url_in(&url("s3://bucket/team/scimsync.state.json"), &env).unwrap();
        assert_eq!(
            format!("{s:?}"),
            "ObjectState(s3://bucket/team/scimsync.state.json)"
        );
        assert_eq!(s.lock_key.as_ref(), "team/scimsync.state.json.lock");
        let store = super::super::Store::Object(s.clone());
        let shown = format!("{store:?} {:?}", super::super::StoreLock::Object(s.clone()));
        assert!(
            !shown.contains("secret-value") && !shown.contains("AKID"),
            "{shown}"
        );
        assert_eq!(
            blank_secrets("denied for wJalrXUtnFEMI-secret-value".into(), &s.secrets),
            "denied for [REDACTED]"
        );
    }

    #[test]
    fn plaintext_endpoints_only_on_loopback() {
        let at = |endpoint: &str| {
            let env = [("AWS_ENDPOINT_URL".to_owned(), endpoint.to_owned())];
            ObjectState::from_url_in(&url("s3://b/k.json"), &env)
        };
        assert!(at("http://127.0.0.1:9000").is_ok());
        assert!(at("https://s3.example.com").is_ok());
        let e = at("http://minio.internal:9000").unwrap_err().to_string();
        assert!(
            e.contains("AWS_ENDPOINT_URL") && e.contains("loopback"),
            "{e}"
        );
    }
}
