//! The consortium's genesis: agencies, their CA certificates, the first validator set.
//!
//! The file form is JSON (certificates as PEM) so operators can read it; its identity is the
//! suite hash of a canonical SCALE encoding with agencies and validators sorted, so two
//! files that differ only in order or whitespace describe the same chain.

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};
use serde::{Deserialize, Serialize};

use crate::crypto::{AnySuite, CryptoError, EncryptionPublicKey, Hash, PublicKey, Suite, SuiteId};
use crate::types::{AgencyId, AgencyLevel, AgencyRole, ChainId, MemberRole, NodeId};
use crate::x509::{self, Certificate, X509Error};

/// Domain tag of the genesis hash.
pub const GENESIS_TAG: &[u8] = b"custos/genesis/v1";
/// Domain tag of validator-set hashes.
pub const VALIDATOR_SET_TAG: &[u8] = b"custos/validators/v1";

/// Errors in a genesis description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// Not valid JSON for a genesis file.
    #[error("genesis file is not valid: {0}")]
    Parse(String),
    /// The suite parameters are unusable.
    #[error("genesis suite: {0}")]
    Suite(#[from] CryptoError),
    /// An agency appears twice.
    #[error("agency {0} is listed twice")]
    DuplicateAgency(AgencyId),
    /// An area code is not six digits.
    #[error("agency {agency}: area code {code:?} is not a six-digit GB/T 2260 code")]
    AreaCode {
        /// Agency.
        agency: AgencyId,
        /// Code given.
        code: String,
    },
    /// An agency's CA certificate is unusable.
    #[error("agency {agency}: CA certificate: {source}")]
    AgencyCa {
        /// Agency.
        agency: AgencyId,
        /// The certificate problem.
        source: X509Error,
    },
    /// A CA certificate names another agency in its `O`.
    #[error("agency {agency}: its CA certificate belongs to agency {found}")]
    CaAgency {
        /// Agency listed.
        agency: AgencyId,
        /// Agency in the certificate.
        found: AgencyId,
    },
    /// A validator of an agency not in the list.
    #[error("validator of unknown agency {0}")]
    UnknownAgency(AgencyId),
    /// A validator's node certificate is unusable.
    #[error("validator of agency {agency}: node certificate: {source}")]
    ValidatorCert {
        /// Agency.
        agency: AgencyId,
        /// The certificate problem.
        source: X509Error,
    },
    /// The same node key appears twice.
    #[error("validator {0} is listed twice")]
    DuplicateValidator(NodeId),
    /// Voting power must be positive.
    #[error("validator {0} has zero voting power")]
    ZeroPower(NodeId),
    /// The transport key is not a valid ed25519 public key, or is listed twice.
    #[error("validator {node}: p2p_key {key:?}: {reason}")]
    P2pKey {
        /// The validator.
        node: NodeId,
        /// The key as given.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// No validators.
    #[error("genesis lists no validators")]
    NoValidators,
    /// An agency's encryption key is unusable.
    #[error("encryption key of agency {agency}: {reason}")]
    EncryptionKey {
        /// The agency.
        agency: AgencyId,
        /// What is wrong.
        reason: String,
    },
}

/// An agency in the genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAgency {
    /// Registry id, equal to the `O` of its certificates.
    pub id: AgencyId,
    /// Kind of agency.
    pub role: AgencyRole,
    /// Display name (e.g. 哈尔滨市南岗区人民法院).
    pub name: String,
    /// Administrative level (省 / 市 / 县); county when absent.
    #[serde(default)]
    pub level: AgencyLevel,
    /// GB/T 2260 administrative area code (six digits).
    pub area_code: String,
    /// The agency CA certificate (PEM).
    pub ca_cert_pem: String,
    /// The agency's encryption key for e-dossiers (`sm2:<hex>` or `x25519:<hex>`), if it has one
    /// at genesis; its admin can set or change it on the ledger later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
}

/// A validator in the genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisValidator {
    /// The agency that runs it.
    pub agency: AgencyId,
    /// The node certificate (PEM), issued by the agency CA with role `node`.
    pub node_cert_pem: String,
    /// Voting power (1 per agency by design).
    pub power: u64,
    /// The node's libp2p transport key (ed25519 public key, 64 hex digits). Only nodes whose
    /// transport key is listed here may connect to the network.
    pub p2p_key: String,
}

/// The genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// Network name.
    pub chain_id: ChainId,
    /// Crypto suite of the whole network.
    pub suite: SuiteId,
    /// SM2 distinguishing ID (used by the `sm` suite).
    pub sm2_distid: String,
    /// Genesis time (Unix seconds): certificates are checked at this time.
    pub genesis_time: i64,
    /// The agencies.
    pub agencies: Vec<GenesisAgency>,
    /// The first validator set.
    pub validators: Vec<GenesisValidator>,
}

/// One validator, as consensus sees it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking)]
pub struct Validator {
    /// Address: hash of the node certificate's public key.
    pub node_id: NodeId,
    /// Its agency.
    pub agency: AgencyId,
    /// Its consensus public key.
    pub public_key: PublicKey,
    /// Voting power.
    pub power: u64,
    /// libp2p transport key (ed25519).
    pub p2p_key: [u8; 32],
}

/// Hash of a validator set (sorted by node id, as SCALE).
pub fn validator_set_hash(suite: &impl Suite, validators: &[Validator]) -> Hash {
    let mut sorted: Vec<&Validator> = validators.iter().collect();
    sorted.sort_by_key(|v| v.node_id);
    suite.hash_parts(&[VALIDATOR_SET_TAG, &sorted.encode()])
}

/// A genesis that passed every check.
#[derive(Clone, Debug)]
pub struct ValidatedGenesis {
    /// The file it came from.
    pub genesis: Genesis,
    /// The suite, with its parameters.
    pub suite: AnySuite,
    /// Agency CA certificates by agency id.
    pub cas: BTreeMap<AgencyId, Certificate>,
    /// Validators sorted by node id.
    pub validators: Vec<Validator>,
    /// Agencies' encryption keys given at genesis.
    pub encryption_keys: BTreeMap<AgencyId, EncryptionPublicKey>,
    /// The chain's genesis hash.
    pub hash: Hash,
}

#[derive(Encode)]
struct CanonicalAgency<'a> {
    id: &'a AgencyId,
    role: AgencyRole,
    level: AgencyLevel,
    name: &'a [u8],
    area_code: &'a [u8],
    ca_cert: &'a [u8],
    encryption_key: Option<EncryptionPublicKey>,
}

#[derive(Encode)]
struct CanonicalValidator<'a> {
    agency: &'a AgencyId,
    node_cert: &'a [u8],
    power: u64,
    p2p_key: [u8; 32],
}

impl Genesis {
    /// Reads the JSON form.
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        serde_json::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))
    }

    /// Writes the JSON form (pretty).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks everything and computes the genesis hash.
    pub fn validate(&self) -> Result<ValidatedGenesis, GenesisError> {
        let suite = AnySuite::new(self.suite, &self.sm2_distid)?;
        let at = self.genesis_time;
        let mut cas = BTreeMap::new();
        let mut encryption_keys = BTreeMap::new();
        let mut canonical_agencies = Vec::new();
        for a in &self.agencies {
            if cas.contains_key(&a.id) {
                return Err(GenesisError::DuplicateAgency(a.id.clone()));
            }
            if a.area_code.len() != 6 || !a.area_code.chars().all(|c| c.is_ascii_digit()) {
                return Err(GenesisError::AreaCode { agency: a.id.clone(), code: a.area_code.clone() });
            }
            let ca_err = |source| GenesisError::AgencyCa { agency: a.id.clone(), source };
            let ca = Certificate::from_pem(&a.ca_cert_pem).map_err(ca_err)?;
            let found = ca.verify_as_ca(&suite, at).map_err(ca_err)?;
            if found != &a.id {
                return Err(GenesisError::CaAgency { agency: a.id.clone(), found: found.clone() });
            }
            cas.insert(a.id.clone(), ca);
            if let Some(text) = &a.encryption_key {
                let key = EncryptionPublicKey::parse(text)
                    .map_err(|e| GenesisError::EncryptionKey { agency: a.id.clone(), reason: e.to_string() })?;
                if key.suite() != self.suite {
                    return Err(GenesisError::EncryptionKey {
                        agency: a.id.clone(),
                        reason: format!("a {} key in a {} network", key.suite(), self.suite),
                    });
                }
                encryption_keys.insert(a.id.clone(), key);
            }
        }
        for a in &self.agencies {
            if let Some(ca) = cas.get(&a.id) {
                canonical_agencies.push((a, ca.der().to_vec()));
            }
        }
        canonical_agencies.sort_by(|x, y| x.0.id.cmp(&y.0.id));

        let mut validators: Vec<Validator> = Vec::new();
        let mut canonical_validators = Vec::new();
        for v in &self.validators {
            let ca = cas.get(&v.agency).ok_or_else(|| GenesisError::UnknownAgency(v.agency.clone()))?;
            let verr = |source| GenesisError::ValidatorCert { agency: v.agency.clone(), source };
            let cert = Certificate::from_pem(&v.node_cert_pem).map_err(verr)?;
            let member = x509::verify_member(&suite, &cert, ca, at, Some(MemberRole::Node)).map_err(verr)?;
            let node_id = NodeId::of_key(&suite, &member.public_key)?;
            if validators.iter().any(|x| x.node_id == node_id) {
                return Err(GenesisError::DuplicateValidator(node_id));
            }
            if v.power == 0 {
                return Err(GenesisError::ZeroPower(node_id));
            }
            let p2p_err =
                |reason: &str| GenesisError::P2pKey { node: node_id, key: v.p2p_key.clone(), reason: reason.into() };
            let mut p2p_key = [0u8; 32];
            hex::decode_to_slice(v.p2p_key.trim(), &mut p2p_key).map_err(|_| p2p_err("expected 64 hex digits"))?;
            PublicKey::ed25519_from_bytes(&p2p_key).map_err(|_| p2p_err("not an ed25519 public key"))?;
            if validators.iter().any(|x| x.p2p_key == p2p_key) {
                return Err(p2p_err("listed for two validators"));
            }
            validators.push(Validator {
                node_id,
                agency: v.agency.clone(),
                public_key: member.public_key,
                power: v.power,
                p2p_key,
            });
            canonical_validators.push((node_id, v, cert.der().to_vec()));
        }
        if validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        validators.sort_by_key(|v| v.node_id);
        canonical_validators.sort_by_key(|x| x.0);

        let agencies_enc: Vec<CanonicalAgency<'_>> = canonical_agencies
            .iter()
            .map(|(a, der)| CanonicalAgency {
                id: &a.id,
                role: a.role,
                level: a.level,
                name: a.name.as_bytes(),
                area_code: a.area_code.as_bytes(),
                ca_cert: der,
                encryption_key: encryption_keys.get(&a.id).copied(),
            })
            .collect();
        let validators_enc: Vec<CanonicalValidator<'_>> = canonical_validators
            .iter()
            .map(|(node_id, v, der)| CanonicalValidator {
                agency: &v.agency,
                node_cert: der,
                power: v.power,
                p2p_key: validators.iter().find(|x| &x.node_id == node_id).map(|x| x.p2p_key).unwrap_or_default(),
            })
            .collect();
        let body =
            (&self.chain_id, self.suite, self.sm2_distid.as_bytes(), self.genesis_time, agencies_enc, validators_enc)
                .encode();
        let hash = suite.hash_parts(&[GENESIS_TAG, &body]);
        Ok(ValidatedGenesis { genesis: self.clone(), suite, cas, validators, encryption_keys, hash })
    }
}

impl ValidatedGenesis {
    /// Hash of the genesis validator set.
    pub fn validator_set_hash(&self) -> Hash {
        validator_set_hash(&self.suite, &self.validators)
    }
}
