//! `custos-node --config FILE`: the node's TOML configuration.
//!
//! ```toml
//! home = "/etc/custos/court"          # agency home: profile.toml, genesis.json, node/ keys
//! data_dir = "/var/lib/custos/court"  # RocksDB and the consensus WAL
//!
//! [p2p]
//! listen = "/ip4/0.0.0.0/tcp/26001"
//! peers = ["/ip4/10.0.0.2/tcp/26001/p2p/12D3KooW..."]   # the other validators
//!
//! [rpc]
//! listen = "0.0.0.0:7001"            # gRPC (mutual TLS)
//! max_connections = 4096             # open at once; more are closed at once
//!
//! [metrics]
//! listen = "127.0.0.1:9101"          # Prometheus text format at /metrics
//!
//! [consensus]                        # milliseconds
//! timeout_propose = 3000
//! timeout_prevote = 1000
//! timeout_precommit = 1000
//! max_block_txs = 500
//!
//! [mempool]
//! max_txs = 10000
//! max_bytes = 67108864
//!
//! [dossier]                         # e-dossier exchange: each agency's node gRPC address
//! peers = { court = "10.0.0.1:7001", justice = "10.0.0.5:7001" }
//!
//! [log]
//! format = "text"                    # or "json"
//! level = "info"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A value is out of range.
    #[error("invalid config {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The node configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Agency home (profile, genesis, node identity). Relative paths are relative to the config file.
    pub home: PathBuf,
    /// Where the node keeps RocksDB and the consensus WAL.
    pub data_dir: PathBuf,
    /// Peer-to-peer network.
    pub p2p: P2pSection,
    /// gRPC API.
    pub rpc: RpcSection,
    /// Prometheus metrics.
    pub metrics: MetricsSection,
    /// Consensus timing and block size.
    #[serde(default)]
    pub consensus: ConsensusSection,
    /// Transaction pool.
    #[serde(default)]
    pub mempool: MempoolSection,
    /// E-dossier exchange.
    #[serde(default)]
    pub dossier: DossierSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// Test-only misbehaviour; refused unless the binary was built with the `byzantine` feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byzantine: Option<ByzantineSection>,
}

/// `[byzantine]`: makes this node misbehave on purpose, for the Byzantine-node tests. Only a
/// binary built with the `byzantine` feature (the test suite's) accepts it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ByzantineSection {
    /// `[byzantine.engine]`: Malachite's Byzantine proxy (`equivocate_votes`,
    /// `equivocate_proposals`, `drop_votes`, `drop_proposals`, `seed`; each trigger as
    /// `{ mode = "always" }`, `{ mode = "at_heights", heights = [..] }`, …).
    pub engine: toml::Table,
    /// Every block this node proposes is made invalid in this way.
    pub invalid_blocks: Option<InvalidBlock>,
    /// At every new height, re-publish the proposal streams this node sent at earlier heights.
    pub replay_proposals: bool,
}

/// How a Byzantine proposer spoils its blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidBlock {
    /// One transaction's signature has a flipped byte.
    BadSignature,
    /// A transaction already committed is included again (its nonce is spent).
    ReplayedTx,
    /// The state root commits to a write no transaction made (a state change the contracts
    /// do not allow, e.g. a case moved without its writ).
    ForgedWrite,
    /// The header's state root has a flipped byte.
    WrongStateRoot,
}

/// `[dossier]`: where the e-dossiers of other agencies are pulled from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DossierSection {
    /// Agency id → `host:port` of that agency's node gRPC API.
    pub peers: std::collections::BTreeMap<String, String>,
}

/// `[p2p]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// Listen multiaddr, `/ip4/A/tcp/P`.
    pub listen: String,
    /// The other validators, `/ip4/A/tcp/P/p2p/PEERID`. Only peers listed here, whose PeerId is
    /// a transport key in genesis, may connect.
    pub peers: Vec<String>,
}

/// `[rpc]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// Most API connections open at once, authenticated or still in their TLS handshake.
    /// Connections over the limit are closed at once. The node lowers it to what its open-file
    /// limit allows (see the operator guide).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

/// Default of `[rpc] max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}

/// `[metrics]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Prometheus listen address.
    pub listen: SocketAddr,
}

/// `[consensus]`, times in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusSection {
    /// Propose timeout of round 0.
    pub timeout_propose: u64,
    /// Added to the propose timeout per round.
    pub timeout_propose_delta: u64,
    /// Prevote timeout.
    pub timeout_prevote: u64,
    /// Precommit timeout.
    pub timeout_precommit: u64,
    /// Added to prevote and precommit timeouts per round.
    pub timeout_vote_delta: u64,
    /// Most transactions per block.
    pub max_block_txs: usize,
    /// Most transaction bytes per block.
    pub max_block_bytes: usize,
}

impl Default for ConsensusSection {
    fn default() -> Self {
        ConsensusSection {
            timeout_propose: 3000,
            timeout_propose_delta: 500,
            timeout_prevote: 1000,
            timeout_precommit: 1000,
            timeout_vote_delta: 500,
            max_block_txs: 500,
            max_block_bytes: 4 * 1024 * 1024,
        }
    }
}

impl ConsensusSection {
    /// Malachite's timeouts.
    pub fn timeouts(&self) -> custos_consensus::engine::LinearTimeouts {
        let ms = Duration::from_millis;
        let propose = ms(self.timeout_propose);
        let prevote = ms(self.timeout_prevote);
        let precommit = ms(self.timeout_precommit);
        custos_consensus::engine::LinearTimeouts {
            propose,
            propose_delta: ms(self.timeout_propose_delta),
            prevote,
            prevote_delta: ms(self.timeout_vote_delta),
            precommit,
            precommit_delta: ms(self.timeout_vote_delta),
            rebroadcast: propose + prevote + precommit,
            max_timeout: Duration::from_secs(60),
        }
    }
}

/// `[mempool]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolSection {
    /// Most pending transactions; beyond it submissions are answered "busy".
    pub max_txs: usize,
    /// Most pending bytes.
    pub max_bytes: usize,
}

impl Default for MempoolSection {
    fn default() -> Self {
        MempoolSection { max_txs: 10_000, max_bytes: 64 * 1024 * 1024 }
    }
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `custos_node=debug,info`.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection { format: "text".into(), level: "info".into() }
    }
}

impl NodeConfig {
    /// Reads and checks a config file; relative paths become relative to its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.to_path_buf(), source: e })?;
        let mut cfg: NodeConfig = toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), reason: e.to_string() })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if cfg.home.is_relative() {
            cfg.home = base.join(&cfg.home);
        }
        if cfg.data_dir.is_relative() {
            cfg.data_dir = base.join(&cfg.data_dir);
        }
        let invalid = |reason: String| ConfigError::Invalid { path: path.to_path_buf(), reason };
        if cfg.log.format != "text" && cfg.log.format != "json" {
            return Err(invalid(format!("log.format must be \"text\" or \"json\", not {:?}", cfg.log.format)));
        }
        if cfg.consensus.timeout_propose == 0
            || cfg.consensus.timeout_prevote == 0
            || cfg.consensus.timeout_precommit == 0
        {
            return Err(invalid("consensus timeouts must be positive".into()));
        }
        if cfg.mempool.max_txs == 0 || cfg.mempool.max_bytes == 0 {
            return Err(invalid("mempool limits must be positive".into()));
        }
        if cfg.consensus.max_block_txs == 0 || cfg.consensus.max_block_bytes == 0 {
            return Err(invalid("block limits must be positive".into()));
        }
        if cfg.rpc.max_connections == 0 {
            return Err(invalid("rpc.max_connections must be positive".into()));
        }
        if let Some(byz) = &cfg.byzantine {
            byz.check().map_err(invalid)?;
        }
        for (agency, addr) in &cfg.dossier.peers {
            if custos_primitives::types::AgencyId::new(agency).is_err() {
                return Err(invalid(format!("dossier.peers: {agency:?} is not an agency id")));
            }
            if addr.is_empty() || !addr.contains(':') {
                return Err(invalid(format!("dossier.peers.{agency}: {addr:?} is not host:port")));
            }
        }
        Ok(cfg)
    }

    /// Serializes to TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

impl ByzantineSection {
    /// Malachite's proxy configuration of `[byzantine.engine]`.
    #[cfg(feature = "byzantine")]
    pub fn engine_config(&self) -> Result<custos_consensus::engine::byzantine::ByzantineConfig, String> {
        let config: custos_consensus::engine::byzantine::ByzantineConfig =
            self.engine.clone().try_into().map_err(|e| format!("byzantine.engine: {e}"))?;
        config.validate().map_err(|e| format!("byzantine.engine: {e}"))?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        #[cfg(feature = "byzantine")]
        return self.engine_config().map(|_| ());
        #[cfg(not(feature = "byzantine"))]
        Err("[byzantine] is a test-only mode and this binary was built without the `byzantine` feature".into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BASE: &str = "home = \".\"\ndata_dir = \"data\"\n[p2p]\nlisten = \"/ip4/127.0.0.1/tcp/1\"\npeers = []\n\
                        [rpc]\nlisten = \"127.0.0.1:2\"\n[metrics]\nlisten = \"127.0.0.1:3\"\n";

    fn load(extra: &str) -> Result<NodeConfig, ConfigError> {
        let dir = tempfile::tempdir().map_err(|e| ConfigError::Read { path: PathBuf::new(), source: e })?;
        let path = dir.path().join("node.toml");
        std::fs::write(&path, format!("{BASE}{extra}"))
            .map_err(|e| ConfigError::Read { path: path.clone(), source: e })?;
        NodeConfig::load(&path)
    }

    #[test]
    fn rpc_connection_limit_has_a_default_and_is_checked() {
        assert_eq!(load("").map(|c| c.rpc.max_connections).ok(), Some(DEFAULT_MAX_CONNECTIONS));
        let base = BASE.replace("[rpc]\n", "[rpc]\nmax_connections = 0\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, &base).unwrap();
        assert!(
            matches!(NodeConfig::load(&path), Err(ConfigError::Invalid { reason, .. }) if reason.contains("max_connections"))
        );
        std::fs::write(&path, base.replace("max_connections = 0", "max_connections = 10")).unwrap();
        assert_eq!(NodeConfig::load(&path).map(|c| c.rpc.max_connections).ok(), Some(10));
    }

    #[test]
    fn dossier_peers_are_optional_and_checked() {
        assert!(load("").map(|c| c.dossier.peers.is_empty()).unwrap_or(false));
        let cfg = load("[dossier]\npeers = { court = \"10.0.0.1:7001\", \"justice\" = \"h:7005\" }\n");
        let peers = cfg.map(|c| c.dossier.peers).unwrap_or_default();
        assert_eq!(peers.get("court").map(String::as_str), Some("10.0.0.1:7001"));
        assert_eq!(peers.get("justice").map(String::as_str), Some("h:7005"));
        let bad = load("[dossier]\npeers = { \"Court!\" = \"10.0.0.1:7001\" }\n");
        assert!(matches!(bad, Err(ConfigError::Invalid { reason, .. }) if reason.contains("not an agency id")));
        let bad = load("[dossier]\npeers = { court = \"10.0.0.1\" }\n");
        assert!(matches!(bad, Err(ConfigError::Invalid { reason, .. }) if reason.contains("host:port")));
    }
}
