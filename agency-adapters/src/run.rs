//! Starting an adapter from its configuration: state folder, salt secret, node connection,
//! metrics, submitter, and the outbound and inbound stages of the configured kind.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use tracing::{info, warn};

use custos_contracts::call::{Call, RegisterMemberCall};

use crate::client::NodeClient;
use crate::config::{Config, Kind};
use crate::error::{AdapterError, Result};
use crate::folder::Folder;
use crate::inbound::{self, InboundSettings, Inbox};
use crate::metrics::Metrics;
use crate::outbound::{self, Context, OutboundSettings, Outbox};
use crate::postgres::PgStore;
use crate::submit::Submitter;
use crate::webhook::WebhookStore;

/// File of the salt secret inside the state folder.
pub const SECRET_FILE: &str = "salt.key";

/// Reads the adapter's salt secret, creating it (32 random bytes, hex, mode 0600) on first run.
pub fn load_secret(state_dir: &Path) -> Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(state_dir).map_err(AdapterError::io("create", state_dir))?;
    let path = state_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let b = hex::decode(text.trim()).map_err(|_| AdapterError::Config {
                path: path.clone(),
                reason: "the salt secret is not hex".into(),
            })?;
            if b.len() < 16 {
                return Err(AdapterError::Config { path, reason: "the salt secret is shorter than 16 bytes".into() });
            }
            Ok(b)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = custos_primitives::crypto::random_bytes::<32>()
                .map_err(|e| AdapterError::Config { path: path.clone(), reason: e.to_string() })?;
            let tmp = state_dir.join(format!("{SECRET_FILE}.tmp"));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(AdapterError::io("create", &tmp))?;
            f.write_all(hex::encode(secret.as_slice()).as_bytes()).map_err(AdapterError::io("write", &tmp))?;
            f.sync_all().map_err(AdapterError::io("sync", &tmp))?;
            std::fs::rename(&tmp, &path).map_err(AdapterError::io("rename", &path))?;
            if let Ok(d) = std::fs::File::open(state_dir) {
                let _ = d.sync_all();
            }
            info!(path = %path.display(), "created the adapter's salt secret: back it up with the state folder");
            Ok(secret.to_vec())
        }
        Err(e) => Err(AdapterError::Io { op: "read", path, source: e }),
    }
}

/// Takes the state folder's lock (`state_dir/adapter.lock`), held while the returned file is
/// open: two adapters on one state folder would share a spool, a checkpoint and a salt secret.
pub fn lock_state(state_dir: &Path) -> Result<std::fs::File> {
    let path = state_dir.join("adapter.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(AdapterError::io("open", &path))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(AdapterError::Locked(state_dir.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => Err(AdapterError::Io { op: "lock", path, source: e }),
    }
}

/// Connects to the node, retrying while it is unreachable (it may be starting or restarting).
pub async fn connect_node(config: &Config, stop: &mut (impl Future<Output = ()> + Unpin)) -> Result<NodeClient> {
    let mut delay = Duration::from_millis(500);
    loop {
        match NodeClient::connect(&config.home, config.node.as_deref()).await {
            Ok(c) => return Ok(c),
            Err(e @ AdapterError::Node { .. }) => {
                warn!(error = %e, "node unreachable; retrying");
                tokio::select! {
                    _ = &mut *stop => return Err(AdapterError::Shutdown),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Registers the adapter's certificate on the ledger if it is not yet: the node accepts the
/// manifests it signs only from a registered member. Retries while the node is unreachable.
pub async fn register(
    node: &NodeClient,
    submitter: &Submitter,
    stop: &mut (impl Future<Output = ()> + Unpin),
) -> Result<()> {
    let mut delay = Duration::from_millis(500);
    loop {
        let attempt = async {
            let (registered, _, _) = node.account().await?;
            if registered {
                return Ok(());
            }
            let certificate = node
                .signer
                .cert_der
                .clone()
                .try_into()
                .map_err(|_| AdapterError::Rejected("the adapter certificate is too large".into()))?;
            info!(agency = %node.agency(), "registering the adapter's certificate");
            submitter.submit(Call::RegisterMember(RegisterMemberCall { certificate })).await.map(|_| ())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_permanent() && node.account().await.is_ok_and(|a| a.0) => return Ok(()),
            Err(e) if e.is_permanent() => return Err(e),
            Err(e) => {
                warn!(error = %e, "cannot register the adapter yet; retrying");
                tokio::select! {
                    _ = &mut *stop => return Err(AdapterError::Shutdown),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Runs the configured adapter until `stop` resolves.
pub async fn run(config: Config, stop: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    let kind = config.kind().map_err(|reason| AdapterError::Config { path: "".into(), reason })?;
    let secret = load_secret(&config.state_dir)?;
    let _lock = lock_state(&config.state_dir)?;
    let metrics = Metrics::new();
    if let Some(addr) = config.metrics_listen {
        metrics.clone().serve(addr).await?;
        info!(%addr, "metrics at /metrics");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut stop_connect = Box::pin(stopped());
    let node = connect_node(&config, &mut stop_connect).await?;
    info!(node = %node.addr, agency = %node.agency(), "connected");
    let (submitter, _task) = Submitter::start(node.clone(), config.outbound.window, metrics.clone());
    register(&node, &submitter, &mut Box::pin(stopped())).await?;
    let ctx = Context::new(node, submitter, secret, metrics);
    match kind {
        Kind::Postgres(pg) => {
            let store = PgStore::open(&pg.url, pg.inline_max).await?;
            stages(&config, ctx, store.clone(), store, stopped).await
        }
        Kind::Folder(f) => {
            let folder = Folder::open(&f.root, &config.state_dir, Duration::from_millis(f.settle_ms))?;
            stages(&config, ctx, folder.clone(), folder, stopped).await
        }
        Kind::Webhook(w) => {
            let store = WebhookStore::open(&config.state_dir, &w, ctx.node.suite().clone(), ctx.metrics.clone())?;
            let server = store.serve(w.listen, stopped()).await?;
            let r = stages(&config, ctx, store.clone(), store, stopped).await;
            server.abort();
            r
        }
    }
}

/// Runs the outbound and inbound stages side by side until stopped; the first to fail ends both.
pub async fn stages<O: Outbox, I: Inbox, S, F>(
    config: &Config,
    ctx: Context,
    outbox: O,
    inbox: I,
    stopped: S,
) -> Result<()>
where
    S: Fn() -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let out_settings = OutboundSettings {
        window: config.outbound.window,
        poll: config.poll(),
        retry_max: Duration::from_millis(config.outbound.retry_max_ms),
        scratch: config.state_dir.join("scratch"),
    };
    let in_settings = InboundSettings {
        documents: config.documents_dir(),
        fetch_documents: config.inbound.fetch_documents,
        acknowledge: config.inbound.acknowledge,
        start_height: config.inbound.start_height,
        poll: Duration::from_millis(config.inbound.poll_ms),
        findings_every: Duration::from_secs(config.inbound.findings_every_s),
    };
    let out = {
        let (ctx, stop) = (ctx.clone(), stopped());
        let enabled = config.outbound.enabled;
        async move {
            if enabled {
                outbound::run(ctx, outbox, out_settings, stop).await
            } else {
                stop.await;
                Ok(())
            }
        }
    };
    let inn = {
        let stop = stopped();
        let enabled = config.inbound.enabled;
        async move {
            if enabled {
                inbound::run(ctx, inbox, in_settings, stop).await
            } else {
                stop.await;
                Ok(())
            }
        }
    };
    let (a, b) = tokio::join!(out, inn);
    a.and(b)
}

/// Reconciles the configured source with the ledger since `since`.
pub async fn reconcile(config: Config, since: custos_contracts::call::Date) -> Result<crate::reconcile::Report> {
    let kind = config.kind().map_err(|reason| AdapterError::Config { path: "".into(), reason })?;
    let secret = load_secret(&config.state_dir)?;
    let node = NodeClient::connect(&config.home, config.node.as_deref()).await?;
    let metrics = Metrics::new();
    let (submitter, task) = Submitter::start(node.clone(), 1, metrics.clone());
    let ctx = Context::new(node, submitter, secret, metrics);
    let entries = match kind {
        Kind::Postgres(pg) => PgStore::open(&pg.url, pg.inline_max).await?.entries(&since.to_string()).await?,
        Kind::Folder(f) => Folder::open(&f.root, &config.state_dir, Duration::ZERO)?.entries(since)?,
        Kind::Webhook(w) => {
            WebhookStore::open(&config.state_dir, &w, ctx.node.suite().clone(), ctx.metrics.clone())?.entries(since)?
        }
    };
    let report = crate::reconcile::reconcile(&ctx, since, entries).await;
    task.abort();
    report
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_adapter_per_state_folder_and_a_stable_secret() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_state(dir.path()).unwrap();
        assert!(matches!(lock_state(dir.path()), Err(AdapterError::Locked(_))));
        drop(held);
        lock_state(dir.path()).unwrap();
        let a = load_secret(dir.path()).unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(load_secret(dir.path()).unwrap(), a, "the secret is made once");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(SECRET_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
