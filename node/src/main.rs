//! `custos-node --config FILE`: runs one agency's node until SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{error, info, warn};

use custos_node::config::NodeConfig;

#[derive(Parser, Debug)]
#[command(
    name = "custos-node",
    version,
    about = "The Custos node: one agency's member of the permissioned BFT ledger",
    long_about = "Runs one agency's Custos node: the consensus engine (Malachite) over libp2p with the other \
        agencies' validators, RocksDB storage, the transaction pool, and Prometheus metrics. Stops cleanly on \
        SIGTERM or Ctrl-C. See docs/operator-guide.md for the configuration keys."
)]
struct Args {
    /// Node configuration (TOML).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match NodeConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("custos-node: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("custos-node: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("custos-node: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(cfg: &NodeConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cfg.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cfg: NodeConfig) -> Result<()> {
    let node = custos_node::node::start(&cfg).await.context("the node could not start")?;
    custos_node::node::serve_api(&cfg, &node).await.context("the API could not start")?;
    let metrics = node.shared.metrics.clone();
    let listener = tokio::net::TcpListener::bind(cfg.metrics.listen)
        .await
        .with_context(|| format!("cannot listen for metrics on {}", cfg.metrics.listen))?;
    info!(addr = %cfg.metrics.listen, "metrics at /metrics");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { continue };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                // A client that sends nothing is dropped after 5 s instead of holding the socket.
                let read = tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf)).await;
                let n = read.ok().and_then(Result::ok).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let (status, body) = if req.starts_with("GET /metrics") {
                    ("200 OK", metrics.render())
                } else {
                    ("404 Not Found", "see /metrics\n".to_string())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    let engine_done = node.engine.handle;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => info!("interrupt: shutting down"),
        r = engine_done => {
            warn!(?r, "the consensus engine stopped");
            anyhow::bail!("the consensus engine stopped; see the log above");
        }
    }
    node.engine.actor.stop(Some("shutdown".into()));
    // Give the actors a moment to flush the WAL and close sockets; RocksDB closes on drop.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    info!("stopped");
    Ok(())
}
