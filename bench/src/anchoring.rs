//! Anchoring throughput and commit latency on a five-node network.
//!
//! - **Saturation:** one client per node keeps `window` signed `Anchor` transactions in flight
//!   against its node (re-submitting a transaction the node answers `busy`) for the measured
//!   window; committed anchors per second are counted from the commit stream of one node.
//! - **Latency:** an open-loop generator sends at a fixed rate on a fixed schedule (transaction
//!   `i` is due at `start + i / rate`, whatever happened to earlier ones, so a slow network
//!   cannot slow its own load down); each transaction's latency runs from its due time to the
//!   commit event of the node it was sent to, recorded in an HDR histogram.
//!
//! Transactions are signed before the clock starts, on every core, so the nodes do not share
//! the machine with signing while they are measured; the signing time is reported.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parity_scale_codec::Encode;
use serde::Serialize;
use tokio_stream::StreamExt;

use custos_adapters::client::{NodeClient, Signer};
use custos_api::pb::{SubmitTxRequest, SubscribeRequest};
use custos_contracts::call::{AnchorCall, BusinessDates, Call, DocType, RegisterMemberCall};
use custos_primitives::crypto::{Hash, Suite};
use custos_primitives::types::{AgencyId, CaseRef, DocHash, TxId, UnsignedTransaction};

use crate::net::Network;
use crate::{BenchError, Result};

/// Blocks a benchmark transaction stays valid for: longer than any run.
const VALIDITY: u64 = 10_000_000;

/// A transaction signed ahead of time.
#[derive(Clone, Debug)]
pub struct Signed {
    /// Its id.
    pub id: TxId,
    /// SCALE bytes.
    pub bytes: Vec<u8>,
}

fn net_err(c: &NodeClient, s: &tonic::Status) -> BenchError {
    BenchError::Network(c.node_err(s).to_string())
}

fn kind(s: &tonic::Status) -> &str {
    s.metadata().get(custos_api::ERROR_KIND_KEY).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Registers every node's adapter certificate (nonce 0) and waits for the commits.
pub async fn register_all(net: &Network) -> Result<()> {
    for c in &net.clients {
        let s = &c.signer;
        let certificate = s
            .cert_der
            .clone()
            .try_into()
            .map_err(|_| BenchError::Other("the adapter certificate is too large".into()))?;
        let tx = UnsignedTransaction {
            chain_id: s.chain_id.clone(),
            signer: s.fingerprint,
            nonce: 0,
            valid_until: VALIDITY,
            call: Call::RegisterMember(RegisterMemberCall { certificate }),
        }
        .sign(&s.key)
        .map_err(|e| BenchError::Other(format!("cannot sign: {e}")))?;
        match c.ledger().submit_tx(SubmitTxRequest { tx: tx.encode() }).await {
            Ok(_) => {}
            Err(st) if st.code() == tonic::Code::AlreadyExists => {}
            Err(st) => return Err(net_err(c, &st)),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for c in &net.clients {
        loop {
            if c.account().await.is_ok_and(|(registered, _, _)| registered) {
                break;
            }
            if Instant::now() > deadline {
                return Err(BenchError::Network(format!("{}'s adapter was not registered within 60 s", c.agency())));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Signs `count` anchors of `signer` with nonces from `first_nonce`, on every core.
pub fn presign(signer: &Signer, recipient: &AgencyId, first_nonce: u64, count: u64) -> Result<Vec<Signed>> {
    let threads = crate::machine::cores() as u64;
    let per = count.div_ceil(threads.max(1));
    let doc_type = DocType::new("LETTER").map_err(BenchError::Other)?;
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for t in 0..threads {
            let (lo, hi) = (first_nonce + t * per, (first_nonce + (t + 1) * per).min(first_nonce + count));
            let doc_type = doc_type.clone();
            handles.push(scope.spawn(move || -> Result<Vec<Signed>> {
                let mut out = Vec::with_capacity(hi.saturating_sub(lo) as usize);
                for nonce in lo..hi {
                    // A distinct document per transaction; no case (a LETTER may have none).
                    let seed = (signer.fingerprint, nonce).encode();
                    let call = Call::Anchor(AnchorCall {
                        doc_hash: DocHash(signer.suite.hash_parts(&[b"custos-bench-doc", &seed])),
                        doc_type: doc_type.clone(),
                        case_ref: CaseRef(signer.suite.hash_parts(&[b"custos-bench-case", &seed])),
                        recipients: vec![recipient.clone()]
                            .try_into()
                            .map_err(|_| BenchError::Other("recipients".into()))?,
                        copies: Default::default(),
                        dates: BusinessDates { effective: None, received: None, period_start: None, period_end: None },
                        subject_kind: None,
                        eseal_ref: None::<Hash>,
                    });
                    let tx = UnsignedTransaction {
                        chain_id: signer.chain_id.clone(),
                        signer: signer.fingerprint,
                        nonce,
                        valid_until: VALIDITY,
                        call,
                    }
                    .sign(&signer.key)
                    .map_err(|e| BenchError::Other(format!("cannot sign: {e}")))?;
                    out.push(Signed { id: tx.id(&signer.suite), bytes: tx.encode() });
                }
                Ok(out)
            }));
        }
        let mut all = Vec::with_capacity(count as usize);
        for h in handles {
            let part = h.join().map_err(|_| BenchError::Other("a signing thread failed".into()))??;
            all.extend(part);
        }
        Ok(all)
    })
}

/// Submits one transaction until the node takes it: `busy` is retried after a pause; `Ok(retries)`.
async fn submit(client: &NodeClient, tx: &Signed) -> Result<u64> {
    let mut ledger = client.ledger();
    let mut busy = 0u64;
    loop {
        match ledger.submit_tx(SubmitTxRequest { tx: tx.bytes.clone() }).await {
            Ok(_) => return Ok(busy),
            Err(st) if st.code() == tonic::Code::AlreadyExists => return Ok(busy),
            Err(st) if kind(&st) == "busy" => {
                busy += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(st) => return Err(net_err(client, &st)),
        }
    }
}

/// One committed block as a client saw it.
#[derive(Clone, Copy, Debug)]
struct Seen {
    at: Instant,
    ok: u64,
    failed: u64,
}

/// Follows `client`'s commit stream, calling `each` for every block until `stop`.
async fn follow(
    client: NodeClient,
    mut each: impl FnMut(Instant, &custos_api::pb::CommitEvent) + Send,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let mut stream =
        client.ledger().subscribe_commits(SubscribeRequest {}).await.map_err(|e| net_err(&client, &e))?.into_inner();
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        match tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
            Ok(Some(Ok(ev))) => each(Instant::now(), &ev),
            Ok(Some(Err(e))) => return Err(net_err(&client, &e)),
            Ok(None) => return Err(BenchError::Network(format!("{}: the commit stream ended", client.addr))),
            Err(_) => {}
        }
    }
}

/// Saturation throughput.
#[derive(Clone, Debug, Serialize)]
pub struct Saturation {
    /// Seconds measured (after the warm-up).
    pub window_s: f64,
    /// In-flight submissions per node.
    pub window: usize,
    /// Anchors committed successfully in the window.
    pub committed: u64,
    /// Transactions committed but failed by the contracts in the window (should be 0).
    pub failed: u64,
    /// Blocks committed in the window.
    pub blocks: u64,
    /// Committed anchors per second.
    pub anchors_per_s: f64,
    /// Mean transactions per block.
    pub txs_per_block: f64,
    /// Submissions answered `busy` (each was retried).
    pub busy: u64,
    /// Submissions refused for another reason (the transaction is lost: its signer's later
    /// transactions then wait behind the gap until they expire).
    pub errors: u64,
    /// The first such refusal.
    pub first_error: Option<String>,
    /// Transactions waiting in the nodes' pools when the window ended: above 0 means the load
    /// kept the network busy to the end.
    pub pool_at_end: u64,
    /// Whether the pools were empty at the end (the signed supply ran out: then the figure is
    /// a lower bound).
    pub supply_exhausted: bool,
    /// Seconds spent signing the supply beforehand (all cores).
    pub signing_s: f64,
    /// Transactions signed beforehand.
    pub signed: u64,
}

/// Runs the saturation measurement: `warmup`, then `window_time` counted.
pub async fn saturation(
    net: &Network,
    expected_per_s: f64,
    warmup: Duration,
    window_time: Duration,
    window: usize,
) -> Result<Saturation> {
    let n = net.clients.len() as u64;
    // Enough for the ceiling over the whole run plus a margin, capped to bound memory.
    let total = ((expected_per_s * (warmup + window_time).as_secs_f64() * 1.2) as u64).clamp(n * 200, 600_000);
    let per = total / n;
    let started = Instant::now();
    let mut supplies = Vec::new();
    for (i, c) in net.clients.iter().enumerate() {
        let (_, next, _) = c.account().await.map_err(|e| BenchError::Network(e.to_string()))?;
        let to = &net.clients[(i + 1) % net.clients.len()].signer.agency;
        supplies.push(presign(&c.signer, to, next, per)?);
    }
    let signing_s = started.elapsed().as_secs_f64();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let follower = {
        let seen = seen.clone();
        tokio::spawn(follow(
            net.clients[0].clone(),
            move |at, ev| {
                let ok = ev.txs.iter().filter(|t| t.ok).count() as u64;
                if let Ok(mut s) = seen.lock() {
                    s.push(Seen { at, ok, failed: ev.txs.len() as u64 - ok });
                }
            },
            stop_rx.clone(),
        ))
    };
    let busy = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let errors: Arc<Mutex<(u64, Option<String>)>> = Arc::default();
    let t0 = Instant::now();
    let end = t0 + warmup + window_time;
    let mut senders = Vec::new();
    for (c, supply) in net.clients.iter().cloned().zip(supplies) {
        let (busy, errors, stop) = (busy.clone(), errors.clone(), stop_rx.clone());
        senders.push(tokio::spawn(async move {
            let sem = Arc::new(tokio::sync::Semaphore::new(window));
            for tx in supply {
                if *stop.borrow() {
                    return Ok::<(), BenchError>(());
                }
                let permit = sem.clone().acquire_owned().await.map_err(|e| BenchError::Other(e.to_string()))?;
                let (c, busy, errors) = (c.clone(), busy.clone(), errors.clone());
                tokio::spawn(async move {
                    match submit(&c, &tx).await {
                        Ok(b) => {
                            busy.fetch_add(b, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(e) => {
                            if let Ok(mut errs) = errors.lock() {
                                errs.0 += 1;
                                errs.1.get_or_insert_with(|| e.to_string());
                            }
                        }
                    }
                    drop(permit);
                });
            }
            Ok(())
        }));
    }
    tokio::time::sleep_until(end.into()).await;
    let pool_at_end: u64 = net.pools().await?.iter().sum();
    let _ = stop_tx.send(true);
    for s in senders {
        let _ = s.await;
    }
    let _ = follower.await;
    let from = t0 + warmup;
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let window_blocks: Vec<&Seen> = seen.iter().filter(|s| s.at >= from && s.at <= end).collect();
    let committed: u64 = window_blocks.iter().map(|s| s.ok).sum();
    let failed: u64 = window_blocks.iter().map(|s| s.failed).sum();
    let blocks = window_blocks.len() as u64;
    let window_s = window_time.as_secs_f64();
    Ok(Saturation {
        window_s,
        window,
        committed,
        failed,
        blocks,
        anchors_per_s: committed as f64 / window_s,
        txs_per_block: if blocks == 0 { 0.0 } else { (committed + failed) as f64 / blocks as f64 },
        busy: busy.load(std::sync::atomic::Ordering::Relaxed),
        errors: errors.lock().map(|e| e.0).unwrap_or(0),
        first_error: errors.lock().ok().and_then(|e| e.1.clone()),
        pool_at_end,
        supply_exhausted: pool_at_end == 0,
        signing_s,
        signed: per * n,
    })
}

/// Open-loop commit latency.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Offered load, anchors per second.
    pub rate: u32,
    /// Seconds of sending.
    pub duration_s: f64,
    /// Transactions sent.
    pub sent: u64,
    /// Transactions whose commit was seen.
    pub committed: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Submissions answered `busy` (each was retried; its latency still counts from its due
    /// time).
    pub busy: u64,
    /// Largest lag of the generator behind its schedule, ms (a sign the client machine, not
    /// the network, was the bottleneck when large).
    pub max_send_lag_ms: f64,
}

/// Runs the open-loop latency measurement: `rate` anchors per second for `duration`, spread
/// over every node round-robin; waits up to 30 s for the last commits.
pub async fn latency(net: &Network, rate: u32, duration: Duration) -> Result<Latency> {
    let n = net.clients.len();
    let total = (f64::from(rate) * duration.as_secs_f64()).ceil() as u64;
    let per = total.div_ceil(n as u64);
    let mut supplies = Vec::new();
    for (i, c) in net.clients.iter().enumerate() {
        let (_, next, _) = c.account().await.map_err(|e| BenchError::Network(e.to_string()))?;
        supplies.push(presign(&c.signer, &net.clients[(i + 1) % n].signer.agency, next, per)?);
    }
    // The schedule: transaction i goes to node i % n, due at start + i / rate.
    let mut schedule: Vec<(usize, Signed)> = Vec::with_capacity(total as usize);
    let mut iters: Vec<_> = supplies.into_iter().map(|s| s.into_iter()).collect();
    'fill: for i in 0.. {
        if schedule.len() as u64 >= total {
            break;
        }
        let node = i % n;
        match iters.get_mut(node).and_then(|it| it.next()) {
            Some(tx) => schedule.push((node, tx)),
            None => break 'fill,
        }
    }
    type Due = HashMap<TxId, (usize, Instant)>;
    let due: Arc<Mutex<Due>> = Arc::default();
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| BenchError::Other(e.to_string()))?,
    ));
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut followers = Vec::new();
    for (k, c) in net.clients.iter().enumerate() {
        let (due, hist, done) = (due.clone(), hist.clone(), done.clone());
        followers.push(tokio::spawn(follow(
            c.clone(),
            move |at, ev| {
                let (Ok(mut due), Ok(mut hist)) = (due.lock(), hist.lock()) else { return };
                for t in &ev.txs {
                    let Ok(id) = <[u8; 32]>::try_from(t.tx_id.as_slice()) else { continue };
                    let id = TxId(Hash(id));
                    if due.get(&id).is_some_and(|(node, _)| *node == k)
                        && let Some((_, when)) = due.remove(&id)
                    {
                        let us = at.saturating_duration_since(when).as_micros() as u64;
                        let _ = hist.record(us.max(1));
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            },
            stop_rx.clone(),
        )));
    }
    let busy = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = Instant::now() + Duration::from_millis(200);
    let mut max_lag = Duration::ZERO;
    let sent = schedule.len() as u64;
    for (i, (node, tx)) in schedule.into_iter().enumerate() {
        let at = start + interval * i as u32;
        tokio::time::sleep_until(at.into()).await;
        max_lag = max_lag.max(Instant::now().saturating_duration_since(at));
        if let Ok(mut d) = due.lock() {
            d.insert(tx.id, (node, at));
        }
        let (c, busy) = (net.clients[node].clone(), busy.clone());
        tokio::spawn(async move {
            if let Ok(b) = submit(&c, &tx).await {
                busy.fetch_add(b, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.load(std::sync::atomic::Ordering::Relaxed) < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(true);
    for f in followers {
        let _ = f.await;
    }
    let h = hist.lock().map(|h| h.clone()).map_err(|_| BenchError::Other("histogram lock".into()))?;
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(Latency {
        rate,
        duration_s: duration.as_secs_f64(),
        sent,
        committed: done.load(std::sync::atomic::Ordering::Relaxed),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
        mean_ms: h.mean() / 1000.0,
        busy: busy.load(std::sync::atomic::Ordering::Relaxed),
        max_send_lag_ms: max_lag.as_secs_f64() * 1000.0,
    })
}
