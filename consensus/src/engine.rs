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
