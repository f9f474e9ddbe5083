//! The adapter's configuration file (TOML). See `docs/operator-guide.md` ("Agency adapters").
//!
//! ```toml
//! home = "/srv/custos/court"          # the agency home: adapter identity, keys, genesis
//! node = "127.0.0.1:26101"            # optional: default is [rpc] listen of home/node.toml
//! state_dir = "/var/lib/custos-adapter"   # salt secret, scratch space, folder/webhook state
//! metrics_listen = "127.0.0.1:9464"  # optional
//!
//! [outbound]
//! window = 32                         # records (and transactions) in flight
//!
//! [inbound]
//! documents = "/srv/custos/inbox-documents"
//!
//! [postgres]                          # exactly one of [postgres], [folder], [webhook]
//! url = "host=127.0.0.1 user=custos dbname=court"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{AdapterError, Result};

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The agency home.
    pub home: PathBuf,
    /// The node's gRPC address (default: the home's `node.toml`).
    #[serde(default)]
    pub node: Option<String>,
    /// The adapter's own state.
    pub state_dir: PathBuf,
    /// Where `/metrics` is served.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Outbound settings.
    #[serde(default)]
    pub outbound: OutboundConfig,
    /// Inbound settings.
    #[serde(default)]
    pub inbound: InboundConfig,
    /// The PostgreSQL adapter.
    #[serde(default)]
    pub postgres: Option<PostgresConfig>,
    /// The watched-folder adapter.
    #[serde(default)]
    pub folder: Option<FolderConfig>,
    /// The HTTP webhook adapter.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
}

/// `[outbound]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Whether to send at all.
    pub enabled: bool,
    /// Records worked on at once.
    pub window: usize,
    /// Pause between polls of an idle source, ms.
    pub poll_ms: u64,
    /// Longest delay before a record is retried, ms.
    pub retry_max_ms: u64,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig { enabled: true, window: 32, poll_ms: 500, retry_max_ms: 30_000 }
    }
}

/// `[inbound]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Whether to deliver events at all.
    pub enabled: bool,
    /// Where fetched documents go (default: `<state_dir>/documents`).
    pub documents: Option<PathBuf>,
    /// Fetch the documents addressed to the agency.
    pub fetch_documents: bool,
    /// Post the agency's receipt for each fetched document.
    pub acknowledge: bool,
    /// First height read when there is no checkpoint.
    pub start_height: u64,
    /// Pause when caught up, ms.
    pub poll_ms: u64,
    /// How often to poll supervision findings, s (0: never).
    pub findings_every_s: u64,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            enabled: true,
            documents: None,
            fetch_documents: true,
            acknowledge: true,
            start_height: 1,
            poll_ms: 1000,
            findings_every_s: 300,
        }
    }
}

/// `[postgres]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection string (`postgresql://…` or `host=… user=… dbname=…`).
    pub url: String,
    /// Inbox documents up to this size are also stored in the row, bytes.
    #[serde(default = "default_inline_max")]
    pub inline_max: u64,
}

fn default_inline_max() -> u64 {
    crate::postgres::DEFAULT_INLINE_MAX
}

/// `[folder]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderConfig {
    /// The exchange folder: `outbox/`, `done/`, `failed/`, `inbox/` inside it.
    pub root: PathBuf,
    /// A document must stay unchanged this long before it is picked up, ms.
    #[serde(default = "default_settle")]
    pub settle_ms: u64,
}

fn default_settle() -> u64 {
    2000
}

/// `[webhook]` (see [`crate::webhook`] for the HTTP contract).
///
/// ```toml
/// [webhook]
/// listen = "127.0.0.1:8090"
/// event_url = "http://case-system.court.local/custos/events"
/// secret_file = "webhook.secret"      # the shared HMAC secret, as text
/// wait_ms = 30000
/// allowed_hosts = ["files.court.local"]
/// body_limit_mib = 700                # optional
/// fetch_max_mib = 512                 # optional
/// fetch_timeout_s = 300               # optional
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where the adapter accepts the agency system's POSTs.
    pub listen: SocketAddr,
    /// Where events are POSTed (`http://…`); none: events are not pushed.
    #[serde(default)]
    pub event_url: Option<String>,
    /// The shared secret of the HMAC signatures (a file holding it).
    pub secret_file: PathBuf,
    /// How long a POST waits for its anchor before answering 202, ms.
    #[serde(default = "default_wait")]
    pub wait_ms: u64,
    /// Hosts a document URL may point at (the agency's own network).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Largest request body accepted, MiB (base64 documents are a third larger than the file).
    #[serde(default = "default_body_limit")]
    pub body_limit_mib: u64,
    /// Largest document fetched from a `document_url`, MiB.
    #[serde(default = "default_fetch_max")]
    pub fetch_max_mib: u64,
    /// How long fetching a `document_url` may take, s.
    #[serde(default = "default_fetch_timeout")]
    pub fetch_timeout_s: u64,
}

fn default_wait() -> u64 {
    30_000
}

fn default_body_limit() -> u64 {
    700
}

fn default_fetch_max() -> u64 {
    512
}

fn default_fetch_timeout() -> u64 {
    300
}

/// Which adapter the file configures.
#[derive(Clone, Debug)]
pub enum Kind {
    /// PostgreSQL outbox/inbox.
    Postgres(PostgresConfig),
    /// Watched folder.
    Folder(FolderConfig),
    /// HTTP webhook.
    Webhook(WebhookConfig),
}

impl Config {
    /// Reads and checks a configuration file. Relative paths are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |reason: String| AdapterError::Config { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut c: Config = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        abs(&mut c.home);
        abs(&mut c.state_dir);
        if let Some(d) = c.inbound.documents.as_mut() {
            abs(d);
        }
        if let Some(f) = c.folder.as_mut() {
            abs(&mut f.root);
        }
        if let Some(w) = c.webhook.as_mut() {
            abs(&mut w.secret_file);
        }
        c.kind().map_err(err)?;
        if c.outbound.window == 0 {
            return Err(err("[outbound] window must be at least 1".into()));
        }
        Ok(c)
    }

    /// The configured adapter: exactly one of `[postgres]`, `[folder]`, `[webhook]`.
    pub fn kind(&self) -> std::result::Result<Kind, String> {
        match (&self.postgres, &self.folder, &self.webhook) {
            (Some(p), None, None) => Ok(Kind::Postgres(p.clone())),
            (None, Some(f), None) => Ok(Kind::Folder(f.clone())),
            (None, None, Some(w)) => Ok(Kind::Webhook(w.clone())),
            (None, None, None) => Err("configure one adapter: [postgres], [folder] or [webhook]".into()),
            _ => Err("configure only one of [postgres], [folder], [webhook] per adapter process".into()),
        }
    }

    /// Where fetched documents go.
    pub fn documents_dir(&self) -> PathBuf {
        self.inbound.documents.clone().unwrap_or_else(|| self.state_dir.join("documents"))
    }

    /// The outbound poll interval.
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.outbound.poll_ms)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_adapter_per_file_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.toml");
        std::fs::write(&f, "home = \"h\"\nstate_dir = \"s\"\n[postgres]\nurl = \"host=x\"\n").unwrap();
        let c = Config::load(&f).unwrap();
        assert_eq!(c.home, dir.path().join("h"));
        assert!(matches!(c.kind(), Ok(Kind::Postgres(_))));
        assert_eq!(c.outbound.window, 32);
        std::fs::write(&f, "home = \"h\"\nstate_dir = \"s\"\n").unwrap();
        assert!(Config::load(&f).unwrap_err().to_string().contains("configure one adapter"));
        std::fs::write(&f, "home = \"h\"\nstate_dir = \"s\"\n[postgres]\nurl = \"x\"\n[folder]\nroot = \"r\"\n")
            .unwrap();
        assert!(Config::load(&f).unwrap_err().to_string().contains("only one"));
        std::fs::write(&f, "home = \"h\"\nstate_dir = \"s\"\nwindoww = 3\n[postgres]\nurl = \"x\"\n").unwrap();
        assert!(Config::load(&f).unwrap_err().to_string().contains("unknown field"));
    }
}
