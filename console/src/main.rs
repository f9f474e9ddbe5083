//! `custos-console`: an agency's web console, served over HTTPS beside its node (decision 0016).
//!
//! It reads the agency home (profile, genesis, member and transport identities) and talks to
//! its own node over the node's mutual-TLS gRPC API, with the transport identity of the signed-in
//! member's role, so the node applies its own visibility rules to every read. Every page is
//! rendered from the same proof-checked views the `custos` command prints (`custos_cli`).
//!
//! Sign-in: `custos console sign-in --url URL` prints a link holding a short-lived token signed by
//! the member key; the console checks it against the member's record on the ledger and opens a
//! server-side session (HttpOnly, Secure, SameSite=Strict cookie). Every signed-in request, and
//! every sign-in attempt, is a line of the console's audit log.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;

mod audit;
mod auth;
mod i18n;
mod pages;
mod server;
mod state;

#[derive(Parser, Debug)]
#[command(
    name = "custos-console",
    version,
    about = "The agency's Custos web console (HTTPS): network status, cases, documents, supervision, upload",
    long_about = "The agency's Custos web console, served over HTTPS beside its node.\n\n\
        Pages: network status; a case's timeline (documents, agencies, dates, transactions, \
        deliveries and receipts); a document's history with its evidence bundle; the supervision \
        findings (filter, CSV export) with their evidence; an e-dossier upload form. Chinese by \
        default, English by the switch in the header.\n\n\
        Members sign in with a link from `custos console sign-in --url URL`, signed by their own \
        member key; no password and no key reach the console. The console reads through the \
        agency's node with the transport identity of the member's role, so the node's visibility \
        rules apply; every request is written to the audit log.\n\n\
        Exit status: 0 after a clean shutdown (SIGINT/SIGTERM), 2 if it could not start."
)]
struct Cli {
    /// The agency home folder (profile, genesis, identities, case key), e.g. DIR/procuratorate.
    #[arg(long, env = "CUSTOS_HOME", value_name = "DIR")]
    home: PathBuf,
    /// The node's gRPC address (HOST:PORT); default: [rpc] listen of the home's node.toml.
    #[arg(long, value_name = "HOST:PORT")]
    node: Option<String>,
    /// Address to serve HTTPS on.
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// The console's public address, the audience of sign-in tokens (default: https://LISTEN).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// HTTPS certificate chain (PEM; ECDSA P-256 or RSA, from the agency's web PKI).
    #[arg(long, value_name = "FILE")]
    tls_cert: PathBuf,
    /// HTTPS private key (PKCS#8, SEC1 or RSA PEM).
    #[arg(long, value_name = "FILE")]
    tls_key: PathBuf,
    /// The audit log (JSON lines, appended); default: HOME/console-audit.jsonl.
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// How long a session lasts after sign-in, e.g. 8h.
    #[arg(long, default_value = "8h", value_parser = humantime::parse_duration)]
    session: Duration,
    /// How often a signed-in member's standing (revocation, certificate expiry) is re-checked on
    /// the ledger; a member revoked since sign-in is signed out at the next request after that.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    recheck: Duration,
    /// Largest upload accepted, in MiB.
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    max_upload_mib: usize,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    if cli.session.is_zero() {
        bail!("--session must be longer than 0");
    }
    let url = cli.url.clone().unwrap_or_else(|| format!("https://{}", cli.listen));
    if !url.starts_with("https://") {
        bail!("--url must be an https:// address, got {url:?}");
    }
    let tls = server::tls_config(&cli.tls_cert, &cli.tls_key)?;
    let audit_path = cli.audit_log.clone().unwrap_or_else(|| cli.home.join("console-audit.jsonl"));
    let audit = audit::AuditLog::open(&audit_path)
        .with_context(|| format!("cannot open the audit log {}", audit_path.display()))?;
    let state = state::AppState::load(state::Options {
        home: cli.home.clone(),
        node: cli.node.clone(),
        audience: url.trim_end_matches('/').to_string(),
        session_ttl: cli.session,
        recheck: cli.recheck,
        max_upload: cli.max_upload_mib.checked_mul(1 << 20).ok_or_else(|| anyhow!("--max-upload-mib is too large"))?,
        audit,
    })?;
    let state = Arc::new(state);
    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("cannot listen on {}", cli.listen))?;
    tracing::info!(
        listen = %cli.listen,
        url = %url,
        agency = %state.agency,
        audit_log = %audit_path.display(),
        "console serving; members sign in with `custos console sign-in --url {url}`"
    );
    let app = pages::router(state.clone());
    server::serve(listener, tls, app, shutdown()).await
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down");
}
