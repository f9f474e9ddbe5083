//! The registry: agencies (kind, level, area code, CA certificate), their nodes (validators or
//! observers) and their members (clerks, adapters, auditors, admins) with revocation.
//!
//! The genesis registry is written to state by the first block (see
//! [`crate::runtime::Runtime`]); later changes to agencies and nodes go through governance,
//! members register themselves with a certificate of their agency's CA and are revoked by
//! their agency's admin.
//!
//! Storage:
//! - `agency/<id>` → [`AgencyRecord`]; `agencies` → every agency id, sorted (`Vec<AgencyId>`)
//! - `node/<node id>` → [`NodeRecord`]; `validators` → the validator set (`Vec<Validator>`, by node id)
//! - `member/<fingerprint>` → [`MemberRecord`]

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};
use serde::Serialize;

use custos_primitives::crypto::{EncryptionPublicKey, PublicKey};
use custos_primitives::genesis::Validator;
use custos_primitives::types::{AgencyId, AgencyLevel, AgencyRole, CertFingerprint, MemberRole, NodeId};

/// An agency of the consortium.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct AgencyRecord {
    /// Registry id.
    pub id: AgencyId,
    /// Kind.
    pub role: AgencyRole,
    /// Level.
    pub level: AgencyLevel,
    /// GB/T 2260 area code (six ASCII digits).
    pub area_code: [u8; 6],
    /// CA certificate (DER).
    pub ca_cert: Vec<u8>,
    /// `false` once removed by governance.
    pub active: bool,
    /// Height it was added at (0: genesis).
    pub added_at: u64,
    /// The key e-dossier content keys are wrapped to (set by the agency's admin).
    pub encryption_key: Option<EncryptionPublicKey>,
}

impl AgencyRecord {
    /// The area code as text.
    pub fn area_code(&self) -> &str {
        core::str::from_utf8(&self.area_code).unwrap_or("??????")
    }
}

/// A node of an agency.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct NodeRecord {
    /// Id (hash of its key).
    pub node_id: NodeId,
    /// Agency.
    pub agency: AgencyId,
    /// Consensus key.
    pub public_key: PublicKey,
    /// Node certificate (DER).
    pub certificate: Vec<u8>,
    /// libp2p transport key.
    pub p2p_key: [u8; 32],
    /// Voting power (0: observer).
    pub power: u64,
    /// Height it was added at.
    pub added_at: u64,
}

impl NodeRecord {
    /// As consensus sees it.
    pub fn validator(&self) -> Validator {
        Validator {
            node_id: self.node_id,
            agency: self.agency.clone(),
            public_key: self.public_key,
            power: self.power,
            p2p_key: self.p2p_key,
        }
    }
}

/// A registered member.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct MemberRecord {
    /// Agency.
    pub agency: AgencyId,
    /// Role.
    pub role: MemberRole,
    /// Signing key.
    pub public_key: PublicKey,
    /// The certificate (DER).
    pub certificate: Vec<u8>,
    /// Height of registration.
    pub registered_at: u64,
    /// End of the certificate's validity (Unix seconds).
    pub not_after: i64,
    /// Revocation, if revoked.
    pub revoked: Option<Revocation>,
}

/// A revocation.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize)]
pub struct Revocation {
    /// Height.
    pub height: u64,
    /// The admin who revoked it.
    pub by: CertFingerprint,
}

/// Why a registry call failed.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, thiserror::Error)]
pub enum RegistryError {
    /// The member's role may not make this call.
    #[codec(index = 0)]
    #[error("a member with role {role} may not call {call}: it needs {needed}")]
    RoleNotAllowed {
        /// The member's role.
        role: MemberRole,
        /// The call.
        call: String,
        /// Roles that may.
        needed: String,
    },
    /// The certificate is already registered.
    #[codec(index = 1)]
    #[error("member {0} is already registered")]
    AlreadyRegistered(CertFingerprint),
    /// No such member.
    #[codec(index = 2)]
    #[error("no member {0}")]
    UnknownMember(CertFingerprint),
    /// An admin acting on another agency's member.
    #[codec(index = 3)]
    #[error("member {member} belongs to {agency}; only its own agency's admin may revoke it")]
    OtherAgency {
        /// The member.
        member: CertFingerprint,
        /// Its agency.
        agency: AgencyId,
    },
    /// Revoked already.
    #[codec(index = 4)]
    #[error("member {0} is already revoked")]
    AlreadyRevoked(CertFingerprint),
    /// No such agency.
    #[codec(index = 5)]
    #[error("unknown agency {0}")]
    UnknownAgency(AgencyId),
    /// The agency has been removed.
    #[codec(index = 6)]
    #[error("agency {0} has been removed from the registry")]
    AgencyRemoved(AgencyId),
    /// A certificate that cannot be used.
    #[codec(index = 7)]
    #[error("certificate rejected: {0}")]
    Certificate(String),
    /// An encryption key of the other suite.
    #[codec(index = 8)]
    #[error("the encryption key is for the {found} suite; this network uses {expected}")]
    WrongKeySuite {
        /// The network's suite.
        expected: String,
        /// The key's suite.
        found: String,
    },
}

/// Key of the sorted list of agency ids.
pub const AGENCIES_KEY: &[u8] = b"agencies";
/// Key of the validator set.
pub const VALIDATORS_KEY: &[u8] = b"validators";

/// State key of an agency.
pub fn agency_key(id: &AgencyId) -> Vec<u8> {
    [b"agency/".as_slice(), id.as_str().as_bytes()].concat()
}
/// State key of a node.
pub fn node_key(id: &NodeId) -> Vec<u8> {
    [b"node/".as_slice(), id.0.as_bytes()].concat()
}
/// State key of a member.
pub fn member_key(fp: &CertFingerprint) -> Vec<u8> {
    [b"member/".as_slice(), fp.0.as_bytes()].concat()
}

/// State key of a revoked certificate (any certificate an agency CA issued; the value is a
/// [`Revocation`]).
pub fn revoked_cert_key(fp: &CertFingerprint) -> Vec<u8> {
    [b"revoked_cert/".as_slice(), fp.0.as_bytes()].concat()
}

/// Roles that may make each kind of call.
pub fn may_call(role: MemberRole, call: &str) -> Result<(), RegistryError> {
    let (ok, needed) = match call {
        "anchor" | "receipt" => (matches!(role, MemberRole::Clerk | MemberRole::Adapter), "clerk or adapter"),
        "revoke_member" | "revoke_certificate" | "propose" | "vote" | "set_encryption_key" => {
            (role == MemberRole::Admin, "admin")
        }
        "grant_access" | "revoke_access" => {
            (matches!(role, MemberRole::Clerk | MemberRole::Admin), "clerk or admin of the issuing agency")
        }
        _ => (false, "nothing"),
    };
    if ok { Ok(()) } else { Err(RegistryError::RoleNotAllowed { role, call: call.into(), needed: needed.into() }) }
}
