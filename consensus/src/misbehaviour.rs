//! Equivocation evidence as the node keeps it: each record names the validator, the height and
//! round, and carries both signed messages in their wire encoding, so anyone holding the
//! validator set can check the two signatures and see the conflict without trusting the node
//! that recorded it.

use malachitebft_app_channel::app::types::core::{Proposal as _, Round, Vote as _, VoteType};
use malachitebft_app_channel::app::types::{MisbehaviorEvidence, SignedConsensusMsg};
use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};

use bytes::Bytes;
use custos_primitives::crypto::{PublicKey, Suite};
use custos_primitives::types::{ChainId, NodeId};

use crate::codec::CustosCodec;
use crate::context::{CustosContext, ValidatorSet};
use crate::engine::Codec;

/// What a validator did twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub enum MisbehaviourKind {
    /// Two different proposals for one height and round.
    #[codec(index = 0)]
    DoubleProposal,
    /// Two different prevotes for one height and round.
    #[codec(index = 1)]
    DoublePrevote,
    /// Two different precommits for one height and round.
    #[codec(index = 2)]
    DoublePrecommit,
}

impl MisbehaviourKind {
    /// The kind of a double vote of `vote_type`.
    pub fn of_vote(vote_type: VoteType) -> Self {
        match vote_type {
            VoteType::Prevote => MisbehaviourKind::DoublePrevote,
            VoteType::Precommit => MisbehaviourKind::DoublePrecommit,
        }
    }

    /// A short name, for logs, metrics and the status output.
    pub fn name(self) -> &'static str {
        match self {
            MisbehaviourKind::DoubleProposal => "double-proposal",
            MisbehaviourKind::DoublePrevote => "double-prevote",
            MisbehaviourKind::DoublePrecommit => "double-precommit",
        }
    }
}

/// One piece of equivocation evidence (stored SCALE-encoded; the format is frozen by a golden
/// vector in this crate's tests).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct Misbehaviour {
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// The equivocating validator.
    pub validator: NodeId,
    /// What it signed twice.
    pub kind: MisbehaviourKind,
    /// The first signed message, in the consensus wire encoding.
    pub first: Vec<u8>,
    /// The conflicting signed message, in the consensus wire encoding.
    pub second: Vec<u8>,
}

/// Largest stored record accepted on decoding: two signed consensus messages and a header.
pub const MAX_MISBEHAVIOUR_BYTES: usize = 4096;

fn wire(msg: SignedConsensusMsg<CustosContext>) -> Vec<u8> {
    CustosCodec.encode(&msg).map(|b| b.to_vec()).unwrap_or_default()
}

fn round_of(r: Round) -> u32 {
    r.as_u32().unwrap_or(0)
}

/// The records of one height's evidence, for the validators of `validators` (in address order,
/// then as Malachite keeps them: deterministic).
pub fn records(evidence: &MisbehaviorEvidence<CustosContext>, validators: &ValidatorSet) -> Vec<Misbehaviour> {
    let mut out = Vec::new();
    for v in validators.validators() {
        for (a, b) in evidence.proposals.get(&v.address).into_iter().flatten() {
            out.push(Misbehaviour {
                height: a.message.height().0,
                round: round_of(a.message.round()),
                validator: v.address.0,
                kind: MisbehaviourKind::DoubleProposal,
                first: wire(SignedConsensusMsg::Proposal(a.clone())),
                second: wire(SignedConsensusMsg::Proposal(b.clone())),
            });
        }
        for (a, b) in evidence.votes.get(&v.address).into_iter().flatten() {
            out.push(Misbehaviour {
                height: a.message.height().0,
                round: round_of(a.message.round()),
                validator: v.address.0,
                kind: MisbehaviourKind::of_vote(a.message.vote_type()),
                first: wire(SignedConsensusMsg::Vote(a.clone())),
                second: wire(SignedConsensusMsg::Vote(b.clone())),
            });
        }
    }
    out
}

/// Why a record does not prove an equivocation.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// A message does not decode.
    #[error("{which} message does not decode: {reason}")]
    Decode {
        /// "first" or "second".
        which: &'static str,
        /// The decoder's error.
        reason: String,
    },
    /// The two messages do not conflict, or do not match the record.
    #[error("not an equivocation: {0}")]
    NoConflict(String),
    /// A signature does not verify with the validator's key.
    #[error("{which} message: signature does not verify with the validator's key")]
    BadSignature {
        /// "first" or "second".
        which: &'static str,
    },
}

/// Checks a record without trusting whoever kept it: both messages decode, are of the record's
/// kind, height, round and validator, differ, and carry valid signatures of `public_key` on
/// `chain_id`.
pub fn verify(
    m: &Misbehaviour,
    chain_id: &ChainId,
    suite: &impl Suite,
    public_key: &PublicKey,
) -> Result<(), EvidenceError> {
    let decode = |which: &'static str, bytes: &[u8]| {
        Codec::<SignedConsensusMsg<CustosContext>>::decode(&CustosCodec, Bytes::copy_from_slice(bytes))
            .map_err(|e| EvidenceError::Decode { which, reason: e.to_string() })
    };
    let conflict = |why: &str| EvidenceError::NoConflict(why.to_string());
    let (a, b) = (decode("first", &m.first)?, decode("second", &m.second)?);
    // (sign bytes, signature, height, round, validator, kind) of each.
    let facts = |msg: &SignedConsensusMsg<CustosContext>| match msg {
        SignedConsensusMsg::Proposal(p) => (
            p.message.sign_bytes(chain_id),
            p.signature,
            p.message.height().0,
            p.message.round(),
            p.message.proposer.0,
            MisbehaviourKind::DoubleProposal,
        ),
        SignedConsensusMsg::Vote(v) => (
            v.message.sign_bytes(chain_id),
            v.signature,
            v.message.height().0,
            v.message.round(),
            v.message.validator.0,
            MisbehaviourKind::of_vote(v.message.vote_type()),
        ),
    };
    let (fa, fb) = (facts(&a), facts(&b));
    if fa.0 == fb.0 {
        return Err(conflict("the two messages sign the same content"));
    }
    for f in [&fa, &fb] {
        if (f.2, round_of(f.3), f.4, f.5) != (m.height, m.round, m.validator, m.kind) {
            return Err(conflict("a message's height, round, validator or kind differs from the record"));
        }
    }
    suite.verify(public_key, &fa.0, &fa.1).map_err(|_| EvidenceError::BadSignature { which: "first" })?;
    suite.verify(public_key, &fb.0, &fb.1).map_err(|_| EvidenceError::BadSignature { which: "second" })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use custos_primitives::crypto::Hash;

    use super::*;

    /// Golden vector of the stored record: height (u64 LE), round (u32 LE), validator (32
    /// bytes), kind (one-byte index), then the two messages with compact length prefixes.
    #[test]
    fn the_stored_record_format_is_frozen() {
        let m = Misbehaviour {
            height: 7,
            round: 1,
            validator: NodeId(Hash([0xab; 32])),
            kind: MisbehaviourKind::DoublePrecommit,
            first: vec![1, 2],
            second: vec![3],
        };
        let expected = format!("0700000000000000{}{}{}{}{}", "01000000", "ab".repeat(32), "02", "080102", "0403");
        assert_eq!(hex::encode(m.encode()), expected);
        let back = Misbehaviour::decode(&mut &hex::decode(&expected).unwrap()[..]).unwrap();
        assert_eq!(back, m);
        assert_eq!(MisbehaviourKind::DoubleProposal.encode(), vec![0]);
        assert_eq!(MisbehaviourKind::DoublePrevote.encode(), vec![1]);
    }
}
