//! The submitter: the one task that signs and submits the adapter's transactions.
//!
//! Every transaction of a signer carries the next nonce, so one task owns them: callers hand it
//! a call and wait for the commit. It keeps at most `window` transactions in flight, backs off
//! while the node answers `busy` or cannot be reached (back-pressure reaches the callers, who
//! wait), re-submits the same signed bytes after the node restarts (its pool is gone, the
//! transaction id stays), and re-reads the account's nonce when the node says it is wrong. It
//! registers the adapter's certificate on first use.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use parity_scale_codec::Encode;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use custos_api::pb::{SubmitTxRequest, SubscribeRequest};
use custos_contracts::call::{Call, RegisterMemberCall};
use custos_primitives::types::{TxId, UnsignedTransaction};

use crate::client::NodeClient;
use crate::error::{AdapterError, Result};
use crate::metrics::Metrics;

/// How many blocks a transaction stays valid for.
pub const VALIDITY_BLOCKS: u64 = 100;

/// A committed, successful transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Its id.
    pub tx_id: TxId,
    /// Height.
    pub height: u64,
    /// Block time (ms since the epoch).
    pub time_ms: u64,
}

type Reply = oneshot::Sender<Result<Committed>>;

struct Item {
    call: Call,
    reply: Option<Reply>,
}

struct Inflight {
    nonce: u64,
    valid_until: u64,
    bytes: Vec<u8>,
    name: &'static str,
    reply: Option<Reply>,
}

/// A handle to the submitter task.
#[derive(Clone, Debug)]
pub struct Submitter {
    tx: mpsc::Sender<Item>,
}

impl Submitter {
    /// Starts the task. It ends when every handle is dropped and nothing is in flight.
    pub fn start(node: NodeClient, window: usize, metrics: Metrics) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(window.max(1));
        let task = Task {
            node,
            window: window.max(1),
            metrics,
            rx,
            queue: VecDeque::new(),
            inflight: BTreeMap::new(),
            next_nonce: None,
            height: 0,
            registering: false,
            closed: false,
        };
        (Submitter { tx }, tokio::spawn(task.run()))
    }

    /// Signs and submits `call`, and waits for its commit. `Rejected` when it committed with
    /// an error or the node refused it for good; `Node` when it may yet work later.
    pub async fn submit(&self, call: Call) -> Result<Committed> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Item { call, reply: Some(reply) }).await.map_err(|_| AdapterError::Shutdown)?;
        rx.await.map_err(|_| AdapterError::Shutdown)?
    }
}

struct Task {
    node: NodeClient,
    window: usize,
    metrics: Metrics,
    rx: mpsc::Receiver<Item>,
    queue: VecDeque<Item>,
    inflight: BTreeMap<TxId, Inflight>,
    /// The nonce of the next transaction; `None` until read from the node (again).
    next_nonce: Option<u64>,
    /// The last committed height seen.
    height: u64,
    /// The adapter's registration is in flight: nothing else may be submitted before it commits.
    registering: bool,
    closed: bool,
}

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

enum Step {
    /// Go on.
    Ok,
    /// Wait before trying the node again.
    Backoff,
}

impl Task {
    async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        'connect: loop {
            if self.closed && self.queue.is_empty() && self.inflight.is_empty() {
                return;
            }
            let mut commits = match self.node.ledger().subscribe_commits(SubscribeRequest {}).await {
                Ok(s) => s.into_inner(),
                Err(e) => {
                    self.metrics.node_unavailable();
                    debug!(error = %self.node.node_err(&e), "commit stream unavailable; retrying");
                    self.pause(&mut backoff).await;
                    continue 'connect;
                }
            };
            // Outcomes committed while the stream was down, and transactions the node lost.
            if let Step::Backoff = self.recover().await {
                self.pause(&mut backoff).await;
                continue 'connect;
            }
            backoff = BACKOFF_MIN;
            loop {
                if self.closed && self.queue.is_empty() && self.inflight.is_empty() {
                    return;
                }
                match self.fill().await {
                    Step::Ok => {}
                    Step::Backoff => {
                        // Keep reading commits while backing off: they free the window.
                        let sleep = tokio::time::sleep(backoff);
                        tokio::pin!(sleep);
                        loop {
                            tokio::select! {
                                _ = &mut sleep => break,
                                ev = commits.message() => match ev {
                                    Ok(Some(ev)) => self.on_commit(ev),
                                    _ => continue 'connect,
                                },
                            }
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                }
                backoff = BACKOFF_MIN;
                let want_more = !self.closed && self.queue.len() + self.inflight.len() < self.window;
                tokio::select! {
                    item = self.rx.recv(), if want_more => match item {
                        Some(item) => self.queue.push_back(item),
                        None => self.closed = true,
                    },
                    ev = commits.message() => match ev {
                        Ok(Some(ev)) => self.on_commit(ev),
                        Ok(None) | Err(_) => {
                            self.metrics.node_unavailable();
                            warn!(node = %self.node.addr, "commit stream ended; reconnecting");
                            continue 'connect;
                        }
                    },
                }
            }
        }
    }

    async fn pause(&self, backoff: &mut Duration) {
        tokio::time::sleep(*backoff).await;
        *backoff = (*backoff * 2).min(BACKOFF_MAX);
    }

    /// After (re)connecting: settles what committed meanwhile and re-submits what the node no
    /// longer has (a restarted node's pool is empty).
    async fn recover(&mut self) -> Step {
        let ids: Vec<TxId> = self.inflight.keys().copied().collect();
        for id in ids {
            match self.node.tx(&id).await {
                Ok(Some(o)) => {
                    if let Some(f) = self.inflight.remove(&id) {
                        finish(f, id, o.height, o.time_ms, o.ok, o.error, &self.metrics);
                    }
                }
                Ok(None) => {
                    let Some(f) = self.inflight.get(&id) else { continue };
                    let req = SubmitTxRequest { tx: f.bytes.clone() };
                    match self.node.ledger().submit_tx(req).await {
                        Ok(_) => debug!(tx = %id, "re-submitted after reconnecting"),
                        Err(s) if s.code() == tonic::Code::AlreadyExists => {}
                        Err(s) if s.code() == tonic::Code::Unavailable => return Step::Backoff,
                        Err(s) => {
                            // Expired or otherwise no longer admissible: the caller retries the
                            // record (it re-checks the ledger first); the nonce must be re-read.
                            let e = self.node.node_err(&s);
                            if let Some(f) = self.inflight.remove(&id) {
                                reply(f.reply, Err(e));
                            }
                            self.next_nonce = None;
                        }
                    }
                }
                Err(_) => return Step::Backoff,
            }
        }
        Step::Ok
    }

    /// Submits queued calls while the window has room.
    async fn fill(&mut self) -> Step {
        while self.inflight.len() < self.window && !self.queue.is_empty() {
            if self.registering && !self.inflight.is_empty() {
                return Step::Ok;
            }
            self.registering = false;
            let nonce = match self.next_nonce {
                Some(n) => n,
                None => {
                    // Re-read the nonce only once nothing is in flight: a pending transaction
                    // would otherwise be given the same nonce again.
                    if !self.inflight.is_empty() {
                        return Step::Ok;
                    }
                    match self.node.account().await {
                        Ok((registered, n, h)) => {
                            self.height = self.height.max(h);
                            let queued = matches!(self.queue.front().map(|i| &i.call), Some(Call::RegisterMember(_)));
                            if !registered && !queued {
                                self.registering = true;
                                let certificate = match self.node.signer.cert_der.clone().try_into() {
                                    Ok(c) => c,
                                    Err(_) => {
                                        self.fail_all("the adapter certificate is too large");
                                        return Step::Ok;
                                    }
                                };
                                info!(agency = %self.node.agency(), "registering the adapter certificate");
                                self.queue.push_front(Item {
                                    call: Call::RegisterMember(RegisterMemberCall { certificate }),
                                    reply: None,
                                });
                            }
                            self.next_nonce = Some(n);
                            n
                        }
                        Err(_) => {
                            self.metrics.node_unavailable();
                            return Step::Backoff;
                        }
                    }
                }
            };
            let Some(item) = self.queue.pop_front() else { return Step::Ok };
            let s = &self.node.signer;
            let valid_until = self.height + VALIDITY_BLOCKS;
            let name = item.call.name();
            let unsigned = UnsignedTransaction {
                chain_id: s.chain_id.clone(),
                signer: s.fingerprint,
                nonce,
                valid_until,
                call: item.call.clone(),
            };
            let tx = match unsigned.sign(&s.key) {
                Ok(t) => t,
                Err(e) => {
                    reply(item.reply, Err(AdapterError::Rejected(format!("cannot sign: {e}"))));
                    continue;
                }
            };
            let id = tx.id(&s.suite);
            let bytes = tx.encode();
            match self.node.ledger().submit_tx(SubmitTxRequest { tx: bytes.clone() }).await {
                Ok(_) => {}
                Err(st) if st.code() == tonic::Code::AlreadyExists => {}
                Err(st) => {
                    let kind = st.metadata().get(custos_api::ERROR_KIND_KEY).and_then(|v| v.to_str().ok());
                    match (st.code(), kind) {
                        (_, Some("busy")) => {
                            self.metrics.node_busy();
                            self.queue.push_front(item);
                            return Step::Backoff;
                        }
                        (_, Some("bad_nonce" | "expired" | "unknown_signer")) => {
                            debug!(nonce, "the node disagrees about the nonce; re-reading it");
                            self.queue.push_front(item);
                            self.next_nonce = None;
                            return Step::Backoff;
                        }
                        (tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Internal, _) => {
                            self.metrics.node_unavailable();
                            self.queue.push_front(item);
                            return Step::Backoff;
                        }
                        _ => {
                            // Refused for good (malformed, certificate, …): the nonce was not used.
                            let e = self.node.node_err(&st);
                            reply(item.reply, Err(AdapterError::Rejected(e.to_string())));
                            continue;
                        }
                    }
                }
            }
            self.next_nonce = Some(nonce + 1);
            self.metrics.set_inflight(self.inflight.len() + 1);
            self.inflight.insert(id, Inflight { nonce, valid_until, bytes, name, reply: item.reply });
        }
        Step::Ok
    }

    fn on_commit(&mut self, ev: custos_api::pb::CommitEvent) {
        self.height = self.height.max(ev.height);
        for t in &ev.txs {
            let Ok(arr) = <[u8; 32]>::try_from(t.tx_id.as_slice()) else { continue };
            let id = TxId(custos_primitives::crypto::Hash(arr));
            if let Some(f) = self.inflight.remove(&id) {
                finish(f, id, ev.height, ev.time_ms, t.ok, t.error.clone(), &self.metrics);
            }
        }
        // What can no longer commit: its nonce is now a gap, so re-read the nonce once the
        // window drains.
        let expired: Vec<TxId> =
            self.inflight.iter().filter(|(_, f)| f.valid_until < ev.height).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some(f) = self.inflight.remove(&id) {
                warn!(tx = %id, nonce = f.nonce, "transaction expired uncommitted");
                let e = AdapterError::Node { addr: self.node.addr.clone(), reason: format!("{} expired", f.name) };
                reply(f.reply, Err(e));
                self.next_nonce = None;
            }
        }
        self.metrics.set_inflight(self.inflight.len());
    }

    fn fail_all(&mut self, why: &str) {
        for item in self.queue.drain(..) {
            reply(item.reply, Err(AdapterError::Rejected(why.to_string())));
        }
    }
}

fn reply(r: Option<Reply>, v: Result<Committed>) {
    if let Some(r) = r {
        let _ = r.send(v);
    }
}

fn finish(f: Inflight, id: TxId, height: u64, time_ms: u64, ok: bool, error: String, metrics: &Metrics) {
    metrics.committed(ok);
    if ok {
        debug!(tx = %id, height, call = f.name, "committed");
        reply(f.reply, Ok(Committed { tx_id: id, height, time_ms }));
    } else {
        if f.reply.is_none() {
            warn!(tx = %id, height, call = f.name, %error, "committed with an error");
        }
        reply(
            f.reply,
            Err(AdapterError::Rejected(format!("{} committed at height {height} but failed: {error}", f.name))),
        );
    }
}
