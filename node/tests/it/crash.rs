//! Crash safety under load (issue 10, point 3), on five real `custos-node` processes.
//!
//! Twenty rounds, each a `kill -9` (SIGKILL) of one validator at a random moment while five
//! clerks keep anchoring through every node. In about one round in five the restarted node is
//! killed again during its recovery (WAL replay, store reopen, first sync). After every restart
//! the node must come up, still hold the block it had committed before the kill (the same
//! bytes), and catch up with the others. Then one node's data folder is deleted and it resyncs
//! from its peers. At the end all five agree on every block, and every anchor that was ever seen
//! committed is on every node.
//!
//! The seed is printed; `CUSTOS_CRASH_SEED=<seed>` replays the same victims and delays (the
//! processes' own timing is not replayable, so a replay hits similar, not identical, points).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tonic::transport::Channel;

use custos_api::pb::ledger_client::LedgerClient;
use custos_api::pb::{GetBlockRequest, SubmitTxRequest};
use custos_primitives::crypto::SuiteId;
use custos_primitives::types::{DocHash, MemberRole};
use custos_testnet::consortium::AGENCIES;
use custos_testnet::net;

use super::network::{Clerk, Net, all_agree, anchor_call, anchored, height, seed, wait_height};

const ROUNDS: usize = 20;
/// Transactions a clerk pipelines before it waits for them to commit.
const BATCH: u64 = 8;

/// Five clerks anchoring in a closed loop, each through its own node first and any other node
/// when that one is down, re-submitting what has not committed after a while (a transaction
/// accepted by a node that is then killed is gone from its pool).
pub struct Load {
    stop: Arc<AtomicBool>,
    committed: Arc<Mutex<Vec<DocHash>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(net: &Net, clerks: Vec<Clerk>, clients: &[LedgerClient<Channel>]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, mut clerk) in clerks.into_iter().enumerate() {
            let mut clients = clients.to_vec();
            clients.rotate_left(i);
            let (stop, committed) = (stop.clone(), committed.clone());
            let (chain, suite) = (net.chain_id.clone(), net.suite.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut pending: Vec<(DocHash, Vec<u8>)> = (0..BATCH)
                        .map(|_| {
                            let (doc, call) = anchor_call(&suite, 1_000_000 * (i as u64 + 1) + n);
                            n += 1;
                            (doc, clerk.tx(&chain, u64::MAX, call))
                        })
                        .collect();
                    while !pending.is_empty() {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        for (_, tx) in &pending {
                            submit_anywhere(&mut clients, tx).await;
                        }
                        let deadline = Instant::now() + Duration::from_secs(8);
                        while !pending.is_empty() && Instant::now() < deadline {
                            let mut still = Vec::new();
                            for (d, tx) in pending {
                                if committed_anywhere(&mut clients, &d).await {
                                    committed.lock().unwrap().push(d);
                                } else {
                                    still.push((d, tx));
                                }
                            }
                            pending = still;
                            if !pending.is_empty() {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    }
                }
            }));
        }
        Load { stop, committed, tasks }
    }

    /// Stops the clerks; returns every anchor seen committed.
    pub async fn stop(self) -> Vec<DocHash> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        self.committed.lock().unwrap().clone()
    }
}

/// Offers `tx` to the nodes in order until one takes it or refuses it for a reason other than
/// being down or busy (e.g. a duplicate, or a nonce that already committed).
async fn submit_anywhere(clients: &mut [LedgerClient<Channel>], tx: &[u8]) {
    for c in clients.iter_mut() {
        for _ in 0..20 {
            let req = SubmitTxRequest { tx: tx.to_vec() };
            match tokio::time::timeout(Duration::from_secs(3), c.submit_tx(req)).await {
                Ok(Ok(_)) => return,
                Ok(Err(s)) if s.code() == tonic::Code::ResourceExhausted => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Ok(Err(s))
                    if matches!(
                        s.code(),
                        tonic::Code::AlreadyExists | tonic::Code::FailedPrecondition | tonic::Code::InvalidArgument
                    ) =>
                {
                    return;
                }
                // Down, restarting, or timed out: the next node.
                _ => break,
            }
        }
    }
}

async fn committed_anywhere(clients: &mut [LedgerClient<Channel>], d: &DocHash) -> bool {
    for c in clients.iter_mut() {
        if anchored(c, d).await {
            return true;
        }
    }
    false
}

pub async fn block_at(c: &mut LedgerClient<Channel>, h: u64) -> Option<Vec<u8>> {
    let r = c.get_block(GetBlockRequest { height: h }).await.ok()?.into_inner();
    r.found.then_some(r.block)
}

/// The highest height any running node reports, except `except`.
async fn tip(net: &Net, except: usize) -> u64 {
    let mut best = 0;
    for i in (0..5).filter(|&i| i != except) {
        if let Ok(mut c) = super::network::try_client(&net.home(i), &net.nodes[i].rpc, MemberRole::Clerk).await {
            best = best.max(height(&mut c).await);
        }
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_under_load_loses_nothing() {
    let seed = seed("CUSTOS_CRASH_SEED");
    eprintln!("crash test seed: {seed} (replay the same victims and delays with CUSTOS_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Net::start(SuiteId::Sm, 22300);
    let (clients, clerks) = net.registered_clerks().await;
    let load = Load::start(&net, clerks, &clients);

    for round in 1..=ROUNDS {
        let victim = rng.random_range(0..5usize);
        let delay = Duration::from_millis(rng.random_range(0..2500));
        let again = rng.random_bool(0.2).then(|| Duration::from_millis(rng.random_range(0..800)));
        tokio::time::sleep(delay).await;
        let mut vc = net.client(victim).await;
        let before = height(&mut vc).await;
        assert!(before > 0, "round {round}: node {victim} reports no height (seed {seed})");
        let block = block_at(&mut vc, before).await;
        assert!(block.is_some(), "round {round}: node {victim} has no block at its own height {before}");
        drop(vc);

        net::crash(&mut net.nodes[victim]);
        net.restart(victim);
        if let Some(after) = again {
            tokio::time::sleep(after).await;
            net::crash(&mut net.nodes[victim]);
            net.restart(victim);
        }
        // It comes up (the client waits up to 30 s for it) and still has what it committed.
        let mut vc = net.client(victim).await;
        assert_eq!(
            block_at(&mut vc, before).await,
            block,
            "round {round}: {} lost or changed block {before} across kill -9 (seed {seed})",
            AGENCIES[victim].id
        );
        let target = tip(&net, victim).await;
        let reached = wait_height(&mut vc, target, Duration::from_secs(90)).await;
        eprintln!(
            "round {round:2}: kill -9 {:<13} at height {before}{} → back, caught up to {reached}",
            AGENCIES[victim].id,
            again.map(|d| format!(", again {} ms into its recovery", d.as_millis())).unwrap_or_default()
        );
    }

    // A node whose data folder is gone resyncs from its peers.
    let victim = rng.random_range(0..5usize);
    net::crash(&mut net.nodes[victim]);
    let data = net.home(victim).join("data");
    std::fs::remove_dir_all(&data).unwrap();
    net.restart(victim);
    let mut vc = net.client(victim).await;
    let target = tip(&net, victim).await;
    wait_height(&mut vc, target, Duration::from_secs(180)).await;
    eprintln!("{}: data folder deleted, resynced to height {target}", AGENCIES[victim].id);

    let committed = load.stop().await;
    assert!(committed.len() >= 50, "the load committed only {} anchors", committed.len());
    let mut clients = net.clients().await;
    let tip = all_agree(&mut clients, &committed, &format!("after {ROUNDS} kill -9 rounds (seed {seed})")).await;
    eprintln!("{} anchors committed during {ROUNDS} kill -9 rounds; all five agree on {tip} blocks", committed.len());
}
