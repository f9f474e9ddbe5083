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
pub use malachitebft_app_channel::app::types::{
    Keypair, LocallyProposedValue, MisbehaviorEvidence, PeerId, ProposedValue,
};
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

/// The test-only misbehaving engine: Malachite's own Byzantine network proxy between the
/// consensus actor and the network, which sends conflicting votes and proposals (signed with
/// the node's real key), or drops them, when its triggers fire.
#[cfg(feature = "byzantine")]
pub mod byzantine {
    use malachitebft_app_channel::{ByzantineContext, EngineBuilder};
    pub use malachitebft_engine_byzantine::{ByzantineConfig, Trigger};

    use super::*;
    use crate::codec::CustosCodec;
    use crate::context::{Address, BlockId, CustosContext};
    use custos_primitives::types::BlockHash;

    /// Another block hash: the same with its last byte flipped.
    fn conflicting(id: &BlockHash) -> BlockHash {
        let mut bytes = id.0.0;
        bytes[31] ^= 0xff;
        BlockHash(custos_primitives::crypto::Hash(bytes))
    }

    /// Starts the engine as [`start_engine`] does, with the network wrapped in the Byzantine
    /// proxy configured by `config`. Conflicting proposals name a block id nobody has; a
    /// conflicting vote is for such an id (or, for a nil vote, for an id of all 0xee bytes).
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        ctx: CustosContext,
        settings: Settings,
        wal: WalContext<CustosCodec>,
        network: NetworkContext<CustosCodec>,
        consensus: ConsensusContext<CustosContext>,
        sync: SyncContext<CustosCodec>,
        request: RequestContext,
        config: ByzantineConfig,
        signer: Box<dyn Signer<CustosContext>>,
        address: Address,
    ) -> eyre::Result<(Channels<CustosContext>, EngineHandle)> {
        let byz = ByzantineContext {
            identity: network.identity,
            codec: network.codec,
            config,
            signer,
            address,
            conflicting_value_fn: Some(Box::new(|v: &BlockId| BlockId(conflicting(&v.0)))),
            conflicting_vote_value_fn: Some(Box::new(|id: Option<&BlockHash>| {
                id.map(conflicting).unwrap_or(BlockHash(custos_primitives::crypto::Hash([0xee; 32])))
            })),
        };
        EngineBuilder::new(ctx, settings)
            .with_default_wal(wal)
            .with_byzantine_network(byz)
            .await?
            .with_default_sync(sync)
            .with_default_consensus(consensus)
            .with_default_request(request)
            .build()
            .await
    }
}
