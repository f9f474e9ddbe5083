//! The SCALE codec for everything the engine puts on the wire, syncs, or writes to its WAL.
//!
//! Malachite's types do not implement SCALE, so each has a wire mirror here. Every encoding
//! starts with [`CODEC_VERSION`]; decoding is bounded per message kind and must consume the
//! whole input. Changing an encoding breaks WAL replay and peers: do it only with a version bump.

use std::ops::RangeInclusive;

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, CommitSignature, ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate,
    PolkaSignature, Round, RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, ValidatorProof,
    Validity, VoteType,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_sync::{ValueRequest, ValueResponse};
use parity_scale_codec::{Decode, Encode};

use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::Signature;
use custos_primitives::types::BlockHash;

use crate::context::{Address, BlockId, CustosContext, Height, Proposal, ProposalPart, Vote};

/// First byte of every encoding.
pub const CODEC_VERSION: u8 = 1;

/// Largest consensus message (vote, proposal, certificate, proof).
pub const MAX_CONSENSUS_MSG: usize = 256 * 1024;
/// Largest proposal part (the node streams blocks in parts of at most 256 KiB of data).
pub const MAX_PART_MSG: usize = 1024 * 1024;
/// Largest sync response.
pub const MAX_SYNC_MSG: usize = 64 * 1024 * 1024;

/// Errors of the codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Unknown codec version byte.
    #[error("unknown codec version {0} (expected {CODEC_VERSION})")]
    Version(u8),
    /// Empty input.
    #[error("empty message")]
    Empty,
    /// The SCALE body is invalid.
    #[error(transparent)]
    Scale(#[from] custos_primitives::codec::CodecError),
    /// A field that must be absent (vote extensions are disabled) is present.
    #[error("{0}")]
    Unsupported(&'static str),
    /// A libp2p peer id does not parse.
    #[error("invalid peer id: {0}")]
    PeerId(String),
}

/// The codec handed to the engine for the network, sync and the WAL.
#[derive(Clone, Copy, Debug, Default)]
pub struct CustosCodec;

fn encode_versioned<T: Encode>(value: &T) -> Bytes {
    let mut out = Vec::with_capacity(1 + value.size_hint());
    out.push(CODEC_VERSION);
    value.encode_to(&mut out);
    Bytes::from(out)
}

fn decode_versioned<T: Decode>(what: &'static str, bytes: &[u8], max: usize) -> Result<T, CodecError> {
    let (&v, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if v != CODEC_VERSION {
        return Err(CodecError::Version(v));
    }
    Ok(decode_exact(what, body, max)?)
}

// ---- wire mirrors ------------------------------------------------------------------------

#[derive(Encode, Decode)]
struct WireVote {
    precommit: bool,
    height: Height,
    round: Option<u32>,
    value: Option<BlockHash>,
    validator: Address,
}

impl WireVote {
    fn from_vote(v: &Vote) -> Result<Self, CodecError> {
        if v.extension.is_some() {
            return Err(CodecError::Unsupported("vote extensions are disabled in Custos"));
        }
        Ok(WireVote {
            precommit: v.vote_type == VoteType::Precommit,
            height: v.height,
            round: v.round.as_u32(),
            value: match v.value {
                NilOrVal::Nil => None,
                NilOrVal::Val(b) => Some(b),
            },
            validator: v.validator,
        })
    }

    fn into_vote(self) -> Vote {
        Vote {
            vote_type: if self.precommit { VoteType::Precommit } else { VoteType::Prevote },
            height: self.height,
            round: Round::from(self.round),
            value: match self.value {
                None => NilOrVal::Nil,
                Some(b) => NilOrVal::Val(b),
            },
            validator: self.validator,
            extension: None,
        }
    }
}

#[derive(Encode, Decode)]
struct WireProposal {
    height: Height,
    round: Option<u32>,
    value: BlockId,
    pol_round: Option<u32>,
    proposer: Address,
}

impl WireProposal {
    fn from_proposal(p: &Proposal) -> Self {
        WireProposal {
            height: p.height,
            round: p.round.as_u32(),
            value: p.value,
            pol_round: p.pol_round.as_u32(),
            proposer: p.proposer,
        }
    }
    fn into_proposal(self) -> Proposal {
        Proposal {
            height: self.height,
            round: Round::from(self.round),
            value: self.value,
            pol_round: Round::from(self.pol_round),
            proposer: self.proposer,
        }
    }
}

#[derive(Encode, Decode)]
enum WireSignedMsg {
    #[codec(index = 0)]
    Vote(WireVote, Signature),
    #[codec(index = 1)]
    Proposal(WireProposal, Signature),
}

fn signed_msg_to_wire(m: &SignedConsensusMsg<CustosContext>) -> Result<WireSignedMsg, CodecError> {
    Ok(match m {
        SignedConsensusMsg::Vote(v) => WireSignedMsg::Vote(WireVote::from_vote(&v.message)?, v.signature),
        SignedConsensusMsg::Proposal(p) => {
            WireSignedMsg::Proposal(WireProposal::from_proposal(&p.message), p.signature)
        }
    })
}

fn signed_msg_from_wire(w: WireSignedMsg) -> SignedConsensusMsg<CustosContext> {
    match w {
        WireSignedMsg::Vote(v, s) => SignedConsensusMsg::Vote(SignedMessage::new(v.into_vote(), s)),
        WireSignedMsg::Proposal(p, s) => SignedConsensusMsg::Proposal(SignedMessage::new(p.into_proposal(), s)),
    }
}

#[derive(Encode, Decode)]
struct WirePolka {
    height: Height,
    round: Option<u32>,
    value: BlockHash,
    signatures: Vec<(Address, Signature)>,
}

impl WirePolka {
    fn from_cert(c: &PolkaCertificate<CustosContext>) -> Self {
        WirePolka {
            height: c.height,
            round: c.round.as_u32(),
            value: c.value_id,
            signatures: c.polka_signatures.iter().map(|s| (s.address, s.signature)).collect(),
        }
    }
    fn into_cert(self) -> PolkaCertificate<CustosContext> {
        PolkaCertificate {
            height: self.height,
            round: Round::from(self.round),
            value_id: self.value,
            polka_signatures: self.signatures.into_iter().map(|(a, s)| PolkaSignature::new(a, s)).collect(),
        }
    }
}

#[derive(Encode, Decode)]
struct WireRoundSignature {
    precommit: bool,
    value: Option<BlockHash>,
    address: Address,
    signature: Signature,
}

#[derive(Encode, Decode)]
struct WireRoundCert {
    height: Height,
    round: Option<u32>,
    skip: bool,
    signatures: Vec<WireRoundSignature>,
}

impl WireRoundCert {
    fn from_cert(c: &RoundCertificate<CustosContext>) -> Self {
        WireRoundCert {
            height: c.height,
            round: c.round.as_u32(),
            skip: matches!(c.cert_type, RoundCertificateType::Skip),
            signatures: c
                .round_signatures
                .iter()
                .map(|s| WireRoundSignature {
                    precommit: s.vote_type == VoteType::Precommit,
                    value: match s.value_id {
                        NilOrVal::Nil => None,
                        NilOrVal::Val(b) => Some(b),
                    },
                    address: s.address,
                    signature: s.signature,
                })
                .collect(),
        }
    }
    fn into_cert(self) -> RoundCertificate<CustosContext> {
        RoundCertificate {
            height: self.height,
            round: Round::from(self.round),
            cert_type: if self.skip { RoundCertificateType::Skip } else { RoundCertificateType::Precommit },
            round_signatures: self
                .signatures
                .into_iter()
                .map(|s| {
                    RoundSignature::new(
                        if s.precommit { VoteType::Precommit } else { VoteType::Prevote },
                        match s.value {
                            None => NilOrVal::Nil,
                            Some(b) => NilOrVal::Val(b),
                        },
                        s.address,
                        s.signature,
                    )
                })
                .collect(),
        }
    }
}

#[derive(Encode, Decode)]
enum WireLiveness {
    #[codec(index = 0)]
    Vote(WireVote, Signature),
    #[codec(index = 1)]
    Polka(WirePolka),
    #[codec(index = 2)]
    SkipRound(WireRoundCert),
}

#[derive(Encode, Decode)]
struct WireStreamMsg {
    stream_id: Vec<u8>,
    sequence: u64,
    content: Option<ProposalPart>,
}

/// The commit certificate as Custos stores and syncs it (vote extensions are disabled).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct WireCommitCert {
    /// Height.
    pub height: Height,
    /// Decision round.
    pub round: Option<u32>,
    /// The decided block.
    pub value: BlockHash,
    /// Precommit signatures.
    pub signatures: Vec<(Address, Signature)>,
}

impl WireCommitCert {
    /// From the engine's certificate.
    pub fn from_commit(c: &CommitCertificate<CustosContext>) -> Self {
        WireCommitCert {
            height: c.height,
            round: c.round.as_u32(),
            value: c.value_id,
            signatures: c.commit_signatures.iter().map(|s| (s.address, s.signature)).collect(),
        }
    }

    /// From the engine's extended certificate; extensions must be absent.
    pub fn from_extended(c: &ExtendedCommitCertificate<CustosContext>) -> Result<Self, CodecError> {
        if c.commit_signatures.iter().any(|s| s.extension.is_some()) {
            return Err(CodecError::Unsupported("vote extensions are disabled in Custos"));
        }
        Ok(WireCommitCert {
            height: c.height,
            round: c.round.as_u32(),
            value: c.value_id,
            signatures: c.commit_signatures.iter().map(|s| (s.address, s.signature)).collect(),
        })
    }

    /// To the engine's certificate.
    pub fn to_commit(&self) -> CommitCertificate<CustosContext> {
        CommitCertificate {
            height: self.height,
            round: Round::from(self.round),
            value_id: self.value,
            commit_signatures: self.signatures.iter().map(|(a, s)| CommitSignature::new(*a, *s)).collect(),
        }
    }

    /// To the engine's extended certificate (no extensions).
    pub fn to_extended(&self) -> ExtendedCommitCertificate<CustosContext> {
        ExtendedCommitCertificate {
            height: self.height,
            round: Round::from(self.round),
            value_id: self.value,
            commit_signatures: self
                .signatures
                .iter()
                .map(|(a, s)| ExtendedCommitSignature { address: *a, signature: *s, extension: None })
                .collect(),
        }
    }
}

#[derive(Encode, Decode)]
struct WireRawDecided {
    value: Vec<u8>,
    certificate: WireCommitCert,
}

#[derive(Encode, Decode)]
struct WireProposedValue {
    height: Height,
    round: Option<u32>,
    valid_round: Option<u32>,
    proposer: Address,
    value: BlockId,
    valid: bool,
}

// ---- Codec impls ---------------------------------------------------------------------------

impl Codec<ProposalPart> for CustosCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<ProposalPart, CodecError> {
        decode_versioned("proposal part", &bytes, MAX_PART_MSG)
    }
    fn encode(&self, msg: &ProposalPart) -> Result<Bytes, CodecError> {
        Ok(encode_versioned(msg))
    }
}

impl Codec<SignedConsensusMsg<CustosContext>> for CustosCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<SignedConsensusMsg<CustosContext>, CodecError> {
        let w: WireSignedMsg = decode_versioned("consensus message", &bytes, MAX_CONSENSUS_MSG)?;
        Ok(signed_msg_from_wire(w))
    }
    fn encode(&self, msg: &SignedConsensusMsg<CustosContext>) -> Result<Bytes, CodecError> {
        Ok(encode_versioned(&signed_msg_to_wire(msg)?))
    }
}

impl Codec<LivenessMsg<CustosContext>> for CustosCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<LivenessMsg<CustosContext>, CodecError> {
        let w: WireLiveness = decode_versioned("liveness message", &bytes, MAX_CONSENSUS_MSG)?;
        Ok(match w {
            WireLiveness::Vote(v, s) => LivenessMsg::Vote(SignedMessage::new(v.into_vote(), s)),
            WireLiveness::Polka(p) => LivenessMsg::PolkaCertificate(p.into_cert()),
            WireLiveness::SkipRound(r) => LivenessMsg::SkipRoundCertificate(r.into_cert()),
        })
    }
    fn encode(&self, msg: &LivenessMsg<CustosContext>) -> Result<Bytes, CodecError> {
        let w = match msg {
            LivenessMsg::Vote(v) => WireLiveness::Vote(WireVote::from_vote(&v.message)?, v.signature),
            LivenessMsg::PolkaCertificate(p) => WireLiveness::Polka(WirePolka::from_cert(p)),
            LivenessMsg::SkipRoundCertificate(r) => WireLiveness::SkipRound(WireRoundCert::from_cert(r)),
        };
        Ok(encode_versioned(&w))
    }
}

impl Codec<StreamMessage<ProposalPart>> for CustosCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<StreamMessage<ProposalPart>, CodecError> {
        let w: WireStreamMsg = decode_versioned("stream message", &bytes, MAX_PART_MSG)?;
        Ok(StreamMessage {
            stream_id: StreamId::new(Bytes::from(w.stream_id)),
            sequence: w.sequence,
            content: match w.content {
                Some(p) => StreamContent::Data(p),
                None => StreamContent::Fin,
            },
        })
    }
    fn encode(&self, msg: &StreamMessage<ProposalPart>) -> Result<Bytes, CodecError> {
        let w = WireStreamMsg {
            stream_id: msg.stream_id.to_bytes().to_vec(),
            sequence: msg.sequence,
            content: match &msg.content {
                StreamContent::Data(p) => Some(p.clone()),
                StreamContent::Fin => None,
            },
        };
        Ok(encode_versioned(&w))
    }
}

impl Codec<ValidatorProof<CustosContext>> for CustosCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<CustosContext>, CodecError> {
        let (pk, peer, sig): (Vec<u8>, Vec<u8>, Signature) = decode_versioned("validator proof", &bytes, 1024)?;
        Ok(ValidatorProof::new(pk, peer, sig))
    }
    fn encode(&self, msg: &ValidatorProof<CustosContext>) -> Result<Bytes, CodecError> {
        Ok(encode_versioned(&(&msg.public_key, &msg.peer_id, msg.signature)))
    }
}

fn peer_from_bytes(b: &[u8]) -> Result<PeerId, CodecError> {
    PeerId::from_bytes(b).map_err(|e| CodecError::PeerId(e.to_string()))
}

impl Codec<Status<CustosContext>> for CustosCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<Status<CustosContext>, CodecError> {
        let (peer, tip, min): (Vec<u8>, Height, Height) = decode_versioned("sync status", &bytes, 1024)?;
        Ok(Status { peer_id: peer_from_bytes(&peer)?, tip_height: tip, history_min_height: min })
    }
    fn encode(&self, msg: &Status<CustosContext>) -> Result<Bytes, CodecError> {
        Ok(encode_versioned(&(msg.peer_id.to_bytes(), msg.tip_height, msg.history_min_height)))
    }
}

impl Codec<Request<CustosContext>> for CustosCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<Request<CustosContext>, CodecError> {
        let (start, end): (Height, Height) = decode_versioned("sync request", &bytes, 64)?;
        Ok(Request::ValueRequest(ValueRequest::new(RangeInclusive::new(start, end))))
    }
    fn encode(&self, msg: &Request<CustosContext>) -> Result<Bytes, CodecError> {
        let Request::ValueRequest(r) = msg;
        Ok(encode_versioned(&(*r.range.start(), *r.range.end())))
    }
}

fn encode_response(msg: &Response<CustosContext>) -> Result<Bytes, CodecError> {
    let Response::ValueResponse(r) = msg;
    let values = r
        .values
        .iter()
        .map(|v| {
            Ok(WireRawDecided {
                value: v.value_bytes.to_vec(),
                certificate: WireCommitCert::from_extended(&v.certificate)?,
            })
        })
        .collect::<Result<Vec<_>, CodecError>>()?;
    Ok(encode_versioned(&(r.start_height, values)))
}

impl Codec<Response<CustosContext>> for CustosCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<Response<CustosContext>, CodecError> {
        let (start, values): (Height, Vec<WireRawDecided>) = decode_versioned("sync response", &bytes, MAX_SYNC_MSG)?;
        Ok(Response::ValueResponse(ValueResponse::new(
            start,
            values
                .into_iter()
                .map(|v| RawDecidedValue::new(Bytes::from(v.value), v.certificate.to_extended()))
                .collect(),
        )))
    }
    fn encode(&self, msg: &Response<CustosContext>) -> Result<Bytes, CodecError> {
        encode_response(msg)
    }
}

impl HasEncodedLen<Response<CustosContext>> for CustosCodec {
    fn encoded_len(&self, msg: &Response<CustosContext>) -> Result<usize, CodecError> {
        Ok(encode_response(msg)?.len())
    }
}

impl Codec<ProposedValue<CustosContext>> for CustosCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<ProposedValue<CustosContext>, CodecError> {
        let w: WireProposedValue = decode_versioned("proposed value", &bytes, 1024)?;
        Ok(ProposedValue {
            height: w.height,
            round: Round::from(w.round),
            valid_round: Round::from(w.valid_round),
            proposer: w.proposer,
            value: w.value,
            validity: Validity::from_bool(w.valid),
        })
    }
    fn encode(&self, msg: &ProposedValue<CustosContext>) -> Result<Bytes, CodecError> {
        Ok(encode_versioned(&WireProposedValue {
            height: msg.height,
            round: msg.round.as_u32(),
            valid_round: msg.valid_round.as_u32(),
            proposer: msg.proposer,
            value: msg.value,
            valid: msg.validity.is_valid(),
        }))
    }
}

impl Codec<PolkaCertificate<CustosContext>> for CustosCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<PolkaCertificate<CustosContext>, CodecError> {
        let w: WirePolka = decode_versioned("polka certificate", &bytes, MAX_CONSENSUS_MSG)?;
        Ok(w.into_cert())
    }
    fn encode(&self, msg: &PolkaCertificate<CustosContext>) -> Result<Bytes, CodecError> {
        Ok(encode_versioned(&WirePolka::from_cert(msg)))
    }
}

/// Encodes a commit certificate for storage.
pub fn encode_commit_cert(c: &WireCommitCert) -> Vec<u8> {
    encode_versioned(c).to_vec()
}

/// Decodes a stored commit certificate.
pub fn decode_commit_cert(bytes: &[u8]) -> Result<WireCommitCert, CodecError> {
    decode_versioned("commit certificate", bytes, MAX_CONSENSUS_MSG)
}

/// Encodes a proposed value for storage (the same encoding as in the WAL).
pub fn encode_proposed_value(v: &ProposedValue<CustosContext>) -> Result<Vec<u8>, CodecError> {
    Ok(<CustosCodec as Codec<ProposedValue<CustosContext>>>::encode(&CustosCodec, v)?.to_vec())
}

/// Decodes a stored proposed value.
pub fn decode_proposed_value(bytes: &[u8]) -> Result<ProposedValue<CustosContext>, CodecError> {
    <CustosCodec as Codec<ProposedValue<CustosContext>>>::decode(&CustosCodec, Bytes::copy_from_slice(bytes))
}
