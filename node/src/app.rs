//! The application side of consensus: builds blocks from the mempool, reassembles and
//! validates proposals, and commits decided blocks — block, transactions, certificate and
//! state in one synced RocksDB batch.
//!
//! Every `AppMsg` is answered without sleeping; the engine waits for each reply.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parity_scale_codec::Encode;
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, error, info, warn};

use custos_consensus::block::{Block, tx_root};
use custos_consensus::codec::{
    WireCommitCert, decode_commit_cert, decode_proposed_value, encode_commit_cert, encode_proposed_value,
};
use custos_consensus::context::{Address, BlockId, CustosContext, Height, ProposalInit, ProposalPart, ValidatorSet};
use custos_consensus::engine::{
    AppMsg, Channels, HeightParams, LinearTimeouts, LocallyProposedValue, MisbehaviorEvidence, NetworkMsg, Next,
    PeerId, ProposedValue, RawDecidedValue, Round, StreamContent, StreamId, StreamMessage, SyncedValueOutcome,
    Validity,
};
use custos_consensus::misbehaviour;
use custos_contracts::runtime::{BlockOutcome, Runtime, StateRead, TxOutcome};
use custos_contracts::state::{self, NodeBatch};
use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::{Hash, SigningKey, Suite};
use custos_primitives::genesis::{Validator as GenesisValidator, validator_set_hash};
use custos_primitives::types::{BlockHash, BlockHeader, MAX_VALIDATORS, NodeId, TxId};

use crate::config::ByzantineSection;
use crate::mempool::{Mempool, SignatureCache};
use crate::metrics::Metrics;
use crate::store::{Commit, CommitOutcome, Store};
use crate::supervise;

/// Bytes of block data per proposal part.
pub const PART_DATA_BYTES: usize = 256 * 1024;
/// Streams buffered at once (per node); the oldest is dropped beyond it.
const MAX_STREAMS: usize = 64;
/// Largest stored validator set.
const MAX_VALIDATOR_SET_BYTES: usize = MAX_VALIDATORS as usize * 256;

/// A validated block with its execution outcome and the state-tree nodes of its height.
type Executed = (Block, BlockOutcome, NodeBatch);

/// A committed block, announced to API subscribers.
#[derive(Clone, Debug)]
pub struct CommitEvent {
    /// Height.
    pub height: u64,
    /// Block id.
    pub block: BlockHash,
    /// Block time.
    pub time_ms: u64,
    /// Transactions and their outcomes.
    pub txs: Vec<(TxId, TxOutcome)>,
}

/// Shared state between the app loop and the API.
#[derive(Debug)]
pub struct Shared {
    /// Storage.
    pub store: Arc<Store>,
    /// Pending transactions.
    pub mempool: Mutex<Mempool>,
    /// Transactions whose signature this node already verified.
    pub sig_cache: Mutex<SignatureCache>,
    /// The runtime.
    pub runtime: Runtime,
    /// Committed blocks.
    pub commits: broadcast::Sender<CommitEvent>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Consensus progress: (height, round) being worked on.
    pub progress: Mutex<(u64, u32)>,
}

/// Committed state, read through the store.
#[derive(Debug)]
pub struct StoreState<'a>(pub &'a Store);

impl StateRead for StoreState<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.state_get(key).ok().flatten()
    }
}

#[derive(Default)]
struct StreamBuf {
    init: Option<ProposalInit>,
    data: BTreeMap<u64, Vec<u8>>,
    fin_sig: Option<custos_primitives::Signature>,
    last_seq: Option<u64>,
    received: u64,
    bytes: usize,
    arrival: u64,
}

/// Who a block's header may name as the validator that built it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builder {
    /// A fresh proposal: the round's proposer built it.
    Exactly(Address),
    /// A re-proposed, synced or decided block: built in some round of this height, so by any
    /// validator of the height's set. A re-proposal keeps the header (and so the hash) of the
    /// block that got the polka, whoever streams it in the later round.
    AnyValidator,
}

impl Builder {
    fn check(self, named: &NodeId, validators: &ValidatorSet) -> Result<(), Invalid> {
        match self {
            Builder::Exactly(p) if &p.0 == named => Ok(()),
            Builder::Exactly(_) => Err("header names another proposer".into()),
            Builder::AnyValidator if validators.validators().iter().any(|v| &v.address.0 == named) => Ok(()),
            Builder::AnyValidator => Err("header names a builder outside the validator set".into()),
        }
    }
}

/// The app loop's own state.
pub struct App {
    ctx: CustosContext,
    shared: Arc<Shared>,
    address: Address,
    key: Arc<SigningKey>,
    validators: ValidatorSet,
    validator_set_hash: Hash,
    timeouts: LinearTimeouts,
    max_block_txs: usize,
    max_block_bytes: usize,
    height: Height,
    round: Round,
    /// When this node started the first round of the height in progress.
    height_started: Option<(Height, Instant)>,
    streams: BTreeMap<(Vec<u8>, Vec<u8>), StreamBuf>,
    arrivals: u64,
    /// Executed outcomes of validated blocks of the current height, by block id.
    executed: BTreeMap<BlockHash, Executed>,
    network: mpsc::Sender<NetworkMsg<CustosContext>>,
    /// The test-only misbehaviour of `[byzantine]` (honoured only with the `byzantine` feature).
    #[cfg_attr(not(feature = "byzantine"), allow(dead_code))]
    byzantine: Option<ByzantineSection>,
    /// Proposal streams sent, for the Byzantine replay.
    #[cfg(feature = "byzantine")]
    replay: crate::byzantine::Replay,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("address", &self.address).field("height", &self.height).finish_non_exhaustive()
    }
}

/// Why a block is invalid.
type Invalid = String;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl App {
    /// A new app loop.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: CustosContext,
        shared: Arc<Shared>,
        address: Address,
        key: Arc<SigningKey>,
        validators: ValidatorSet,
        validator_set_hash: Hash,
        timeouts: LinearTimeouts,
        max_block_txs: usize,
        max_block_bytes: usize,
        network: mpsc::Sender<NetworkMsg<CustosContext>>,
        byzantine: Option<ByzantineSection>,
    ) -> Self {
        App {
            ctx,
            shared,
            address,
            key,
            validators,
            validator_set_hash,
            timeouts,
            max_block_txs,
            max_block_bytes,
            height: Height(0),
            round: Round::Nil,
            height_started: None,
            streams: BTreeMap::new(),
            arrivals: 0,
            executed: BTreeMap::new(),
            network,
            byzantine,
            #[cfg(feature = "byzantine")]
            replay: crate::byzantine::Replay::default(),
        }
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }

    fn params(&self) -> HeightParams<CustosContext> {
        HeightParams::new(self.validators.clone(), self.timeouts, None)
    }

    fn last_committed(&self) -> Result<u64, String> {
        Ok(self.store().last_committed_height().map_err(|e| e.to_string())?.unwrap_or(0))
    }

    fn parent(&self, height: u64) -> Result<Option<BlockHeader>, String> {
        if height <= 1 {
            return Ok(None);
        }
        let bytes = self
            .store()
            .block(height - 1)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("block {} is not in the store", height - 1))?;
        Ok(Some(Block::decode_untrusted(&bytes).map_err(|e| e.to_string())?.header))
    }

    /// Takes the validator set in force at `height` from the store (the genesis set is stored
    /// for height 1; a change committed at `h` applies from `h + 1`).
    fn load_validators(&mut self, height: u64) -> Result<(), String> {
        let Some(bytes) = self.store().validator_set(height).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let set: Vec<GenesisValidator> =
            decode_exact("validator set", &bytes, MAX_VALIDATOR_SET_BYTES).map_err(|e| e.to_string())?;
        let hash = validator_set_hash(self.ctx.suite(), &set);
        if hash != self.validator_set_hash {
            info!(height, validators = set.len(), set = %hash, "validator set changes");
            self.validators = ValidatorSet::from_genesis(&set);
            self.validator_set_hash = hash;
        }
        Ok(())
    }

    /// Runs until the engine closes the channel.
    pub async fn run(mut self, mut channels: Channels<CustosContext>) {
        while let Some(msg) = channels.consensus.recv().await {
            if let Err(e) = self.handle(msg).await {
                // A local failure (storage) must not be papered over: stop, let the
                // supervisor restart the node, and let WAL replay resume.
                error!(error = %e, "fatal application error; stopping the node");
                return;
            }
        }
        info!("consensus channel closed; app loop ends");
    }

    async fn handle(&mut self, msg: AppMsg<CustosContext>) -> Result<(), String> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let start = Height(self.last_committed()? + 1);
                self.load_validators(start.0)?;
                info!(height = start.0, validators = self.validators.validators().len(), "consensus ready");
                let _ = reply.send((start, self.params()));
            }
            AppMsg::StartedRound { height, round, proposer, role, reply_value } => {
                debug!(height = height.0, %round, %proposer, ?role, "started round");
                if height != self.height {
                    self.height_started = Some((height, Instant::now()));
                    self.executed.clear();
                    self.load_validators(height.0)?;
                    #[cfg(feature = "byzantine")]
                    self.replay_old_streams().await;
                }
                self.height = height;
                self.round = round;
                if let Ok(mut p) = self.shared.progress.lock() {
                    *p = (height.0, round.as_u32().unwrap_or(0));
                }
                self.shared.metrics.set_round(round.as_u32().unwrap_or(0));
                let mut values = self.stored_values(height, round)?;
                // Streams that completed while this height was in the future.
                values.extend(self.drain_ready_streams()?);
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue { height, round, timeout: _, reply } => {
                let value = self.get_value(height, round).await?;
                let _ = reply.send(value);
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
                // Extensions are disabled; answer one verdict per input, same order.
                let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
            }
            AppMsg::RestreamProposal { height, round, valid_round, address: _, value_id } => {
                match self.store().undecided_block(height.0, &value_id).map_err(|e| e.to_string())? {
                    Some(bytes) => self.stream(height, round, valid_round, value_id, &bytes).await,
                    None => warn!(height = height.0, block = %value_id, "cannot restream: block not stored"),
                }
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
                let publisher = published_by.unwrap_or(from);
                let value = self.received_part(publisher, part)?;
                let _ = reply.send(value);
            }
            AppMsg::Decided { certificate, extensions: _, reply } => {
                // Observed on arrival of the decision, before the commit (as the minimal app of
                // the engine-overhead benchmark does).
                if let Some((_, started)) = self.height_started.take_if(|(h, _)| *h == certificate.height) {
                    self.shared.metrics.observe_height(started.elapsed());
                }
                self.decided(WireCommitCert::from_commit(&certificate))?;
                let _ = reply.send(());
            }
            AppMsg::Finalized { certificate, reply, evidence, .. } => {
                if !evidence.is_empty() {
                    self.record_misbehaviour(&evidence);
                }
                // The engine may hand a certificate with more signatures than at decision time.
                let wire = WireCommitCert::from_commit(&certificate);
                if let Err(e) = self.store().replace_certificate(wire.height.0, &encode_commit_cert(&wire)) {
                    warn!(error = %e, height = wire.height.0, "could not replace the certificate");
                }
                let next = Height(self.last_committed()? + 1);
                self.load_validators(next.0)?;
                let _ = reply.send(Next::Start(next, self.params()));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let _ = reply.send(self.decided_values(range.start().0, range.end().0)?);
            }
            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                let outcome = self.synced_value(height, round, proposer, &value_bytes)?;
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }

    fn stored_values(&self, height: Height, round: Round) -> Result<Vec<ProposedValue<CustosContext>>, String> {
        let Some(r) = round.as_u32() else { return Ok(vec![]) };
        let mut out = Vec::new();
        for (_, pv) in self.store().undecided_for_round(height.0, r).map_err(|e| e.to_string())? {
            match decode_proposed_value(&pv) {
                Ok(v) => out.push(v),
                Err(e) => warn!(error = %e, "undecodable stored proposed value"),
            }
        }
        Ok(out)
    }

    async fn get_value(&mut self, height: Height, round: Round) -> Result<LocallyProposedValue<CustosContext>, String> {
        // Re-offer what we already built for this round (after a crash, or a replayed GetValue).
        for pv in self.stored_values(height, round)? {
            if pv.proposer == self.address {
                let bytes = self
                    .store()
                    .undecided_block(height.0, &pv.value.0)
                    .map_err(|e| e.to_string())?
                    .ok_or("stored proposal without its block")?;
                self.stream(height, round, Round::Nil, pv.value.0, &bytes).await;
                return Ok(LocallyProposedValue::new(height, round, pv.value));
            }
        }
        let started = Instant::now();
        #[allow(unused_mut)]
        let (mut block, outcome, tree) = self.build_block(height)?;
        #[cfg(feature = "byzantine")]
        if let Some(how) = self.byzantine.as_ref().and_then(|b| b.invalid_blocks)
            && crate::byzantine::spoil(how, &mut block, &outcome.writes, self.ctx.suite(), self.store())
        {
            warn!(height = height.0, %round, ?how, "BYZANTINE: proposing an invalid block");
        }
        let hash = block.hash(self.ctx.suite());
        let bytes = block.encode();
        self.persist_proposal(height, (round, Round::Nil), self.address, hash, &bytes, Validity::Valid)?;
        self.executed.insert(hash, (block.clone(), outcome, tree));
        info!(height = height.0, %round, txs = block.txs.len(), block = %hash, ms = started.elapsed().as_millis() as u64, "proposing");
        self.stream(height, round, Round::Nil, hash, &bytes).await;
        Ok(LocallyProposedValue::new(height, round, BlockId(hash)))
    }

    fn build_block(&mut self, height: Height) -> Result<Executed, String> {
        let parent = self.parent(height.0)?;
        let time_ms = now_ms().max(parent.as_ref().map(|p| p.time_ms + 1).unwrap_or(0));
        let candidates = {
            let mut pool = self.shared.mempool.lock().map_err(|_| "mempool lock poisoned")?;
            pool.evict_expired(height.0);
            pool.reap(self.max_block_txs, self.max_block_bytes)
        };
        // One execution pass; transactions failing their envelope checks are left out of the
        // block and dropped from the pool — except those whose nonce is ahead of the signer's
        // next one: an earlier nonce is still on its way (clients pipeline submissions, gossip
        // reorders them), so they stay for a later block.
        let state = StoreState(self.store());
        let verified = |id: &TxId| self.shared.sig_cache.lock().map(|c| c.contains(id)).unwrap_or(false);
        let (ids, bytes): (Vec<TxId>, Vec<Vec<u8>>) = candidates.into_iter().unzip();
        let (outcome, invalid) = self.shared.runtime.execute_candidates(&state, height.0, time_ms, &bytes, &verified);
        let mut keep = vec![true; bytes.len()];
        let mut rejected = Vec::with_capacity(invalid.len());
        for (i, e) in invalid {
            if let (Some(id), Some(k)) = (ids.get(i), keep.get_mut(i)) {
                *k = false;
                if let custos_contracts::runtime::TxError::BadNonce { expected, found, .. } = e
                    && found > expected
                {
                    continue;
                }
                debug!(tx = %id, error = %e, "dropping transaction from the pool");
                rejected.push(*id);
            }
        }
        let txs: Vec<Vec<u8>> = bytes.into_iter().zip(keep).filter(|(_, k)| *k).map(|(b, _)| b).collect();
        if !rejected.is_empty()
            && let Ok(mut pool) = self.shared.mempool.lock()
        {
            pool.remove(&rejected);
        }
        let ids: Vec<TxId> = outcome.outcomes.iter().map(|(id, _)| *id).collect();
        // The header commits to the state tree after this block's writes (the runtime's own
        // `state_root` is ignored).
        let (state_root, tree) = state::compute_root(self.ctx.suite(), self.store(), &outcome.writes, height.0)
            .map_err(|e| e.to_string())?;
        let header = BlockHeader {
            chain_id: self.ctx.chain_id().clone(),
            height: height.0,
            parent: parent.map(|p| p.hash(self.ctx.suite())).unwrap_or_default(),
            time_ms,
            proposer: self.address.0,
            tx_root: tx_root(self.ctx.suite(), &ids),
            state_root,
            validator_set_hash: self.validator_set_hash,
        };
        Ok((Block { header, txs }, outcome, tree))
    }

    fn persist_proposal(
        &self,
        height: Height,
        (round, valid_round): (Round, Round),
        proposer: Address,
        hash: BlockHash,
        bytes: &[u8],
        validity: Validity,
    ) -> Result<ProposedValue<CustosContext>, String> {
        let pv = ProposedValue { height, round, valid_round, proposer, value: BlockId(hash), validity };
        let encoded = encode_proposed_value(&pv).map_err(|e| e.to_string())?;
        self.store()
            .put_undecided(height.0, round.as_u32().unwrap_or(0), &hash, bytes, &encoded)
            .map_err(|e| e.to_string())?;
        Ok(pv)
    }

    async fn stream(&mut self, height: Height, round: Round, pol_round: Round, hash: BlockHash, bytes: &[u8]) {
        let init = ProposalInit {
            height,
            round: round.as_u32(),
            pol_round: pol_round.as_u32(),
            proposer: self.address,
            block: hash,
            total_len: bytes.len() as u64,
        };
        let data_hash = self.ctx.suite().hash(bytes);
        let sig = match self.key.sign(&init.stream_sign_bytes(self.ctx.chain_id(), &data_hash)) {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "cannot sign the proposal stream");
                return;
            }
        };
        let stream_id = StreamId::new(Bytes::from((height.0, round.as_u32(), self.address).encode()));
        let mut parts = vec![ProposalPart::Init(init)];
        parts.extend(bytes.chunks(PART_DATA_BYTES).map(|c| ProposalPart::Data(c.to_vec())));
        parts.push(ProposalPart::Fin(sig));
        let fin_seq = parts.len() as u64;
        let mut messages: Vec<StreamMessage<ProposalPart>> = parts
            .into_iter()
            .zip(0u64..)
            .map(|(part, seq)| StreamMessage::new(stream_id.clone(), seq, StreamContent::Data(part)))
            .collect();
        messages.push(StreamMessage::new(stream_id, fin_seq, StreamContent::Fin));
        for msg in &messages {
            if self.network.send(NetworkMsg::PublishProposalPart(msg.clone())).await.is_err() {
                warn!("network channel closed while streaming");
                return;
            }
        }
        #[cfg(feature = "byzantine")]
        if self.byzantine.as_ref().is_some_and(|b| b.replay_proposals) {
            self.replay.record(messages);
        }
    }

    /// Stores the equivocation evidence the engine gathered for the height just finalized
    /// (validators of that height). A storage failure is logged: the evidence is also in the
    /// log line, and consensus must not stop over it.
    fn record_misbehaviour(&self, evidence: &MisbehaviorEvidence<CustosContext>) {
        for m in misbehaviour::records(evidence, &self.validators) {
            warn!(
                height = m.height,
                round = m.round,
                validator = %m.validator,
                kind = m.kind.name(),
                first = %hex::encode(&m.first),
                second = %hex::encode(&m.second),
                "equivocation: evidence recorded"
            );
            match self.store().put_misbehaviour(&m) {
                Ok(true) => self.shared.metrics.misbehaviour_recorded(),
                Ok(false) => {}
                Err(e) => error!(error = %e, "cannot store equivocation evidence"),
            }
        }
    }

    /// Byzantine test mode: re-publishes the proposal streams of earlier heights.
    #[cfg(feature = "byzantine")]
    async fn replay_old_streams(&self) {
        if !self.byzantine.as_ref().is_some_and(|b| b.replay_proposals) {
            return;
        }
        let mut sent = 0usize;
        for msg in self.replay.parts() {
            if self.network.send(NetworkMsg::PublishProposalPart(msg.clone())).await.is_err() {
                return;
            }
            sent += 1;
        }
        if sent > 0 {
            warn!(height = self.height.0, parts = sent, "BYZANTINE: replaying old proposal streams");
        }
    }

    fn received_part(
        &mut self,
        publisher: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Result<Option<ProposedValue<CustosContext>>, String> {
        let key = (publisher.to_bytes(), msg.stream_id.to_bytes().to_vec());
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            // Drop the oldest stream to bound memory.
            if let Some(oldest) = self.streams.iter().min_by_key(|(_, s)| s.arrival).map(|(k, _)| k.clone()) {
                self.streams.remove(&oldest);
            }
        }
        self.arrivals += 1;
        let arrival = self.arrivals;
        let buf = self.streams.entry(key.clone()).or_insert_with(|| StreamBuf { arrival, ..Default::default() });
        buf.received += 1;
        match msg.content {
            StreamContent::Fin => buf.last_seq = Some(msg.sequence),
            StreamContent::Data(ProposalPart::Init(init)) => buf.init = Some(init),
            StreamContent::Data(ProposalPart::Data(d)) => {
                buf.bytes += d.len();
                buf.data.insert(msg.sequence, d);
            }
            StreamContent::Data(ProposalPart::Fin(sig)) => buf.fin_sig = Some(sig),
        }
        if buf.bytes > custos_consensus::block::MAX_BLOCK_BYTES {
            warn!("proposal stream exceeds the block size limit; dropped");
            self.streams.remove(&key);
            return Ok(None);
        }
        let complete =
            buf.init.is_some() && buf.fin_sig.is_some() && buf.last_seq.is_some_and(|l| buf.received == l + 1);
        if !complete {
            return Ok(None);
        }
        let Some(buf) = self.streams.remove(&key) else { return Ok(None) };
        let Some(init) = buf.init.clone() else { return Ok(None) };
        if init.height.0 > self.height.0 {
            // Future height: keep it until that height starts.
            self.streams.insert(key, buf);
            return Ok(None);
        }
        if init.height.0 < self.height.0 {
            return Ok(None);
        }
        self.assemble(buf)
    }

    fn drain_ready_streams(&mut self) -> Result<Vec<ProposedValue<CustosContext>>, String> {
        let ready: Vec<_> = self
            .streams
            .iter()
            .filter(|(_, b)| {
                b.init.as_ref().is_some_and(|i| i.height == self.height)
                    && b.fin_sig.is_some()
                    && b.last_seq.is_some_and(|l| b.received == l + 1)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for k in ready {
            if let Some(buf) = self.streams.remove(&k)
                && let Some(v) = self.assemble(buf)?
            {
                out.push(v);
            }
        }
        self.streams.retain(|_, b| b.init.as_ref().is_none_or(|i| i.height >= self.height));
        Ok(out)
    }

    /// Checks a complete stream and stores the proposal. Unauthenticated streams give `None`;
    /// authenticated but invalid blocks give `Some(Invalid)` so consensus prevotes nil.
    fn assemble(&mut self, buf: StreamBuf) -> Result<Option<ProposedValue<CustosContext>>, String> {
        let (Some(init), Some(sig)) = (buf.init, buf.fin_sig) else { return Ok(None) };
        let bytes: Vec<u8> = buf.data.into_values().flatten().collect();
        let Some(round) = init.round else { return Ok(None) };
        let round = Round::new(round);
        let expected = self.ctx.proposer(&self.validators, init.height, round);
        if expected.map(|v| v.address) != Some(init.proposer) {
            warn!(height = init.height.0, %round, proposer = %init.proposer, "stream from a validator that is not the proposer; ignored");
            return Ok(None);
        }
        let Some(validator) = expected else { return Ok(None) };
        let data_hash = self.ctx.suite().hash(&bytes);
        if self
            .ctx
            .suite()
            .verify(&validator.public_key, &init.stream_sign_bytes(self.ctx.chain_id(), &data_hash), &sig)
            .is_err()
        {
            warn!(height = init.height.0, proposer = %init.proposer, "bad proposal stream signature; ignored");
            return Ok(None);
        }
        if bytes.len() as u64 != init.total_len {
            return Ok(None);
        }
        let validity = match self.validate(&init, &bytes) {
            Ok(executed) => {
                self.executed.insert(init.block, executed);
                Validity::Valid
            }
            Err(reason) => {
                warn!(height = init.height.0, block = %init.block, %reason, "invalid block proposed");
                Validity::Invalid
            }
        };
        let valid_round = init.pol_round.map_or(Round::Nil, Round::new);
        let pv =
            self.persist_proposal(init.height, (round, valid_round), init.proposer, init.block, &bytes, validity)?;
        Ok(Some(pv))
    }

    fn validate(&self, init: &ProposalInit, bytes: &[u8]) -> Result<Executed, Invalid> {
        let block = Block::decode_untrusted(bytes).map_err(|e| e.to_string())?;
        // A fresh proposal is built by the round's proposer. A re-proposal (a polka round is
        // named) carries a block built in an earlier round, possibly by another validator.
        let builder = match init.pol_round {
            None => Builder::Exactly(init.proposer),
            Some(_) => Builder::AnyValidator,
        };
        self.validate_block(&block, init.height, builder, Some(init.block)).map(|(o, t)| (block, o, t))
    }

    fn validate_block(
        &self,
        block: &Block,
        height: Height,
        builder: Builder,
        id: Option<BlockHash>,
    ) -> Result<(BlockOutcome, NodeBatch), Invalid> {
        let suite = self.ctx.suite();
        let h = &block.header;
        if &h.chain_id != self.ctx.chain_id() {
            return Err(format!("block for chain {}", h.chain_id));
        }
        if h.height != height.0 {
            return Err(format!("block claims height {}, expected {}", h.height, height.0));
        }
        if let Some(id) = id
            && block.hash(suite) != id
        {
            return Err("block hash differs from the announced one".into());
        }
        builder.check(&h.proposer, &self.validators)?;
        let parent = self.parent(height.0)?;
        let parent_hash = parent.as_ref().map(|p| p.hash(suite)).unwrap_or_default();
        if h.parent != parent_hash {
            return Err(format!("parent {} is not the committed block {}", h.parent, parent_hash));
        }
        if let Some(p) = &parent
            && h.time_ms <= p.time_ms
        {
            return Err("block time does not advance".into());
        }
        if h.validator_set_hash != self.validator_set_hash {
            return Err("validator set hash differs".into());
        }
        let ids = block.tx_ids(suite);
        if h.tx_root != tx_root(suite, &ids) {
            return Err("transaction root differs".into());
        }
        let state = StoreState(self.store());
        let verified = |id: &TxId| self.shared.sig_cache.lock().map(|c| c.contains(id)).unwrap_or(false);
        let outcome = self
            .shared
            .runtime
            .execute_block(&state, height.0, h.time_ms, &block.txs, &verified)
            .map_err(|(i, e)| format!("transaction {i}: {e}"))?;
        // A storage failure here is reported as an invalid block, as before for reads.
        let (state_root, tree) =
            state::compute_root(suite, self.store(), &outcome.writes, height.0).map_err(|e| e.to_string())?;
        if state_root != h.state_root {
            return Err(format!("state root differs: header {}, computed {state_root}", h.state_root));
        }
        if let Ok(mut cache) = self.shared.sig_cache.lock() {
            for id in &ids {
                cache.insert(*id);
            }
        }
        Ok((outcome, tree))
    }

    fn decided(&mut self, cert: WireCommitCert) -> Result<(), String> {
        let height = cert.height;
        let hash = cert.value;
        let started = Instant::now();
        let (block, outcome, tree) = match self.executed.remove(&hash) {
            Some(x) => x,
            None => {
                // After a restart (or when the value came by sync), re-execute from the store.
                if self.store().block_height(&hash).map_err(|e| e.to_string())?.is_some() {
                    debug!(height = height.0, "already committed (WAL replay)");
                    return Ok(());
                }
                let bytes = self
                    .store()
                    .undecided_block(height.0, &hash)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("decided block {hash} at height {} is not stored", height.0))?;
                let block = Block::decode_untrusted(&bytes).map_err(|e| e.to_string())?;
                let (outcome, tree) = self.validate_block(&block, height, Builder::AnyValidator, Some(hash))?;
                (block, outcome, tree)
            }
        };
        let ids = block.tx_ids(self.ctx.suite());
        let state_writes = outcome.writes.clone();
        // The supervision index: the digest of every case the block touched, over the state
        // after the block, written in the block's own batch.
        let index_started = Instant::now();
        let store_state = StoreState(self.store());
        let index_writes =
            supervise::block_index_writes(&supervise::AfterBlock::new(&store_state, &state_writes), &outcome.outcomes);
        if !index_writes.is_empty() {
            debug!(
                height = height.0,
                cases = index_writes.len(),
                ms = index_started.elapsed().as_millis() as u64,
                "case digests updated"
            );
        }
        let commit = Commit {
            height: height.0,
            block_hash: hash,
            block: block.encode(),
            certificate: encode_commit_cert(&cert),
            txs: ids.iter().copied().zip(block.txs.iter().cloned()).collect(),
            state_writes,
            index_writes,
            next_validator_set: outcome.next_validators.as_ref().map(|v| v.encode()),
            state_tree: tree,
        };
        match self.store().commit(&commit).map_err(|e| e.to_string())? {
            CommitOutcome::Written { write_time, .. } => self.shared.metrics.observe_fsync(write_time),
            CommitOutcome::AlreadyCommitted => return Ok(()),
        }
        if let Ok(mut pool) = self.shared.mempool.lock() {
            pool.remove(&ids);
            self.shared.metrics.set_mempool(pool.len(), pool.bytes());
        }
        if let Ok(mut cache) = self.shared.sig_cache.lock() {
            for id in &ids {
                cache.remove(id);
            }
        }
        self.executed.clear();
        self.shared.metrics.committed(height.0, block.txs.len(), block.header.time_ms);
        info!(height = height.0, block = %hash, txs = block.txs.len(), commit_ms = started.elapsed().as_millis() as u64, "committed");
        let _ = self.shared.commits.send(CommitEvent {
            height: height.0,
            block: hash,
            time_ms: block.header.time_ms,
            txs: outcome.outcomes,
        });
        Ok(())
    }

    fn decided_values(&self, start: u64, end: u64) -> Result<Vec<RawDecidedValue<CustosContext>>, String> {
        let tip = self.last_committed()?;
        let end = end.min(tip).min(start.saturating_add(50));
        let mut out = Vec::new();
        let mut size = 0usize;
        for h in start.max(1)..=end {
            let (Some(block), Some(cert)) = (
                self.store().block(h).map_err(|e| e.to_string())?,
                self.store().certificate(h).map_err(|e| e.to_string())?,
            ) else {
                break;
            };
            let cert = decode_commit_cert(&cert).map_err(|e| e.to_string())?;
            size += block.len();
            out.push(RawDecidedValue::new(Bytes::from(block), cert.to_extended()));
            if size > 8 * 1024 * 1024 {
                break;
            }
        }
        Ok(out)
    }

    fn synced_value(
        &mut self,
        height: Height,
        round: Round,
        proposer: Address,
        bytes: &[u8],
    ) -> Result<SyncedValueOutcome<CustosContext>, String> {
        let Ok(block) = Block::decode_untrusted(bytes) else {
            return Ok(SyncedValueOutcome::PeerFault);
        };
        let hash = block.hash(self.ctx.suite());
        // The proposer Malachite names is the one of the certificate's round; the block may have
        // been built in an earlier round and re-proposed, so any validator may have built it.
        let validity = match self.validate_block(&block, height, Builder::AnyValidator, None) {
            Ok((outcome, tree)) => {
                self.executed.insert(hash, (block, outcome, tree));
                Validity::Valid
            }
            Err(reason) => {
                warn!(height = height.0, %reason, "invalid synced block");
                Validity::Invalid
            }
        };
        let pv = self.persist_proposal(height, (round, Round::Nil), proposer, hash, bytes, validity)?;
        Ok(SyncedValueOutcome::Verdict(pv))
    }
}

#[cfg(test)]
mod tests {
    use custos_consensus::context::Validator;
    use custos_primitives::crypto::PublicKey;

    use super::*;

    fn node(i: u8) -> NodeId {
        NodeId(Hash([i; 32]))
    }

    fn set() -> ValidatorSet {
        ValidatorSet::new(
            (1..=5)
                .map(|i| Validator { address: Address(node(i)), public_key: PublicKey::Ed25519([i; 32]), power: 1 })
                .collect(),
        )
    }

    #[test]
    fn a_fresh_proposal_must_be_built_by_the_rounds_proposer() {
        assert_eq!(Builder::Exactly(Address(node(2))).check(&node(2), &set()), Ok(()));
        assert!(Builder::Exactly(Address(node(2))).check(&node(3), &set()).is_err());
    }

    /// Regression: a block that got a polka in round 0 and is re-proposed in round 1 by the
    /// round-1 proposer keeps its header, which names the round-0 proposer. Receivers (and nodes
    /// syncing the block from its round-1 certificate) used to reject it as "another proposer"
    /// and stall at that height for good.
    #[test]
    fn a_re_proposed_or_synced_block_may_be_built_by_any_validator_of_the_set() {
        for i in 1..=5 {
            assert_eq!(Builder::AnyValidator.check(&node(i), &set()), Ok(()));
        }
        assert!(Builder::AnyValidator.check(&node(9), &set()).is_err());
    }
}
