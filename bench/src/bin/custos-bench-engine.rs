//! `custos-bench-engine`: one node of a minimal application on the same Malachite engine as
//! Custos (issue 9, "engine overhead").
//!
//! It reuses Custos's consensus context, codec, signer and verifier, and the identities of an
//! agency home, but decides empty values: the value of (height, round) is the suite hash of
//! (tag, chain id, height, round). There are no transactions and no storage; the engine's WAL
//! goes wherever `--wal` says. Decided values are kept in memory (the last
//! [`KEEP_DECIDED`]) so that a lagging peer can catch up by value sync.
//!
//! For every decided height it prints one JSON line on stdout:
//! `{"height":N,"round":R,"ms":X,"t_ms":T}`, where `ms` is the time from this node's start of
//! the height's first round to the decision (null when the round start was not seen, e.g. a
//! height decided through sync) and `t_ms` the Unix time of the decision in milliseconds.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use bytes::Bytes;
use clap::Parser;
use parity_scale_codec::Encode;
use tokio::sync::mpsc;
use tracing::{info, warn};

use custos_consensus::codec::{CustosCodec, WireCommitCert};
use custos_consensus::context::{Address, BlockId, CustosContext, Height, ProposalInit, ProposalPart, ValidatorSet};
use custos_consensus::engine::{
    AppMsg, Channels, Codec, ConsensusConfig, ConsensusContext, DiscoveryConfig, HeightParams, Keypair, LinearTimeouts,
    LocallyProposedValue, Multiaddr, NetworkContext, NetworkIdentity, NetworkMsg, Next, P2pConfig, PeerId,
    ProposedValue, RawDecidedValue, RequestContext, Round, Signer as _, SigningScheme, StreamContent, StreamId,
    StreamMessage, SyncContext, SyncedValueOutcome, Validity, ValuePayload, ValueSyncConfig, WalContext, start_engine,
};
use custos_consensus::signing::{CustosScheme, CustosSigner, CustosVerifier};
use custos_node::config::NodeConfig;
use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::{AnySuite, Signature, SigningKey, Suite, SuiteId};
use custos_primitives::types::{BlockHash, NodeId};

/// Domain tag of the minimal app's values.
const VALUE_TAG: &[u8] = b"custos/bench-engine/value/v1";
/// Decided values kept in memory for value sync.
const KEEP_DECIDED: usize = 1024;
/// Proposal streams buffered at once; the oldest is dropped beyond it.
const MAX_STREAMS: usize = 64;

#[derive(Parser, Debug)]
#[command(
    name = "custos-bench-engine",
    version,
    about = "One node of the minimal empty-value application used to measure Custos's engine overhead",
    long_about = "Runs one validator of a minimal application on Custos's Malachite engine, context, codec and \
        signing suite, with the identity of an agency home. It decides empty values (no transactions, no storage) \
        and prints one JSON line per decided height on stdout: {\"height\":N,\"round\":R,\"ms\":X,\"t_ms\":T}."
)]
struct Args {
    /// Agency home (holds node.toml, genesis.json, node/node.key.pem, node/p2p.key.pem).
    #[arg(long, value_name = "DIR")]
    home: PathBuf,
    /// Added to the TCP port of the listen address and of every peer from node.toml, so this
    /// app never collides with the agency's real node.
    #[arg(long, default_value_t = 0)]
    port_offset: u16,
    /// Folder of the engine's WAL (use a fresh one per run: this app keeps no state).
    #[arg(long, value_name = "DIR")]
    wal: PathBuf,
    /// Tracing filter for the log on stderr.
    #[arg(long, default_value = "warn")]
    log: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&args.log));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("custos-bench-engine: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("custos-bench-engine: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `addr` with `offset` added to its `/tcp/<port>` component.
fn offset_tcp(addr: &str, offset: u16) -> Result<Multiaddr> {
    let mut parts: Vec<String> = addr.split('/').map(str::to_string).collect();
    let i = parts.iter().position(|p| p == "tcp").ok_or_else(|| anyhow!("{addr}: no /tcp/ port"))?;
    let port = parts.get(i + 1).ok_or_else(|| anyhow!("{addr}: no /tcp/ port"))?;
    let port: u16 = port.parse().with_context(|| format!("{addr}: bad port"))?;
    let port = port.checked_add(offset).ok_or_else(|| anyhow!("{addr}: port + {offset} overflows"))?;
    if let Some(p) = parts.get_mut(i + 1) {
        *p = port.to_string();
    }
    parts.join("/").parse().with_context(|| format!("{addr}: not a multiaddr"))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

async fn run(args: Args) -> Result<()> {
    let cfg = NodeConfig::load(&args.home.join("node.toml"))?;
    let genesis = custos_testnet::consortium::load_genesis(&cfg.home)?;
    let suite = genesis.suite.clone();
    let key = suite.signing_key_from_pem(&read(&cfg.home.join("node/node.key.pem"))?)?;
    let node_id = NodeId::of_key(&suite, &key.public_key())?;
    let me = genesis
        .validators
        .iter()
        .find(|v| v.node_id == node_id)
        .ok_or_else(|| anyhow!("the node key of {} is not a genesis validator", cfg.home.display()))?;
    let address = Address(node_id);

    let p2p_key =
        AnySuite::with_defaults(SuiteId::Intl).signing_key_from_pem(&read(&cfg.home.join("node/p2p.key.pem"))?)?;
    let SigningKey::Ed25519(p2p_secret) = &p2p_key else { bail!("node/p2p.key.pem must hold an ed25519 key") };
    let mut seed = p2p_secret.to_bytes();
    let keypair = Keypair::ed25519_from_bytes(&mut seed)?;
    let listen = offset_tcp(&cfg.p2p.listen, args.port_offset)?;
    let peers = cfg.p2p.peers.iter().map(|p| offset_tcp(p, args.port_offset)).collect::<Result<Vec<_>>>()?;

    let ctx = CustosContext::new(genesis.genesis.chain_id.clone(), suite.clone());
    let key = Arc::new(key);
    let signer = CustosSigner::new(ctx.clone(), key.clone());
    let pk_bytes = <CustosScheme as SigningScheme>::encode_public_key(&me.public_key);
    let proof = signer.sign_validator_proof(pk_bytes, keypair.public().to_peer_id().to_bytes()).await?;
    let proof_bytes: Bytes = CustosCodec.encode(&proof)?;
    let moniker = me.agency.to_string();
    let identity = NetworkIdentity::new_validator(moniker.clone(), keypair, address.to_string(), proof_bytes);
    let consensus_ctx =
        ConsensusContext::new_validator(address, Box::new(CustosVerifier::new(ctx.clone())), Box::new(signer));
    let mut p2p =
        P2pConfig { listen_addr: listen, persistent_peers: peers, persistent_peers_only: true, ..Default::default() };
    p2p.discovery = DiscoveryConfig { enabled: false, ..p2p.discovery };
    // Not Custos's protocol names: a real node and this app can never talk to each other.
    p2p.protocol_names.consensus = format!("/custos-bench-engine/{}/consensus/v1", genesis.genesis.chain_id);
    p2p.protocol_names.sync = format!("/custos-bench-engine/{}/sync/v1", genesis.genesis.chain_id);
    let engine_cfg = custos_consensus::engine::Settings {
        moniker,
        consensus: ConsensusConfig { p2p, value_payload: ValuePayload::ProposalAndParts, ..Default::default() },
        value_sync: ValueSyncConfig::default(),
    };
    let (channels, engine) = start_engine(
        ctx.clone(),
        engine_cfg,
        WalContext::new(args.wal.join("consensus.wal"), CustosCodec),
        NetworkContext::new(identity, CustosCodec),
        consensus_ctx,
        SyncContext::new(CustosCodec),
        RequestContext::new(16),
    )
    .await
    .map_err(|e| anyhow!("consensus engine: {e:#}"))?;

    let app = MiniApp {
        validators: ValidatorSet::from_genesis(&genesis.validators),
        ctx,
        address,
        key,
        timeouts: cfg.consensus.timeouts(),
        network: channels.network.clone(),
        height: Height(0),
        height_started: None,
        streams: BTreeMap::new(),
        arrivals: 0,
        decided: BTreeMap::new(),
    };
    let app_task = tokio::spawn(app.run(channels));
    info!(node = %node_id, "minimal app started");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        r = engine.handle => bail!("the consensus engine stopped: {r:?}"),
        _ = app_task => bail!("the app loop ended"),
    }
    engine.actor.stop(Some("shutdown".into()));
    Ok(())
}

/// A proposal stream being received.
#[derive(Default)]
struct StreamBuf {
    init: Option<ProposalInit>,
    signature: Option<Signature>,
    fin_seq: Option<u64>,
    received: u64,
    arrival: u64,
}

impl StreamBuf {
    fn complete(&self) -> bool {
        self.init.is_some() && self.signature.is_some() && self.fin_seq.is_some_and(|l| self.received == l + 1)
    }
}

/// The minimal application.
struct MiniApp {
    ctx: CustosContext,
    address: Address,
    key: Arc<SigningKey>,
    validators: ValidatorSet,
    timeouts: LinearTimeouts,
    network: mpsc::Sender<NetworkMsg<CustosContext>>,
    height: Height,
    /// Start of the current height's first round on this node.
    height_started: Option<(Height, Instant)>,
    streams: BTreeMap<(Vec<u8>, Vec<u8>), StreamBuf>,
    arrivals: u64,
    /// Decided heights kept for value sync: value and certificate.
    decided: BTreeMap<u64, (BlockId, WireCommitCert)>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl MiniApp {
    fn params(&self) -> HeightParams<CustosContext> {
        HeightParams::new(self.validators.clone(), self.timeouts, None)
    }

    /// The empty value of (height, round).
    fn value_of(&self, height: Height, round: u32) -> BlockId {
        let mut bytes = VALUE_TAG.to_vec();
        (self.ctx.chain_id(), height.0, round).encode_to(&mut bytes);
        BlockId(BlockHash(self.ctx.suite().hash(&bytes)))
    }

    async fn run(mut self, mut channels: Channels<CustosContext>) {
        while let Some(msg) = channels.consensus.recv().await {
            self.handle(msg).await;
        }
        warn!("consensus channel closed; app loop ends");
    }

    async fn handle(&mut self, msg: AppMsg<CustosContext>) {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let _ = reply.send((Height(1), self.params()));
            }
            AppMsg::StartedRound { height, reply_value, .. } => {
                if height != self.height {
                    self.height = height;
                    self.height_started = Some((height, Instant::now()));
                    self.streams.retain(|_, b| b.init.as_ref().is_none_or(|i| i.height >= height));
                }
                let _ = reply_value.send(self.drain_ready_streams());
            }
            AppMsg::GetValue { height, round, reply, .. } => {
                let value = self.value_of(height, round.as_u32().unwrap_or(0));
                self.stream(height, round, Round::Nil, value).await;
                let _ = reply.send(LocallyProposedValue::new(height, round, value));
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
                let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
            }
            AppMsg::RestreamProposal { height, round, valid_round, value_id, .. } => {
                self.stream(height, round, valid_round, BlockId(value_id)).await;
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let min = self.decided.keys().next().copied().unwrap_or(1);
                let _ = reply.send(Height(min));
            }
            AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
                let value = self.received_part(published_by.unwrap_or(from), part);
                let _ = reply.send(value);
            }
            AppMsg::Decided { certificate, reply, .. } => {
                let height = certificate.height;
                let ms = match self.height_started {
                    Some((h, t)) if h == height => Some(t.elapsed().as_secs_f64() * 1000.0),
                    _ => None,
                };
                let ms = ms.map(|m| format!("{m:.3}")).unwrap_or_else(|| "null".into());
                let line = format!(
                    "{{\"height\":{},\"round\":{},\"ms\":{ms},\"t_ms\":{}}}",
                    height.0,
                    certificate.round.as_u32().unwrap_or(0),
                    now_ms()
                );
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
                self.decided
                    .insert(height.0, (BlockId(certificate.value_id), WireCommitCert::from_commit(&certificate)));
                while self.decided.len() > KEEP_DECIDED {
                    self.decided.pop_first();
                }
                let _ = reply.send(());
            }
            AppMsg::Finalized { certificate, reply, .. } => {
                let _ = reply.send(Next::Start(Height(certificate.height.0 + 1), self.params()));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let mut out = Vec::new();
                for h in range.start().0..=range.end().0.min(range.start().0.saturating_add(50)) {
                    let Some((value, cert)) = self.decided.get(&h) else { break };
                    out.push(RawDecidedValue::new(Bytes::from(value.encode()), cert.to_extended()));
                }
                let _ = reply.send(out);
            }
            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                let outcome = match decode_exact::<BlockId>("value", &value_bytes, 64) {
                    Ok(value) => SyncedValueOutcome::Verdict(ProposedValue {
                        height,
                        round,
                        valid_round: Round::Nil,
                        proposer,
                        value,
                        validity: Validity::Valid,
                    }),
                    Err(_) => SyncedValueOutcome::PeerFault,
                };
                let _ = reply.send(outcome);
            }
        }
    }

    /// Streams an empty value: `Init`, the proposer's signature in `Fin`, end of stream.
    async fn stream(&self, height: Height, round: Round, pol_round: Round, value: BlockId) {
        let init = ProposalInit {
            height,
            round: round.as_u32(),
            pol_round: pol_round.as_u32(),
            proposer: self.address,
            block: value.0,
            total_len: 0,
        };
        let data_hash = self.ctx.suite().hash(&[]);
        let signature = match self.key.sign(&init.stream_sign_bytes(self.ctx.chain_id(), &data_hash)) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot sign the proposal stream");
                return;
            }
        };
        let stream_id = StreamId::new(Bytes::from((height.0, round.as_u32(), self.address).encode()));
        let parts = [
            StreamContent::Data(ProposalPart::Init(init)),
            StreamContent::Data(ProposalPart::Fin(signature)),
            StreamContent::Fin,
        ];
        for (seq, content) in parts.into_iter().enumerate() {
            let msg = StreamMessage::new(stream_id.clone(), seq as u64, content);
            if self.network.send(NetworkMsg::PublishProposalPart(msg)).await.is_err() {
                warn!("network channel closed while streaming");
                return;
            }
        }
    }

    fn received_part(
        &mut self,
        publisher: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Option<ProposedValue<CustosContext>> {
        let key = (publisher.to_bytes(), msg.stream_id.to_bytes().to_vec());
        if !self.streams.contains_key(&key)
            && self.streams.len() >= MAX_STREAMS
            && let Some(oldest) = self.streams.iter().min_by_key(|(_, s)| s.arrival).map(|(k, _)| k.clone())
        {
            self.streams.remove(&oldest);
        }
        self.arrivals += 1;
        let arrival = self.arrivals;
        let buf = self.streams.entry(key.clone()).or_insert_with(|| StreamBuf { arrival, ..Default::default() });
        buf.received += 1;
        match msg.content {
            StreamContent::Fin => buf.fin_seq = Some(msg.sequence),
            StreamContent::Data(ProposalPart::Init(init)) => buf.init = Some(init),
            // An empty value has no data; a stream with data is not ours and fails the length
            // check below.
            StreamContent::Data(ProposalPart::Data(_)) => {}
            StreamContent::Data(ProposalPart::Fin(sig)) => buf.signature = Some(sig),
        }
        if !buf.complete() {
            return None;
        }
        let height = buf.init.as_ref().map(|i| i.height)?;
        if height > self.height {
            // A future height: kept until that height starts.
            return None;
        }
        let buf = self.streams.remove(&key)?;
        if height < self.height {
            return None;
        }
        self.assemble(buf)
    }

    /// Complete streams of the current height (they arrived before the height started).
    fn drain_ready_streams(&mut self) -> Vec<ProposedValue<CustosContext>> {
        let ready: Vec<_> = self
            .streams
            .iter()
            .filter(|(_, b)| b.complete() && b.init.as_ref().is_some_and(|i| i.height == self.height))
            .map(|(k, _)| k.clone())
            .collect();
        let bufs: Vec<StreamBuf> = ready.into_iter().filter_map(|k| self.streams.remove(&k)).collect();
        bufs.into_iter().filter_map(|b| self.assemble(b)).collect()
    }

    /// Checks a complete stream: sent by the round's proposer and signed by it. The value is
    /// valid when it is the empty value of its round (or of the polka round it re-proposes).
    fn assemble(&self, buf: StreamBuf) -> Option<ProposedValue<CustosContext>> {
        let (init, signature) = (buf.init?, buf.signature?);
        let round = Round::new(init.round?);
        let proposer = self.ctx.proposer(&self.validators, init.height, round)?;
        if proposer.address != init.proposer {
            warn!(height = init.height.0, %round, "stream from a validator that is not the proposer; ignored");
            return None;
        }
        let data_hash = self.ctx.suite().hash(&[]);
        let bytes = init.stream_sign_bytes(self.ctx.chain_id(), &data_hash);
        if self.ctx.suite().verify(&proposer.public_key, &bytes, &signature).is_err() {
            warn!(height = init.height.0, "bad proposal stream signature; ignored");
            return None;
        }
        let expected = self.value_of(init.height, init.pol_round.unwrap_or(init.round.unwrap_or(0)));
        let validity =
            if init.total_len == 0 && expected.0 == init.block { Validity::Valid } else { Validity::Invalid };
        Some(ProposedValue {
            height: init.height,
            round,
            valid_round: Round::Nil,
            proposer: init.proposer,
            value: BlockId(init.block),
            validity,
        })
    }
}
