//! A five-agency network of real `custos-node` processes on loopback for a benchmark: created in
//! a folder, started, connected to (one client per agency, with the agency's adapter identity),
//! stopped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use custos_adapters::client::NodeClient;
use custos_api::pb::StatusRequest;
use custos_primitives::crypto::SuiteId;
use custos_testnet::consortium::{self, AGENCIES, InitOptions};
use custos_testnet::net::{self as tnet, NodeProcess};

use crate::{BenchError, Result};

/// Creates a five-agency consortium for `suite` in `dir` (which must be empty or absent), its
/// nodes on ports from `base_port` (p2p `base+i`, gRPC `base+100+i`, metrics `base+200+i`).
pub fn create(dir: &Path, suite: SuiteId, base_port: u16) -> Result<()> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let mut opts = InitOptions::new(suite, now).map_err(|e| BenchError::Other(e.to_string()))?;
    opts.base_port = base_port;
    consortium::init(dir, &opts).map_err(|e| BenchError::Io { path: dir.to_path_buf(), reason: e.to_string() })?;
    Ok(())
}

/// A running network.
#[derive(Debug)]
pub struct Network {
    /// The consortium folder.
    pub dir: PathBuf,
    /// The node processes, in agency order (court, procuratorate, police, prison, justice).
    pub nodes: Vec<NodeProcess>,
    /// A client per node, in the same order.
    pub clients: Vec<NodeClient>,
}

/// Finds a binary of this workspace: `env` if set, else next to the running executable (or
/// one folder up, for test binaries in `target/*/deps`), else on `PATH`.
pub fn binary(name: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for candidate in [dir.join(name), dir.join("..").join(name)] {
            if candidate.exists() {
                return candidate;
            }
        }
    }
    PathBuf::from(name)
}

impl Network {
    /// Starts every node of the consortium in `dir` and waits until each answers and has
    /// committed a block, and every node's adapter identity is connected.
    pub async fn start(dir: &Path) -> Result<Network> {
        let bin = tnet::node_binary();
        let nodes = tnet::start_all(dir, &bin)
            .map_err(|e| BenchError::Process { what: bin.display().to_string(), reason: e.to_string() })?;
        let mut net = Network { dir: dir.to_path_buf(), nodes, clients: Vec::new() };
        let deadline = Instant::now() + Duration::from_secs(90);
        for a in AGENCIES {
            let home = dir.join(a.id);
            let client = loop {
                match NodeClient::connect(&home, None).await {
                    Ok(c) if c.height().await.is_ok_and(|h| h >= 1) => break c,
                    _ if Instant::now() > deadline => {
                        return Err(BenchError::Network(format!(
                            "the {} node did not commit a block within 90 s (see {})",
                            a.id,
                            home.join("node.log").display()
                        )));
                    }
                    _ => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            };
            net.clients.push(client);
        }
        Ok(net)
    }

    /// Each node's last committed height.
    pub async fn heights(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for c in &self.clients {
            out.push(c.height().await.map_err(|e| BenchError::Network(e.to_string()))?);
        }
        Ok(out)
    }

    /// Pending transactions in each node's pool.
    pub async fn pools(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for c in &self.clients {
            let st = c
                .ledger()
                .status(StatusRequest {})
                .await
                .map_err(|e| BenchError::Network(format!("{}: {}", c.addr, e.message())))?;
            out.push(st.into_inner().mempool_txs);
        }
        Ok(out)
    }

    /// Waits until every pool is empty (or `limit` passes).
    pub async fn drain(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let pools = self.pools().await?;
            if pools.iter().all(|&p| p == 0) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BenchError::Network(format!("pools not drained after {limit:?}: {pools:?}")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops every node (SIGTERM, then kill after 10 s).
    pub fn stop(&mut self) {
        self.clients.clear();
        tnet::stop_all(&mut self.nodes);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET http://addr/path` over plain HTTP/1.0 (the nodes' metrics endpoint): the body.
pub async fn http_get(addr: &str, path: &str) -> Result<String> {
    let err = |e: std::io::Error| BenchError::Network(format!("GET http://{addr}{path}: {e}"));
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| BenchError::Network(format!("GET http://{addr}{path}: connect timed out")))?
        .map_err(err)?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.map_err(err)?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .map_err(|_| BenchError::Network(format!("GET http://{addr}{path}: read timed out")))?
        .map_err(err)?;
    let text = String::from_utf8_lossy(&buf);
    Ok(text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// The value of an unlabelled sample `name` in a Prometheus text exposition.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}
