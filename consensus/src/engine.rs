//! The engine surface the node drives: Malachite's channel API, re-exported in one place so
//! the node names Malachite items only through this module (and upgrading Malachite touches
//! this crate and the node's app loop, nothing else).

pub use malachitebft_app_channel::app::config::{
    ConsensusConfig, DiscoveryConfig, NodeConfig as EngineConfig, P2pConfig, PubSubProtocol, ValuePayload,
    ValueSyncConfig,
};
pub use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
pub use malachitebft_app_channel::app::events::{RxEvent, TxEvent};
pub use malachitebft_app_channel::app::net::Multiaddr;
pub use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
pub use malachitebft_app_channel::app::types::codec::Codec;
pub use malachitebft_app_channel::app::types::core::{
    CommitCertificate, LinearTimeouts, Round, SigningScheme, Validity, VoteExtensions,
};
pub use malachitebft_app_channel::app::types::sync::RawDecidedValue;
pub use malachitebft_app_channel::app::types::{Keypair, LocallyProposedValue, PeerId, ProposedValue};
pub use malachitebft_app_channel::{
    AppMsg, Channels, ConsensusContext, EngineHandle, NetworkContext, NetworkIdentity, NetworkMsg, NetworkRequest,
    RequestContext, Signer, SyncContext, WalContext, start_engine,
};

/// The engine configuration handed to Malachite: a moniker (for its logs), the consensus and
/// the value-sync settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Name in the engine's logs.
    pub moniker: String,
    /// Consensus settings (p2p, payload mode, timeouts the app does not override).
    pub consensus: ConsensusConfig,
    /// Value-sync settings.
    pub value_sync: ValueSyncConfig,
}

impl EngineConfig for Settings {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}
