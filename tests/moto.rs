//! A real S3-protocol server for tests: `moto` in server mode on 127.0.0.1, installed on first
//! use into a virtual environment under the cargo target folder (`target/moto-venv`;
//! `.ci/run` installs it ahead). The tests talk to it through the real `object_store` client
//! (inside the scimsync binary, and here for what other writers do); only the bucket is
//! created over plain HTTP, which moto accepts unsigned.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use object_store::ObjectStoreExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;

/// The bucket every server starts with.
pub const BUCKET: &str = "scimsync-test";
/// The access key the tests use.
pub const ACCESS_KEY: &str = "AKIATESTSCIMSYNC";
/// The secret key the tests use: it must never appear in any output.
pub const SECRET_KEY: &str = "moto-secret-Zq8x7Wv6Ut5Sr4";

/// `target/moto-venv`, installed once per machine ([`crate::python_venv::venv`]).
pub fn venv() -> &'static PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| crate::python_venv::venv("moto-venv", "moto[server]>=5.2,<6"))
}

/// A running moto server with one bucket; killed when dropped.
pub struct Moto {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
}

impl Moto {
    /// Start a server on a free loopback port and create [`BUCKET`].
    pub async fn start() -> Self {
        let server = venv().join("bin/moto_server");
        // Another process may take the port between its release and moto's bind: try again.
        for _ in 0..3 {
            let addr = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            let child = Command::new(&server)
                .args(["-H", "127.0.0.1", "-p", &addr.port().to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut moto = Self { child, addr };
            if moto.ready().await {
                moto.create_bucket().await;
                return moto;
            }
            let _ = moto.child.kill();
        }
        panic!("moto_server did not start on 127.0.0.1");
    }

    /// Poll until it answers HTTP, up to about 30 s; false if it exited or never answered.
    async fn ready(&mut self) -> bool {
        for _ in 0..300 {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok()
                && let Ok(r) = http().get(self.url("/moto-api/")).send().await
            {
                return r.status().is_success() || r.status().is_client_error();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    async fn create_bucket(&self) {
        let r = http().put(self.url(&format!("/{BUCKET}"))).send().await;
        let r = r.unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The environment a scimsync run needs to reach it.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.url("")),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .into()
    }

    /// `s3://BUCKET/key`.
    #[allow(
        clippy::unused_self,
        reason = "a method, so that a test reads moto.s3(key) like the rest of the server"
    )]
    pub fn s3(&self, key: &str) -> String {
        format!("s3://{BUCKET}/{key}")
    }

    /// A client of the bucket, as another writer would have (the same real client).
    pub fn client(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(self.url(""))
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()
            .unwrap()
    }

    /// The object `key`, if it exists.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.client().get(&ObjectPath::from(key)).await {
            Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("get {key}: {e}"),
        }
    }

    /// Write the object `key` unconditionally (another writer, behind scimsync's back).
    pub async fn put(&self, key: &str, body: &[u8]) {
        self.client()
            .put(&ObjectPath::from(key), body.to_vec().into())
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e}"));
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}
