//! A Byzantine node (issue 10, point 2), on five real `custos-node` processes: the police
//! node is restarted with a `[byzantine]` section (a test-only mode of the binaries the test
//! suite builds) and made to
//!
//! 1. equivocate: two different signed prevotes and precommits in every round, and two
//!    different signed proposals whenever it proposes (Malachite's Byzantine network proxy,
//!    signing with the node's real key);
//! 2. propose invalid blocks: a transaction with a bad signature, a transaction replayed
//!    from an earlier block, a state root over a write no transaction made, a corrupted
//!    state root;
//! 3. replay its old proposal streams at every new height.
//!
//! Throughout, five clerks keep anchoring through the nodes. The four honest nodes must keep
//! committing (liveness), all five must hold the same blocks and every anchor seen committed
//! (safety), no block the police node spoiled may be committed, and the equivocation must be
//! recorded as evidence, reported by the status call (what `custos status` prints) and check
//! out against the police node's public key.

use std::time::{Duration, Instant};

use tonic::transport::Channel;

use custos_api::pb::StatusRequest;
use custos_api::pb::ledger_client::LedgerClient;
use custos_consensus::block::Block;
use custos_consensus::misbehaviour::{self, Misbehaviour, MisbehaviourKind};
use custos_primitives::crypto::{Hash, SuiteId};
use custos_primitives::types::NodeId;
use custos_testnet::consortium::{self, AGENCIES};
use custos_testnet::net;

use super::crash::{Load, block_at};
use super::network::{Net, all_agree, height, heights, seed};

/// The misbehaving node: the police.
const BYZ: usize = 2;

/// Restarts the police node with `section` appended to its node.toml (empty: honest again).
fn restart_as(net: &mut Net, section: &str) {
    net::stop(&mut net.nodes[BYZ]);
    let path = net.home(BYZ).join("node.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let honest = match text.find("\n[byzantine]") {
        Some(i) => text[..i + 1].to_string(),
        None => text,
    };
    std::fs::write(&path, format!("{honest}{section}")).unwrap();
    net.restart(BYZ);
}

/// What an honest node logs when it rejects a proposed block, and what the police node logs
/// when it spoils one.
const REJECTED: &str = "invalid block proposed";
const SPOILED: &str = "BYZANTINE: proposing an invalid block";
/// Why honest nodes reject the spoiled blocks, for the four ways of spoiling them.
const SPOIL_REASONS: [&str; 3] = ["bad signature", "nonce", "state root differs"];

/// The lines of a node's log (kept across restarts) containing `needle`.
fn log_lines(net: &Net, i: usize, needle: &str) -> Vec<String> {
    let text = std::fs::read_to_string(&net.nodes[i].log).unwrap_or_default();
    text.lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
}

fn log_count(net: &Net, i: usize, needle: &str) -> usize {
    log_lines(net, i, needle).len()
}

/// Waits until the honest nodes have committed `n` more heights (the police node's slots
/// included), failing if they stall.
async fn honest_advance(clients: &mut [LedgerClient<Channel>], n: u64, what: &str) -> (u64, u64) {
    let start = height(&mut clients[0]).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let hs = heights(clients).await;
        let honest_min = hs.iter().enumerate().filter(|(i, _)| *i != BYZ).map(|(_, h)| *h).min().unwrap_or(0);
        if honest_min >= start + n {
            return (start, honest_min);
        }
        assert!(Instant::now() < deadline, "{what}: honest nodes stalled: {hs:?}, from {start}, wanted +{n}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every block in `from..=to` on node 0, decoded.
async fn blocks(c: &mut LedgerClient<Channel>, from: u64, to: u64) -> Vec<Block> {
    let mut out = Vec::new();
    for h in from..=to {
        let bytes = block_at(c, h).await.unwrap_or_else(|| panic!("block {h} missing"));
        out.push(Block::decode_untrusted(&bytes).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byzantine_node_cannot_break_safety_or_liveness_and_its_equivocation_is_recorded() {
    let seed = seed("CUSTOS_BYZANTINE_SEED");
    eprintln!("byzantine test seed {seed} (replay with CUSTOS_BYZANTINE_SEED={seed})");
    let mut net = Net::start(SuiteId::Sm, 23800);
    let (mut clients, clerks) = net.registered_clerks().await;
    let genesis = consortium::load_genesis(net.dir.path()).unwrap();
    let police = {
        let st = clients[BYZ].status(StatusRequest {}).await.unwrap().into_inner();
        NodeId(Hash(st.node_id.try_into().unwrap()))
    };
    let police_key = genesis.validators.iter().find(|v| v.node_id == police).unwrap().public_key;
    let load = Load::start(&net, clerks, &clients);

    // 1. Equivocation.
    restart_as(
        &mut net,
        &format!(
            "\n[byzantine]\n[byzantine.engine]\nseed = {seed}\nequivocate_votes = {{ mode = \"always\" }}\n\
             equivocate_proposals = {{ mode = \"always\" }}\n"
        ),
    );
    clients[BYZ] = net.client(BYZ).await;
    let (from, to) = honest_advance(&mut clients, 12, "equivocation").await;
    eprintln!("equivocating police node: honest nodes went from {from} to {to}");
    let mut kinds = std::collections::BTreeSet::new();
    for (i, c) in clients.iter_mut().enumerate() {
        if i == BYZ {
            continue;
        }
        let st = c.status(StatusRequest {}).await.unwrap().into_inner();
        assert!(st.misbehaviour_total > 0, "{} recorded no equivocation", AGENCIES[i].id);
        for m in &st.misbehaviour {
            assert_eq!(m.validator, police.0.0.to_vec(), "{} blames another validator", AGENCIES[i].id);
            assert_eq!(m.agency, "police");
            let kind = match m.kind.as_str() {
                "double-proposal" => MisbehaviourKind::DoubleProposal,
                "double-prevote" => MisbehaviourKind::DoublePrevote,
                "double-precommit" => MisbehaviourKind::DoublePrecommit,
                other => panic!("unknown kind {other}"),
            };
            kinds.insert(m.kind.clone());
            let record = Misbehaviour {
                height: m.height,
                round: m.round,
                validator: police,
                kind,
                first: m.first.clone(),
                second: m.second.clone(),
            };
            misbehaviour::verify(&record, &genesis.genesis.chain_id, &genesis.suite, &police_key)
                .unwrap_or_else(|e| panic!("{}'s evidence does not verify: {e}", AGENCIES[i].id));
            // A record whose messages were swapped for another validator's key must fail.
            let other = genesis.validators.iter().find(|v| v.node_id != police).unwrap().public_key;
            assert!(misbehaviour::verify(&record, &genesis.genesis.chain_id, &genesis.suite, &other).is_err());
        }
    }
    eprintln!("evidence recorded by the honest nodes: {kinds:?}");
    assert!(kinds.contains("double-prevote") && kinds.contains("double-precommit"), "vote equivocation: {kinds:?}");
    assert!(kinds.contains("double-proposal"), "proposal equivocation: {kinds:?}");
    all_agree(&mut clients, &[], "after equivocation").await;

    // 2. Invalid blocks, one way after the other.
    let honest = [0, 1, 3, 4];
    for (how, reason) in [
        ("bad_signature", "bad signature"),
        ("replayed_tx", "nonce"),
        ("forged_write", "state root differs"),
        ("wrong_state_root", "state root differs"),
    ] {
        let rejected_before: Vec<usize> = honest.iter().map(|&i| log_count(&net, i, REJECTED)).collect();
        let spoiled_before = log_count(&net, BYZ, SPOILED);
        restart_as(&mut net, &format!("\n[byzantine]\ninvalid_blocks = \"{how}\"\n"));
        clients[BYZ] = net.client(BYZ).await;
        let (from, to) = honest_advance(&mut clients, 12, how).await;
        let spoiled = log_count(&net, BYZ, SPOILED) - spoiled_before;
        eprintln!("{how}: honest nodes went from {from} to {to}; the police node spoiled {spoiled} proposals");
        assert!(spoiled > 0, "{how}: the police node never proposed a spoiled block");
        for (k, &i) in honest.iter().enumerate() {
            let lines = log_lines(&net, i, REJECTED);
            let new = &lines[rejected_before[k].min(lines.len())..];
            assert!(!new.is_empty(), "{how}: {} never rejected a spoiled block", AGENCIES[i].id);
            // The first rejections of a phase may still be of the previous mode's blocks (one
            // proposed just before the restart, or re-offered from the store after it).
            assert!(
                new.iter().any(|l| l.contains(reason)),
                "{how}: {} never rejected a block for {reason:?}: {new:?}",
                AGENCIES[i].id
            );
            assert!(
                new.iter().all(|l| SPOIL_REASONS.iter().any(|r| l.contains(r))),
                "{how}: {} rejected a block for an unexpected reason: {new:?}",
                AGENCIES[i].id
            );
            if k == 0
                && let Some(line) = new.iter().find(|l| l.contains(reason))
            {
                eprintln!("  {}: {line}", AGENCIES[i].id);
            }
        }
        // Once the police node runs in this mode, every block it builds is spoiled: none of
        // them may be committed. (The first blocks of the window may predate the restart.)
        let restarted_at = from + 2;
        for b in blocks(&mut clients[0], restarted_at, to).await {
            assert_ne!(
                b.header.proposer, police,
                "{how}: a block built by the police node at {} was committed",
                b.header.height
            );
        }
    }

    // 3. Replayed proposal streams.
    restart_as(&mut net, "\n[byzantine]\nreplay_proposals = true\n");
    clients[BYZ] = net.client(BYZ).await;
    let (from, to) = honest_advance(&mut clients, 15, "replay").await;
    let replays = log_count(&net, BYZ, "BYZANTINE: replaying old proposal streams");
    // The replayed streams are of past heights: honest nodes drop them without a rejection.
    eprintln!("replaying police node: honest nodes went from {from} to {to}; {replays} replays");
    assert!(replays > 0, "the police node never replayed a proposal stream");

    // Honest again: it rejoins, and everyone agrees on everything committed under load.
    restart_as(&mut net, "");
    clients[BYZ] = net.client(BYZ).await;
    honest_advance(&mut clients, 5, "honest again").await;
    let docs = load.stop().await;
    assert!(!docs.is_empty(), "the clerks committed nothing");
    let tip = all_agree(&mut clients, &docs, "after the Byzantine phases").await;
    eprintln!("all five agree on {tip} blocks and {} anchors", docs.len());
}
