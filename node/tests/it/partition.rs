//! Partitions (issue 10, point 1), on five real `custos-node` processes whose p2p links go
//! through TCP proxies the test cuts and heals (`custos_testnet::links`).
//!
//! With five validators of equal power a quorum is four: a side of four keeps committing, a
//! side of one, two or three cannot. After every heal all five nodes must hold the same blocks,
//! and every anchor seen committed must be on every node.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tonic::transport::Channel;

use custos_api::pb::ledger_client::LedgerClient;
use custos_primitives::crypto::SuiteId;
use custos_primitives::types::DocHash;
use custos_testnet::consortium::AGENCIES;
use custos_testnet::links::Links;

use super::crash::Load;
use super::network::{Net, all_agree, anchor_call, anchored, height, heights, seed, submit};

/// Prints the end of every node's log if the test fails while it is alive.
struct LogsOnPanic<'a>(&'a Net);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        let keep = std::env::temp_dir().join(format!("custos-partition-failure-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&keep);
        eprintln!("node logs copied to {}", keep.display());
        for (i, n) in self.0.nodes.iter().enumerate() {
            let _ = std::fs::copy(&n.log, keep.join(format!("{}.log", AGENCIES[i].id)));
            let text = std::fs::read_to_string(&n.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("---- {} log, last 40 lines ----", AGENCIES[i].id);
            for l in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{l}");
            }
        }
    }
}

/// A network whose links go through proxies.
async fn start(base_port: u16) -> (Net, Links) {
    let dir = Net::init(SuiteId::Sm, base_port);
    Links::route(dir.path(), base_port).unwrap();
    let links = Links::start(base_port).await.unwrap();
    (Net::launch(dir), links)
}

async fn wait_anchored(c: &mut LedgerClient<Channel>, d: &DocHash, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if anchored(c, d).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minority_stalls_majority_commits_then_all_agree() {
    let (net, mut links) = start(22900).await;
    let (mut clients, mut clerks) = net.registered_clerks().await;

    // The justice bureau's node is cut off from the other four.
    links.partition(&[4]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let isolated = height(&mut clients[4]).await;
    let mut docs = Vec::new();
    for k in 0..20u64 {
        let i = (k % 4) as usize;
        let (doc, call) = anchor_call(&net.suite, 40_000 + k);
        submit(&mut clients[i], clerks[i].tx(&net.chain_id, u64::MAX, call)).await.unwrap();
        docs.push(doc);
    }
    for d in &docs {
        assert!(wait_anchored(&mut clients[0], d, Duration::from_secs(60)).await, "the majority must commit {d}");
    }
    let majority = height(&mut clients[0]).await;
    assert!(majority >= isolated + 3, "the majority kept committing ({isolated} → {majority})");
    assert_eq!(height(&mut clients[4]).await, isolated, "the isolated node must not commit alone");
    eprintln!("justice isolated at {isolated}; the other four reached {majority}");

    links.heal_all();
    let tip = all_agree(&mut clients, &docs, "after healing a 4–1 partition").await;
    eprintln!("healed: all five agree on {tip} blocks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_three_split_commits_nothing_then_recovers() {
    let (net, mut links) = start(23200).await;
    let (mut clients, mut clerks) = net.registered_clerks().await;

    // Court and procuratorate on one side, police, prison and justice on the other.
    links.partition(&[0, 1]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stalled = heights(&mut clients).await;
    let (doc, call) = anchor_call(&net.suite, 50_000);
    submit(&mut clients[2], clerks[2].tx(&net.chain_id, u64::MAX, call)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(heights(&mut clients).await, stalled, "neither side of a 2–3 split may commit");
    assert!(!anchored(&mut clients[2], &doc).await);
    eprintln!("2–3 split: heights stayed at {stalled:?}");

    links.heal_all();
    assert!(wait_anchored(&mut clients[2], &doc, Duration::from_secs(90)).await, "commits resume after healing");
    let tip = all_agree(&mut clients, &[doc], "after healing a 2–3 split").await;
    assert!(tip > *stalled.iter().max().unwrap_or(&0));
    eprintln!("healed: all five agree on {tip} blocks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_links_for_a_minute_end_in_agreement() {
    let seed = seed("CUSTOS_PARTITION_SEED");
    eprintln!("partition test seed: {seed} (replay the same cuts with CUSTOS_PARTITION_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let (net, mut links) = start(23500).await;
    let (mut clients, clerks) = net.registered_clerks().await;
    let load = Load::start(&net, clerks, &clients);

    let started = Instant::now();
    let mut actions = 0;
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..2000))).await;
        actions += 1;
        match rng.random_range(0..10u32) {
            // Mostly single links toggling.
            0..=6 => {
                let a = rng.random_range(0..5usize);
                let b = (a + rng.random_range(1..5usize)) % 5;
                if links.is_up(a, b) {
                    links.cut(a, b);
                } else {
                    links.heal(a, b);
                }
            }
            // Sometimes a whole random partition.
            7 | 8 => {
                links.heal_all();
                let size = rng.random_range(1..3usize);
                let mut side: Vec<usize> = Vec::new();
                while side.len() < size {
                    let n = rng.random_range(0..5usize);
                    if !side.contains(&n) {
                        side.push(n);
                    }
                }
                links.partition(&side);
            }
            _ => links.heal_all(),
        }
    }
    links.heal_all();
    eprintln!("{actions} link changes in {:?}", started.elapsed());
    // Let the clerks see their last transactions through, then stop them.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let committed = load.stop().await;
    assert!(!committed.is_empty(), "the load committed nothing in a minute of flapping links");
    let guard = LogsOnPanic(&net);
    let tip = all_agree(&mut clients, &committed, "after a minute of flapping links").await;
    std::mem::forget(guard);
    eprintln!("{} anchors committed; all five agree on {tip} blocks (seed {seed})", committed.len());
}
