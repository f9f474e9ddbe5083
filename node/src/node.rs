//! Starting a node: identity, storage, the consensus engine, the app loop, metrics.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::broadcast;
use tracing::{info, warn};

use custos_consensus::codec::CustosCodec;
use custos_consensus::context::{Address, CustosContext, ValidatorSet};
use custos_consensus::engine::{
    ConsensusConfig, ConsensusContext, DiscoveryConfig, EngineHandle, Keypair, Multiaddr, NetworkContext,
    NetworkIdentity, P2pConfig, RequestContext, SyncContext, ValuePayload, ValueSyncConfig, WalContext, start_engine,
};
use custos_consensus::signing::{CustosScheme, CustosSigner, CustosVerifier};
use custos_contracts::runtime::Runtime;
use custos_primitives::crypto::{AnySuite, SigningKey, Suite, SuiteId};
use custos_primitives::genesis::{Genesis, ValidatedGenesis};
use custos_primitives::types::{MemberRole, NodeId};
use custos_primitives::x509::{self, Certificate};
use tonic::service::interceptor::InterceptedService;

use crate::app::{App, Shared};
use crate::config::NodeConfig;
use crate::mempool::{Mempool, SignatureCache};
use crate::metrics::Metrics;
use crate::store::Store;

/// Meta key holding the genesis hash the data folder belongs to.
const GENESIS_META: &[u8] = b"genesis_hash";

/// Why a node cannot start. Each names the file or setting and the fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file cannot be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The genesis is invalid.
    #[error("genesis {path}: {reason}")]
    Genesis {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The node identity is unusable.
    #[error("node identity: {0}")]
    Identity(String),
    /// A p2p setting is invalid.
    #[error("p2p: {0}")]
    P2p(String),
    /// Storage failed.
    #[error("storage {path}: {reason}")]
    Store {
        /// Data folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The engine failed to start.
    #[error("consensus engine: {0}")]
    Engine(String),
}

fn read(path: &std::path::Path) -> Result<String, StartError> {
    std::fs::read_to_string(path).map_err(|e| StartError::Read { path: path.to_path_buf(), reason: e.to_string() })
}

/// The libp2p PeerId of an ed25519 transport key.
pub fn peer_id_of(p2p_key: &[u8; 32]) -> Result<libp2p_identity::PeerId, String> {
    let pk = libp2p_identity::ed25519::PublicKey::try_from_bytes(p2p_key).map_err(|e| e.to_string())?;
    Ok(libp2p_identity::PublicKey::from(pk).to_peer_id())
}

/// A running node.
pub struct RunningNode {
    /// Shared state (for the API).
    pub shared: Arc<Shared>,
    /// The engine.
    pub engine: EngineHandle,
    /// This node's validator address.
    pub node_id: NodeId,
    /// The genesis.
    pub genesis: ValidatedGenesis,
}

impl std::fmt::Debug for RunningNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningNode").field("node_id", &self.node_id).finish_non_exhaustive()
    }
}

/// Loads everything and starts the engine and the app loop.
pub async fn start(cfg: &NodeConfig) -> Result<RunningNode, StartError> {
    let profile_path = cfg.home.join("profile.toml");
    let genesis_path = cfg.home.join("genesis.json");
    let genesis = Genesis::from_json(&read(&genesis_path)?)
        .and_then(|g| g.validate())
        .map_err(|e| StartError::Genesis { path: genesis_path.clone(), reason: e.to_string() })?;
    let suite = genesis.suite.clone();
    let profile: toml::Value = toml::from_str(&read(&profile_path)?)
        .map_err(|e| StartError::Read { path: profile_path.clone(), reason: e.to_string() })?;
    let agency = profile.get("agency").and_then(|v| v.as_str()).unwrap_or_default().to_string();

    // Node identity: certificate and key, checked against the genesis CA of our agency.
    let cert_path = cfg.home.join("node/node.crt.pem");
    let key_path = cfg.home.join("node/node.key.pem");
    let cert = Certificate::from_pem(&read(&cert_path)?).map_err(|e| StartError::Identity(e.to_string()))?;
    let key = suite.signing_key_from_pem(&read(&key_path)?).map_err(|e| StartError::Identity(e.to_string()))?;
    if &key.public_key() != cert.public_key() {
        return Err(StartError::Identity(format!("{} does not match {}", key_path.display(), cert_path.display())));
    }
    let ca = genesis
        .cas
        .get(cert.agency().map_err(|e| StartError::Identity(e.to_string()))?)
        .ok_or_else(|| StartError::Identity(format!("agency {agency} is not in genesis")))?;
    x509::verify_member(&suite, &cert, ca, now_secs(), Some(MemberRole::Node))
        .map_err(|e| StartError::Identity(e.to_string()))?;
    let node_id = NodeId::of_key(&suite, cert.public_key()).map_err(|e| StartError::Identity(e.to_string()))?;
    let address = Address(node_id);
    let me = genesis.validators.iter().find(|v| v.node_id == node_id).cloned();

    // Transport key and the peers allowed to connect.
    let p2p_path = cfg.home.join("node/p2p.key.pem");
    let p2p_key = AnySuite::with_defaults(SuiteId::Intl)
        .signing_key_from_pem(&read(&p2p_path)?)
        .map_err(|e| StartError::P2p(e.to_string()))?;
    let SigningKey::Ed25519(p2p_secret) = &p2p_key else {
        return Err(StartError::P2p(format!("{} must hold an ed25519 key", p2p_path.display())));
    };
    let mut seed = p2p_secret.to_bytes();
    let keypair = Keypair::ed25519_from_bytes(&mut seed).map_err(|e| StartError::P2p(e.to_string()))?;
    let my_p2p: [u8; 32] = p2p_key.public_key().as_bytes().try_into().unwrap_or([0u8; 32]);
    if let Some(v) = &me
        && v.p2p_key != my_p2p
    {
        return Err(StartError::P2p(format!(
            "the transport key in {} is not the one genesis lists for this node",
            p2p_path.display()
        )));
    }
    let allowed: Vec<libp2p_identity::PeerId> =
        genesis.validators.iter().filter_map(|v| peer_id_of(&v.p2p_key).ok()).collect();
    let mut peers = Vec::new();
    for p in &cfg.p2p.peers {
        let addr: Multiaddr = p.parse().map_err(|e| StartError::P2p(format!("peer {p:?}: {e}")))?;
        let peer = addr.iter().find_map(|proto| match proto {
            multiaddr::Protocol::P2p(id) => Some(id),
            _ => None,
        });
        match peer {
            Some(id) if allowed.contains(&id) => peers.push(addr),
            Some(id) => {
                return Err(StartError::P2p(format!(
                    "peer {p} has PeerId {id}, which is not a transport key in genesis"
                )));
            }
            None => return Err(StartError::P2p(format!("peer {p} must end with /p2p/<PeerId>"))),
        }
    }
    let listen: Multiaddr =
        cfg.p2p.listen.parse().map_err(|e| StartError::P2p(format!("listen {:?}: {e}", cfg.p2p.listen)))?;

    // Storage, bound to this genesis.
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| StartError::Store { path: cfg.data_dir.clone(), reason: e.to_string() })?;
    let db_path = cfg.data_dir.join("db");
    let store_err = |e: crate::store::StoreError| StartError::Store { path: db_path.clone(), reason: e.to_string() };
    let store = Store::open(&db_path).map_err(store_err)?;
    match store.meta_get(GENESIS_META).map_err(store_err)? {
        Some(h) if h != genesis.hash.0.to_vec() => {
            return Err(StartError::Store {
                path: db_path.clone(),
                reason: "this data folder belongs to another chain (genesis hash differs)".into(),
            });
        }
        Some(_) => {}
        None => store.meta_put(GENESIS_META, &genesis.hash.0).map_err(store_err)?,
    }

    // The genesis validator set is in force from height 1; governance changes are stored by
    // the commits that make them, for the next height.
    let mut genesis_set = genesis.validators.clone();
    genesis_set.sort_by_key(|v| v.node_id);
    store.set_genesis_validator_set(&parity_scale_codec::Encode::encode(&genesis_set)).map_err(store_err)?;
    // The supervision index (case digests): rebuilt from the state when missing or older,
    // before any block is committed.
    crate::supervise::rebuild_if_needed(&store)
        .map_err(|e| StartError::Store { path: db_path.clone(), reason: e.to_string() })?;

    let ctx = CustosContext::new(genesis.genesis.chain_id.clone(), suite.clone());
    let validators = ValidatorSet::from_genesis(&genesis.validators);
    let metrics = Arc::new(Metrics::new());
    let (commits, _) = broadcast::channel(1024);
    let shared = Arc::new(Shared {
        store: Arc::new(store),
        mempool: Mutex::new(Mempool::new(cfg.mempool.max_txs, cfg.mempool.max_bytes)),
        sig_cache: Mutex::new(SignatureCache::new(cfg.mempool.max_txs * 2)),
        runtime: Runtime::new(&genesis),
        commits,
        metrics,
        progress: Mutex::new((0, 0)),
    });

    let key = Arc::new(key);
    let signer = CustosSigner::new(ctx.clone(), key.clone());
    #[cfg(feature = "byzantine")]
    let byz_signer = signer.clone();
    let verifier = CustosVerifier::new(ctx.clone());
    let moniker = if agency.is_empty() { node_id.to_string() } else { agency.clone() };
    let identity = if me.is_some() {
        use custos_consensus::engine::Codec;
        use custos_consensus::engine::Signer as _;
        let pk_bytes = <CustosScheme as custos_consensus::engine::SigningScheme>::encode_public_key(cert.public_key());
        let proof = signer
            .sign_validator_proof(pk_bytes, keypair.public().to_peer_id().to_bytes())
            .await
            .map_err(|e| StartError::Identity(e.to_string()))?;
        let proof_bytes: Bytes = CustosCodec.encode(&proof).map_err(|e| StartError::Identity(e.to_string()))?;
        NetworkIdentity::new_validator(moniker.clone(), keypair, address.to_string(), proof_bytes)
    } else {
        warn!("this node is not in the genesis validator set: running as a full node");
        NetworkIdentity::new(moniker.clone(), keypair, None)
    };
    let consensus_ctx = if me.is_some() {
        ConsensusContext::new_validator(address, Box::new(verifier), Box::new(signer))
    } else {
        ConsensusContext::new_full_node(address, Box::new(verifier))
    };
    let mut p2p =
        P2pConfig { listen_addr: listen, persistent_peers: peers, persistent_peers_only: true, ..Default::default() };
    p2p.discovery = DiscoveryConfig { enabled: false, ..p2p.discovery };
    // A chain-specific protocol name: peers of another chain are disconnected at Identify.
    p2p.protocol_names.consensus = format!("/custos/{}/consensus/v1", genesis.genesis.chain_id);
    p2p.protocol_names.sync = format!("/custos/{}/sync/v1", genesis.genesis.chain_id);
    let engine_cfg = custos_consensus::engine::Settings {
        moniker,
        consensus: ConsensusConfig { p2p, value_payload: ValuePayload::ProposalAndParts, ..Default::default() },
        value_sync: ValueSyncConfig::default(),
    };
    let wal = WalContext::new(cfg.data_dir.join("wal").join("consensus.wal"), CustosCodec);
    let network = NetworkContext::new(identity, CustosCodec);
    let (sync, requests) = (SyncContext::new(CustosCodec), RequestContext::new(16));
    #[cfg(feature = "byzantine")]
    let started = match &cfg.byzantine {
        Some(byz) => {
            let config = byz.engine_config().map_err(StartError::Engine)?;
            warn!(?config, invalid_blocks = ?byz.invalid_blocks, replay = byz.replay_proposals, "BYZANTINE TEST MODE: this node misbehaves on purpose");
            custos_consensus::engine::byzantine::start(
                ctx.clone(),
                engine_cfg,
                wal,
                network,
                consensus_ctx,
                sync,
                requests,
                config,
                Box::new(byz_signer),
                address,
            )
            .await
        }
        None => start_engine(ctx.clone(), engine_cfg, wal, network, consensus_ctx, sync, requests).await,
    };
    #[cfg(not(feature = "byzantine"))]
    let started = start_engine(ctx.clone(), engine_cfg, wal, network, consensus_ctx, sync, requests).await;
    let (channels, engine) = started.map_err(|e| StartError::Engine(format!("{e:#}")))?;

    let app = App::new(
        ctx,
        shared.clone(),
        address,
        key,
        validators,
        genesis.validator_set_hash(),
        cfg.consensus.timeouts(),
        cfg.consensus.max_block_txs,
        cfg.consensus.max_block_bytes,
        channels.network.clone(),
        cfg.byzantine.clone(),
    );
    // Peer count for metrics and status, from the network actor's own view.
    let net_requests = channels.net_requests.clone();
    let metrics = shared.metrics.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tick.tick().await;
            match custos_consensus::engine::NetworkRequest::dump_state(&net_requests).await {
                Ok(Some(dump)) => metrics.set_peers(dump.peers.len()),
                Ok(None) => {}
                Err(_) => break,
            }
        }
    });
    tokio::spawn(app.run(channels));
    info!(node = %node_id, chain = %genesis.genesis.chain_id, validator = me.is_some(), "node started");
    Ok(RunningNode { shared, engine, node_id, genesis })
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// File descriptors kept for everything but API connections: RocksDB's files, the p2p
/// connections, the consensus WAL, e-dossier files, the metrics listener.
const RESERVED_FDS: u64 = 1024;

/// `wanted`, or fewer if the process's open-file limit cannot hold that many API connections
/// besides [`RESERVED_FDS`]. The soft limit is first raised to the hard one.
fn connection_limit(wanted: usize) -> usize {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(nofile) => {
            let fit = usize::try_from(nofile.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX).max(16);
            if fit < wanted {
                warn!(
                    nofile,
                    wanted,
                    using = fit,
                    "the open-file limit allows fewer API connections than rpc.max_connections (raise LimitNOFILE)"
                );
                fit
            } else {
                info!(nofile, max_connections = wanted, "API connection limit");
                wanted
            }
        }
        Err(e) => {
            warn!(error = %e, "cannot read or raise the open-file limit; keeping rpc.max_connections");
            wanted
        }
    }
}

/// Starts the gRPC API on `cfg.rpc.listen` with mutual TLS, using the node's transport
/// certificate (`node/tls.crt.pem`, `node/tls.key.pem` in the home).
pub async fn serve_api(cfg: &NodeConfig, node: &RunningNode) -> Result<(), StartError> {
    use custos_api::pb::dossier_server::DossierServer;
    use custos_api::pb::ledger_server::LedgerServer;
    let cert_path = cfg.home.join("node/tls.crt.pem");
    let key_path = cfg.home.join("node/tls.key.pem");
    let cert = Certificate::from_pem(&read(&cert_path)?).map_err(|e| StartError::Identity(e.to_string()))?;
    let key_pem = read(&key_path)?;
    let (label, key_der) = custos_primitives::crypto::pem_rfc7468_decode(&key_pem)
        .map_err(|e| StartError::Identity(format!("{}: {e}", key_path.display())))?;
    if label != "PRIVATE KEY" {
        return Err(StartError::Identity(format!("{}: expected a PKCS#8 PRIVATE KEY", key_path.display())));
    }
    let agency = cert.agency().map_err(|e| StartError::Identity(e.to_string()))?;
    let ca = node
        .genesis
        .cas
        .get(agency)
        .ok_or_else(|| StartError::Identity(format!("agency {agency} is not in genesis")))?;
    let trust = Arc::new(custos_api::tls::TrustedCas::new(node.genesis.suite.clone(), node.genesis.cas.clone()));
    let chain = vec![cert.der().to_vec(), ca.der().to_vec()];
    let tls = custos_api::tls::server_config(trust.clone(), chain.clone(), key_der.to_vec())
        .map_err(|e| StartError::Identity(format!("API TLS: {e}")))?;
    // The node pulls e-dossiers from other agencies' nodes with its own transport identity.
    let node_tls = custos_api::tls::client_config(trust.clone(), chain, key_der.to_vec())
        .map_err(|e| StartError::Identity(format!("dossier client TLS: {e}")))?;
    let mut peers = std::collections::BTreeMap::new();
    for (a, addr) in &cfg.dossier.peers {
        let id = custos_primitives::types::AgencyId::new(a)
            .map_err(|e| StartError::P2p(format!("dossier.peers: {a:?}: {e}")))?;
        peers.insert(id, addr.clone());
    }
    let dossier_dir = cfg.data_dir.join("dossier");
    let dossier_store = custos_dossier::ChunkStore::open(&dossier_dir, node.genesis.suite.clone())
        .map_err(|e| StartError::Store { path: dossier_dir.clone(), reason: e.to_string() })?;
    let audit_path = cfg.data_dir.join("audit.log");
    let audit = Arc::new(
        crate::dossier::AuditLog::open(&audit_path)
            .map_err(|e| StartError::Store { path: audit_path.clone(), reason: e.to_string() })?,
    );
    // Mempool gossip to every other agency's node (the [dossier] peers' gRPC addresses).
    let gossip_peers = peers.iter().filter(|(a, _)| *a != agency).map(|(a, addr)| (a.clone(), addr.clone())).collect();
    let gossip = crate::gossip::Gossip::start(gossip_peers, node_tls.clone());
    let dossier = crate::dossier::DossierService::new(
        node.shared.clone(),
        dossier_store,
        agency.clone(),
        peers,
        node_tls,
        audit.clone(),
    );
    let listener = tokio::net::TcpListener::bind(cfg.rpc.listen)
        .await
        .map_err(|e| StartError::P2p(format!("cannot listen for the API on {}: {e}", cfg.rpc.listen)))?;
    let limits = crate::grpc::Limits {
        max_connections: connection_limit(cfg.rpc.max_connections),
        handshake_timeout: std::time::Duration::from_secs(10),
    };
    let revocations = {
        let store = node.shared.store.clone();
        crate::grpc::Revocations::new(move |fp| {
            Runtime::certificate_revoked(&crate::app::StoreState(&store), fp).map(|r| r.height)
        })
    };
    let incoming = crate::grpc::incoming(listener, tls, trust, limits, revocations.clone());
    let service = crate::api::LedgerService::new(
        node.shared.clone(),
        node.node_id,
        Arc::new(node.genesis.clone()),
        audit,
        Some(gossip),
    );
    let server = tonic::transport::Server::builder()
        // Pings find clients that vanished without closing (their slot is then freed).
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(60)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
        .initial_stream_window_size(Some(custos_api::client::WINDOW))
        .initial_connection_window_size(Some(custos_api::client::WINDOW))
        .add_service(InterceptedService::new(
            LedgerServer::new(service).max_decoding_message_size(1024 * 1024),
            revocations.interceptor(),
        ))
        .add_service(InterceptedService::new(
            DossierServer::new(dossier)
                .max_decoding_message_size(custos_api::client::DOSSIER_MAX_MESSAGE)
                .max_encoding_message_size(custos_api::client::DOSSIER_MAX_MESSAGE),
            revocations.interceptor(),
        ))
        .serve_with_incoming(incoming);
    tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "API server stopped");
        }
    });
    info!(addr = %cfg.rpc.listen, "gRPC API (mutual TLS) listening");
    Ok(())
}
