//! Catch-up: a node whose disk is `blocks` blocks behind the others is started; the time from
//! its start until it has committed every block the others had at that moment gives blocks per
//! second (value sync: fetching, validating, executing and storing each block with its
//! certificate).
//!
//! The node's data folder is copied while it is stopped at height `h`, the node is restarted and
//! the network (all five validators) goes on to `h + blocks`; then the node is stopped again and
//! its data folder replaced by the copy. Its disk is then exactly what it would be had it been
//! stopped at `h`. The other four alone would also get there, but every fifth height would wait
//! for the absent proposer's timeout, which makes 10,000 blocks take hours instead of minutes.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::info;

use custos_testnet::net as tnet;

use crate::net::{Network, http_get, metric};
use crate::{BenchError, Result};

/// Which node is stopped (the police's).
const LAGGARD: usize = 2;

/// Catch-up figures.
#[derive(Clone, Debug, Serialize)]
pub struct CatchUp {
    /// Blocks the node was behind when restarted.
    pub blocks_behind: u64,
    /// Seconds from its restart (process start included) to reaching the others' height.
    pub seconds: f64,
    /// Blocks per second caught up.
    pub blocks_per_s: f64,
    /// Heights per second the network committed while the node's copy aged (empty blocks).
    pub network_heights_per_s: f64,
}

async fn height_of(net: &Network, i: usize) -> Option<u64> {
    let text = http_get(&net.nodes.get(i)?.metrics, "/metrics").await.ok()?;
    metric(&text, "custos_height").map(|h| h as u64)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let io = |p: &Path, e: std::io::Error| BenchError::Io { path: p.to_path_buf(), reason: e.to_string() };
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io(from, e))? {
        let entry = entry.map_err(|e| io(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(|e| io(&src, e))?.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| io(&src, e))?;
        }
    }
    Ok(())
}

fn restart(net: &mut Network, agency: &str) -> Result<()> {
    let bin = tnet::node_binary();
    let node = tnet::start_node(&net.dir, agency, &bin)
        .map_err(|e| BenchError::Process { what: bin.display().to_string(), reason: e.to_string() })?;
    if let Some(slot) = net.nodes.get_mut(LAGGARD) {
        *slot = node;
    }
    Ok(())
}

/// Runs the catch-up of `blocks` blocks; gives up after `limit`.
pub async fn run(net: &mut Network, blocks: u64, limit: Duration) -> Result<CatchUp> {
    let agency = net.nodes.get(LAGGARD).map(|n| n.agency.clone()).unwrap_or_default();
    let data = net.dir.join(&agency).join("data");
    let copy = net.dir.join(format!("{agency}-data-copy"));
    if let Some(n) = net.nodes.get_mut(LAGGARD) {
        tnet::stop(n);
    }
    copy_dir(&data, &copy)?;
    restart(net, &agency)?;
    let stopped_at = {
        let db = custos_node::store::Store::open(copy.join("db"))
            .map_err(|e| BenchError::Io { path: copy.clone(), reason: e.to_string() })?;
        db.last_committed_height()
            .map_err(|e| BenchError::Io { path: copy.clone(), reason: e.to_string() })?
            .unwrap_or(0)
    };
    let target = stopped_at + blocks;
    let down = Instant::now();
    let deadline = down + limit;
    let mut last_log = Instant::now();
    let network_height = loop {
        let h = height_of(net, 0).await.unwrap_or(0);
        if h >= target {
            break h;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Network(format!(
                "the network reached only height {h} of {target} within {limit:?}"
            )));
        }
        if last_log.elapsed() > Duration::from_secs(15) {
            info!(height = h, target, "catch-up: waiting for the network to commit");
            last_log = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let network_heights_per_s = (network_height - stopped_at) as f64 / down.elapsed().as_secs_f64();
    if let Some(n) = net.nodes.get_mut(LAGGARD) {
        tnet::stop(n);
    }
    std::fs::remove_dir_all(&data).map_err(|e| BenchError::Io { path: data.clone(), reason: e.to_string() })?;
    std::fs::rename(&copy, &data).map_err(|e| BenchError::Io { path: copy.clone(), reason: e.to_string() })?;
    // The others' height now: what the node must reach.
    let network_height = height_of(net, 0).await.unwrap_or(network_height);
    let restarted = Instant::now();
    restart(net, &agency)?;
    let behind = network_height - stopped_at;
    loop {
        if height_of(net, LAGGARD).await.is_some_and(|h| h >= network_height) {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Network(format!(
                "{agency}'s node did not catch up to height {network_height} within {limit:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = restarted.elapsed().as_secs_f64();
    Ok(CatchUp { blocks_behind: behind, seconds, blocks_per_s: behind as f64 / seconds, network_heights_per_s })
}
