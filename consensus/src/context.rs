//! The Custos [`Context`] for Malachite: heights, addresses, the value (a block id), votes,
//! proposals, proposal parts, validators and proposer selection.
//!
//! Sign bytes are defined here and nowhere else. Every signed consensus message starts with a
//! domain tag and the chain id; a precommit for a block signs exactly
//! [`PrecommitPayload::signing_bytes`], so commit certificates verify offline with
//! `custos-primitives` alone.

use core::fmt;
use std::sync::Arc;

use malachitebft_app_channel::app::types::core::{
    self as mc, LinearTimeouts, NilOrVal, Round, SignedExtension, VoteType,
};
use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};

use custos_primitives::crypto::{AnySuite, PublicKey, Signature, Suite};
use custos_primitives::genesis::Validator as GenesisValidator;
use custos_primitives::types::{BlockHash, ChainId, NodeId, PrecommitPayload};

use crate::signing::CustosScheme;

/// Domain tag of prevotes for a block.
pub const PREVOTE_TAG: &[u8] = b"custos/prevote/v1";
/// Domain tag of nil votes (prevote or precommit).
pub const NIL_VOTE_TAG: &[u8] = b"custos/nil-vote/v1";
/// Domain tag of proposals.
pub const PROPOSAL_TAG: &[u8] = b"custos/proposal/v1";
/// Domain tag of the proposer's signature over a streamed block.
pub const STREAM_TAG: &[u8] = b"custos/proposal-stream/v1";

/// A block height. The first block after genesis is height 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, DecodeWithMemTracking)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: its [`NodeId`] (the hash of its node certificate's public key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, DecodeWithMemTracking)]
pub struct Address(pub NodeId);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short form for logs; the full id is in Debug and in every stored structure.
        let hex = self.0.to_string();
        f.write_str(hex.get(..12).unwrap_or(&hex))
    }
}

impl mc::Address for Address {}

/// The value consensus decides on: the id of a block. The block itself is streamed as
/// proposal parts and stored by the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, DecodeWithMemTracking)]
pub struct BlockId(pub BlockHash);

impl mc::Value for BlockId {
    type Id = BlockHash;

    fn id(&self) -> BlockHash {
        self.0
    }
}

/// A proposal: this validator proposes block `value` at (height, round).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The proposed block.
    pub value: BlockId,
    /// Round of the polka this value re-proposes, or nil.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
}

impl Proposal {
    /// The bytes the proposer signs.
    pub fn sign_bytes(&self, chain_id: &ChainId) -> Vec<u8> {
        let mut out = PROPOSAL_TAG.to_vec();
        (chain_id, self.height, self.round.as_u32(), self.value, self.pol_round.as_u32(), self.proposer)
            .encode_to(&mut out);
        out
    }
}

impl mc::Proposal<CustosContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &BlockId {
        &self.value
    }
    fn take_value(self) -> BlockId {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// A prevote or precommit. Vote extensions are disabled in Custos.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockHash>,
    /// The voter.
    pub validator: Address,
    /// Always `None` (extensions are disabled); kept for the trait.
    pub extension: Option<SignedExtension<CustosContext>>,
}

impl Vote {
    /// The bytes the voter signs. A precommit for a block signs
    /// `PrecommitPayload{chain_id, height, round, block}` exactly, so commit certificates
    /// verify without Malachite.
    pub fn sign_bytes(&self, chain_id: &ChainId) -> Vec<u8> {
        let round = self.round.as_u32().unwrap_or(u32::MAX);
        match (&self.value, self.vote_type) {
            (NilOrVal::Val(block), VoteType::Precommit) => {
                PrecommitPayload { chain_id: chain_id.clone(), height: self.height.0, round, block: *block }
                    .signing_bytes()
            }
            (NilOrVal::Val(block), VoteType::Prevote) => {
                let mut out = PREVOTE_TAG.to_vec();
                (chain_id, self.height.0, round, block).encode_to(&mut out);
                out
            }
            (NilOrVal::Nil, vote_type) => {
                let kind: u8 = match vote_type {
                    VoteType::Prevote => 0,
                    VoteType::Precommit => 1,
                };
                let mut out = NIL_VOTE_TAG.to_vec();
                (chain_id, kind, self.height.0, round).encode_to(&mut out);
                out
            }
        }
    }
}

impl mc::Vote<CustosContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<BlockHash> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<BlockHash> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.vote_type
    }
    fn validator_address(&self) -> &Address {
        &self.validator
    }
    fn extension(&self) -> Option<&SignedExtension<CustosContext>> {
        self.extension.as_ref()
    }
    fn take_extension(&mut self) -> Option<SignedExtension<CustosContext>> {
        self.extension.take()
    }
    fn extend(self, extension: SignedExtension<CustosContext>) -> Self {
        Vote { extension: Some(extension), ..self }
    }
}

/// One piece of a streamed block proposal.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub enum ProposalPart {
    /// First part: what is being proposed.
    #[codec(index = 0)]
    Init(ProposalInit),
    /// A slice of the SCALE-encoded block.
    #[codec(index = 1)]
    Data(Vec<u8>),
    /// Last part: the proposer's signature over the init fields and the hash of all data.
    #[codec(index = 2)]
    Fin(Signature),
}

/// The fields of [`ProposalPart::Init`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct ProposalInit {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Option<u32>,
    /// Polka round of a re-proposal.
    pub pol_round: Option<u32>,
    /// The proposer.
    pub proposer: Address,
    /// Id of the block streamed.
    pub block: BlockHash,
    /// Total length of the data parts.
    pub total_len: u64,
}

impl ProposalInit {
    /// The bytes the proposer signs in [`ProposalPart::Fin`]: tag, chain id, the init
    /// fields and the hash of the concatenated data.
    pub fn stream_sign_bytes(&self, chain_id: &ChainId, data_hash: &custos_primitives::Hash) -> Vec<u8> {
        let mut out = STREAM_TAG.to_vec();
        (chain_id, self, data_hash).encode_to(&mut out);
        out
    }
}

impl mc::ProposalPart<CustosContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init(_))
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// A validator: address, consensus key, voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Address (node id).
    pub address: Address,
    /// Consensus public key (SM2 or ed25519, as the network's suite).
    pub public_key: PublicKey,
    /// Voting power.
    pub power: u64,
}

impl mc::Validator<CustosContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }
    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
    fn voting_power(&self) -> u64 {
        self.power
    }
}

/// The validators of a height, sorted by address, without duplicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Arc<Vec<Validator>>,
}

impl ValidatorSet {
    /// Builds a set: sorts by address and drops zero-power and duplicate entries.
    pub fn new(mut validators: Vec<Validator>) -> Self {
        validators.retain(|v| v.power > 0);
        validators.sort_by_key(|v| v.address);
        validators.dedup_by_key(|v| v.address);
        ValidatorSet { validators: Arc::new(validators) }
    }

    /// The genesis validator set.
    pub fn from_genesis(validators: &[GenesisValidator]) -> Self {
        Self::new(
            validators
                .iter()
                .map(|v| Validator { address: Address(v.node_id), public_key: v.public_key, power: v.power })
                .collect(),
        )
    }

    /// The validators, sorted.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }
}

impl mc::ValidatorSet<CustosContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> u64 {
        self.validators.iter().map(|v| v.power).sum()
    }
    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators.binary_search_by_key(address, |v| v.address).ok().and_then(|i| self.validators.get(i))
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// The Custos consensus context: the chain id and the network's crypto suite.
#[derive(Clone, Debug)]
pub struct CustosContext {
    chain_id: ChainId,
    suite: Arc<AnySuite>,
}

impl CustosContext {
    /// A context for `chain_id` with `suite`.
    pub fn new(chain_id: ChainId, suite: AnySuite) -> Self {
        CustosContext { chain_id, suite: Arc::new(suite) }
    }
    /// The chain id.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
    /// The suite.
    pub fn suite(&self) -> &AnySuite {
        &self.suite
    }

    /// The proposer of (height, round) in `set`, if the set is not empty.
    pub fn proposer<'a>(&self, set: &'a ValidatorSet, height: Height, round: Round) -> Option<&'a Validator> {
        set.validators.get(Self::proposer_index(set.validators.len(), height, round))
    }

    /// Proposer of (height, round): round-robin over the sorted set, starting at
    /// `(height - 1) mod n` in round 0.
    pub fn proposer_index(count: usize, height: Height, round: Round) -> usize {
        if count == 0 {
            return 0;
        }
        let r = round.as_u32().unwrap_or(0) as u64;
        ((height.0.saturating_sub(1).wrapping_add(r)) % count as u64) as usize
    }
}

impl mc::Context for CustosContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockId;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = CustosScheme;

    fn select_proposer<'a>(&self, validator_set: &'a ValidatorSet, height: Height, round: Round) -> &'a Validator {
        let i = Self::proposer_index(validator_set.validators.len(), height, round);
        // The engine never runs a height with an empty set (it refuses one at start), so the
        // index is always in range; the fallback only keeps this total.
        match validator_set.validators.get(i).or_else(|| validator_set.validators.first()) {
            Some(v) => v,
            None => &EMPTY_VALIDATOR,
        }
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockId,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, proposer: address }
    }

    fn new_prevote(&self, height: Height, round: Round, value_id: NilOrVal<BlockHash>, address: Address) -> Vote {
        Vote { vote_type: VoteType::Prevote, height, round, value: value_id, validator: address, extension: None }
    }

    fn new_precommit(&self, height: Height, round: Round, value_id: NilOrVal<BlockHash>, address: Address) -> Vote {
        Vote { vote_type: VoteType::Precommit, height, round, value: value_id, validator: address, extension: None }
    }
}

static EMPTY_VALIDATOR: Validator = Validator {
    address: Address(NodeId(custos_primitives::Hash([0u8; 32]))),
    public_key: PublicKey::Ed25519([0u8; 32]),
    power: 0,
};

/// Verifies a precommit-style signature by `key` over `bytes` under the context's suite.
pub(crate) fn verify_bytes(ctx: &CustosContext, key: &PublicKey, bytes: &[u8], sig: &Signature) -> bool {
    ctx.suite().verify(key, bytes, sig).is_ok()
}
