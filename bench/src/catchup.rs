//! Catch-up: one node is stopped while the other four commit `blocks` blocks, then restarted;
//! the time from its restart until it has committed every block the others had at that moment
//! gives blocks per second (value sync: fetching, validating, executing and storing each block
//! with its certificate).

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
    /// Heights per second the four others committed while it was down (empty blocks).
    pub network_heights_per_s: f64,
}

async fn height_of(net: &Network, i: usize) -> Option<u64> {
    let text = http_get(&net.nodes.get(i)?.metrics, "/metrics").await.ok()?;
    metric(&text, "custos_height").map(|h| h as u64)
}

/// Runs the catch-up of `blocks` blocks; gives up after `limit`.
pub async fn run(net: &mut Network, blocks: u64, limit: Duration) -> Result<CatchUp> {
    let stopped_at = height_of(net, LAGGARD).await.ok_or_else(|| BenchError::Network("no height".into()))?;
    let agency = net.nodes.get(LAGGARD).map(|n| n.agency.clone()).unwrap_or_default();
    if let Some(n) = net.nodes.get_mut(LAGGARD) {
        tnet::stop(n);
    }
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
            info!(height = h, target, "catch-up: waiting for the others to commit");
            last_log = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let network_heights_per_s = (network_height - stopped_at) as f64 / down.elapsed().as_secs_f64();
    let bin = tnet::node_binary();
    let restarted = Instant::now();
    let node = tnet::start_node(&net.dir, &agency, &bin)
        .map_err(|e| BenchError::Process { what: bin.display().to_string(), reason: e.to_string() })?;
    if let Some(slot) = net.nodes.get_mut(LAGGARD) {
        *slot = node;
    }
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
