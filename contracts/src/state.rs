//! Authenticated state: a Jellyfish Merkle tree (the `jmt` crate) over the contracts' state.
//!
//! The state root in each block header is the root of this tree after the block's writes
//! ([`crate::runtime::BlockOutcome::writes`]). A [`StateProof`] shows, against a state root
//! alone, either that a key holds a given value (inclusion) or that it holds none (exclusion).
//!
//! - **Hash**: the network's suite hash — SM3 for `sm`, SHA-256 for `intl` — through
//!   [`Sm3Hasher`] / [`Sha256Hasher`]. Keys are hashed to 32-byte tree paths
//!   (`key_hash = H(key)`), values to `H(value)`; leaves and internal nodes are hashed with
//!   jmt's domain prefixes (`JMT::LeafNode`, `JMT::IntrnalNode`).
//! - **Versions are block heights.** The tree at version `h` is the state after block `h`;
//!   version 0 is the empty state before the first block.
//! - **The empty state's root** is jmt's placeholder, the 32 ASCII bytes
//!   `SPARSE_MERKLE_PLACEHOLDER_HASH__` ([`EMPTY_ROOT`]), the same in both suites.
//! - **Nothing is pruned here**: [`compute_root`] returns every new node and value of the
//!   version; nodes made stale by later versions stay stored, so proofs at any past height
//!   keep working.
//! - **Wire form**: [`StateProof`] is SCALE, decoded with a size bound
//!   ([`StateProof::decode_untrusted`], at most [`MAX_PROOF_SIBLINGS`] siblings). jmt's own
//!   borsh/serde encodings are used only inside this module, to convert to and from
//!   [`jmt::proof::SparseMerkleProof`], never on the wire.

use std::fmt;

use jmt::proof::SparseMerkleProof;

use jmt::{JellyfishMerkleTree, KeyHash, RootHash, SimpleHasher};
use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};

use custos_primitives::codec::{BoundedVec, CodecError, ConstU32, decode_exact};
use custos_primitives::crypto::{Hash, Suite, SuiteId};
use custos_primitives::types::{AgencyId, BlockHash, BlockHeader, DocHash};

use crate::runtime;

pub use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader};
pub use jmt::{KeyHash as TreeKeyHash, Version};

/// The root of the empty state (height 0): jmt's placeholder hash, the ASCII bytes
/// `SPARSE_MERKLE_PLACEHOLDER_HASH__`. The same for both suites.
pub const EMPTY_ROOT: Hash = Hash(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__");

/// Most siblings a proof may carry: one per bit of the 256-bit key hash.
pub const MAX_PROOF_SIBLINGS: u32 = 256;

/// Largest encoded [`StateProof`] accepted (its `MaxEncodedLen`): leaf option tag and leaf,
/// the compact sibling count (2 bytes for 256) and 256 siblings of at most 65 bytes.
pub const MAX_PROOF_BYTES: usize = 1 + 64 + 2 + (MAX_PROOF_SIBLINGS as usize) * 65;

/// Errors of the authenticated state. Each names what was being done and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The tree has no root at this height (not committed yet, or a store without tree).
    #[error("the state tree has no root at height {height}")]
    MissingRoot {
        /// The height asked for.
        height: u64,
    },
    /// Reading or updating the tree failed (storage error or an inconsistent tree).
    #[error("state tree {op} at height {height} failed: {reason}")]
    Tree {
        /// What was being done (`update`, `prove`, `read root`...).
        op: &'static str,
        /// The height (tree version).
        height: u64,
        /// The underlying error, with its causes.
        reason: String,
    },
    /// Converting between this crate's types and jmt's failed.
    #[error("state tree encoding of {what} failed: {reason}")]
    Encoding {
        /// What was being converted.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A proof from jmt has more siblings than the wire form allows (cannot happen with a
    /// 256-bit key hash).
    #[error("a state proof has {len} siblings, more than the {max} allowed")]
    TooManySiblings {
        /// Siblings found.
        len: usize,
        /// The bound.
        max: u32,
    },
    /// Proof bytes do not decode.
    #[error("state proof does not decode: {0}")]
    Decode(#[from] CodecError),
    /// The block header sent with a proof does not decode.
    #[error("block header sent with the state proof does not decode: {0}")]
    Header(CodecError),
    /// The header is not of the height asked for.
    #[error("asked for a proof at height {asked}, got the header of height {header}")]
    WrongHeight {
        /// The height asked for.
        asked: u64,
        /// The header's height.
        header: u64,
    },
    /// The proof does not show what was claimed against this root.
    #[error("{claim} proof for key {key_hex} does not verify against state root {root}: {reason}")]
    Verify {
        /// `inclusion` or `exclusion`.
        claim: &'static str,
        /// The key (hex, truncated when long).
        key_hex: String,
        /// The root checked against.
        root: Hash,
        /// jmt's reason.
        reason: String,
    },
}

/// jmt hasher for the `sm` suite: SM3 (GB/T 32905).
#[derive(Clone, Debug, Default)]
pub struct Sm3Hasher(sm3::Sm3);

impl SimpleHasher for Sm3Hasher {
    fn new() -> Self {
        Sm3Hasher(<sm3::Sm3 as sm3::Digest>::new())
    }
    fn update(&mut self, data: &[u8]) {
        sm3::Digest::update(&mut self.0, data);
    }
    fn finalize(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&sm3::Digest::finalize(self.0));
        out
    }
}

/// jmt hasher for the `intl` suite: SHA-256 (FIPS 180-4).
#[derive(Clone, Debug, Default)]
pub struct Sha256Hasher(sha2::Sha256);

impl SimpleHasher for Sha256Hasher {
    fn new() -> Self {
        Sha256Hasher(<sha2::Sha256 as sha2::Digest>::new())
    }
    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.0, data);
    }
    fn finalize(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&sha2::Digest::finalize(self.0));
        out
    }
}

/// Runs `$body` with `$h` bound to the jmt hasher type of `$suite`.
macro_rules! with_hasher {
    ($suite:expr, $h:ident => $body:expr) => {
        match $suite.id() {
            SuiteId::Sm => {
                type $h = Sm3Hasher;
                $body
            }
            SuiteId::Intl => {
                type $h = Sha256Hasher;
                $body
            }
        }
    };
}

/// The tree path of a state key: `H(key)` with the suite hash.
pub fn key_hash(suite: &impl Suite, key: &[u8]) -> TreeKeyHash {
    with_hasher!(suite, H => KeyHash(H::hash(key)))
}

/// Computes the state root after applying `writes` (key order, `None` deletes) on top of the
/// tree at `height - 1`, as version `height`, and returns it with the nodes and values the
/// store must persist (in the same write batch as the block).
///
/// Height 0 is the genesis version: its parent is the empty tree, so
/// `compute_root(suite, reader, &[], 0)` gives [`EMPTY_ROOT`]. At height 1, when the reader
/// holds no version 0 (a store that never wrote the empty genesis tree), the batch also
/// carries the empty version-0 root.
pub fn compute_root(
    suite: &impl Suite,
    reader: &impl TreeReader,
    writes: &[(Vec<u8>, Option<Vec<u8>>)],
    height: u64,
) -> Result<(Hash, NodeBatch), StateError> {
    with_hasher!(suite, H => compute_root_with::<H>(reader, writes, height))
}

fn compute_root_with<H: SimpleHasher>(
    reader: &impl TreeReader,
    writes: &[(Vec<u8>, Option<Vec<u8>>)],
    height: u64,
) -> Result<(Hash, NodeBatch), StateError> {
    let tree = JellyfishMerkleTree::<_, H>::new(reader);
    let tree_err = |e: anyhow::Error| StateError::Tree { op: "update", height, reason: format!("{e:#}") };
    let set: Vec<(KeyHash, Option<Vec<u8>>)> = writes.iter().map(|(k, v)| (KeyHash(H::hash(k)), v.clone())).collect();
    let genesis_missing = height == 1 && tree.get_root_hash_option(0).map_err(tree_err)?.is_none();
    let (roots, batch) = if genesis_missing {
        tree.put_value_sets(vec![Vec::new(), set], 0).map_err(tree_err)?
    } else {
        tree.put_value_sets(vec![set], height).map_err(tree_err)?
    };
    let root = roots.last().ok_or_else(|| StateError::Tree {
        op: "update",
        height,
        reason: "jmt returned no root hash".into(),
    })?;
    Ok((Hash(root.0), batch.node_batch))
}

/// The root of the tree at `height`, or [`StateError::MissingRoot`].
pub fn root_at(suite: &impl Suite, reader: &impl TreeReader, height: u64) -> Result<Hash, StateError> {
    with_hasher!(suite, H => {
        JellyfishMerkleTree::<_, H>::new(reader)
            .get_root_hash_option(height)
            .map_err(|e| StateError::Tree { op: "read root", height, reason: format!("{e:#}") })?
            .map(|r| Hash(r.0))
            .ok_or(StateError::MissingRoot { height })
    })
}

/// The value of `key` in the state at `height` (None if absent) with a proof of it against
/// that height's root: an inclusion proof if present, an exclusion proof if not.
pub fn prove(
    suite: &impl Suite,
    reader: &impl TreeReader,
    key: &[u8],
    height: u64,
) -> Result<(Option<Vec<u8>>, StateProof), StateError> {
    with_hasher!(suite, H => prove_with::<H>(reader, key, height))
}

fn prove_with<H: SimpleHasher>(
    reader: &impl TreeReader,
    key: &[u8],
    height: u64,
) -> Result<(Option<Vec<u8>>, StateProof), StateError> {
    let tree = JellyfishMerkleTree::<_, H>::new(reader);
    let tree_err = |op| move |e: anyhow::Error| StateError::Tree { op, height, reason: format!("{e:#}") };
    if tree.get_root_hash_option(height).map_err(tree_err("read root"))?.is_none() {
        return Err(StateError::MissingRoot { height });
    }
    let (value, proof) = tree.get_with_proof(KeyHash(H::hash(key)), height).map_err(tree_err("prove"))?;
    Ok((value, StateProof::from_jmt(&proof)?))
}

/// A leaf of the tree as carried in a proof: the key's path and the hash of its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct ProofLeaf {
    /// `H(key)`.
    pub key_hash: Hash,
    /// `H(value)`.
    pub value_hash: Hash,
}

/// A sibling on the path from the proven position to the root. The node kind is carried (not
/// only its hash) so a verifier hashes it itself: the kind cannot be forged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub enum ProofNode {
    /// An empty subtree (hashes to the placeholder).
    #[codec(index = 0)]
    Null,
    /// An internal node, by its two children's hashes.
    #[codec(index = 1)]
    Internal {
        /// Left child hash.
        left: Hash,
        /// Right child hash.
        right: Hash,
    },
    /// A leaf.
    #[codec(index = 2)]
    Leaf(ProofLeaf),
}

/// A proof about one key against a state root: inclusion (the key holds a value) or exclusion
/// (it holds none). SCALE-encoded on the wire; decode with [`StateProof::decode_untrusted`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct StateProof {
    /// The leaf reached on the key's path: the key's own leaf (inclusion), another key's leaf
    /// sharing the path prefix (exclusion), or none (an empty subtree: exclusion).
    pub leaf: Option<ProofLeaf>,
    /// Siblings from the bottom of the path up to the root.
    pub siblings: BoundedVec<ProofNode, ConstU32<MAX_PROOF_SIBLINGS>>,
}

/// Mirror of jmt's borsh layout of `SparseMerkleProof`, used only to convert in-process
/// (jmt keeps the proof's fields private).
#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
struct JmtProof {
    leaf: Option<JmtLeaf>,
    siblings: Vec<JmtNode>,
}

#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
struct JmtLeaf {
    key_hash: [u8; 32],
    value_hash: [u8; 32],
}

#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
enum JmtNode {
    Null,
    Internal { left: [u8; 32], right: [u8; 32] },
    Leaf(JmtLeaf),
}

impl From<&JmtLeaf> for ProofLeaf {
    fn from(l: &JmtLeaf) -> Self {
        ProofLeaf { key_hash: Hash(l.key_hash), value_hash: Hash(l.value_hash) }
    }
}

impl From<&ProofLeaf> for JmtLeaf {
    fn from(l: &ProofLeaf) -> Self {
        JmtLeaf { key_hash: l.key_hash.0, value_hash: l.value_hash.0 }
    }
}

impl StateProof {
    /// Converts jmt's proof.
    pub fn from_jmt<H: SimpleHasher>(proof: &SparseMerkleProof<H>) -> Result<Self, StateError> {
        let bytes =
            borsh::to_vec(proof).map_err(|e| StateError::Encoding { what: "jmt proof", reason: e.to_string() })?;
        let mirror: JmtProof =
            borsh::from_slice(&bytes).map_err(|e| StateError::Encoding { what: "jmt proof", reason: e.to_string() })?;
        let len = mirror.siblings.len();
        let siblings: Vec<ProofNode> = mirror
            .siblings
            .iter()
            .map(|n| match n {
                JmtNode::Null => ProofNode::Null,
                JmtNode::Internal { left, right } => ProofNode::Internal { left: Hash(*left), right: Hash(*right) },
                JmtNode::Leaf(l) => ProofNode::Leaf(l.into()),
            })
            .collect();
        Ok(StateProof {
            leaf: mirror.leaf.as_ref().map(ProofLeaf::from),
            siblings: BoundedVec::try_from(siblings)
                .map_err(|_| StateError::TooManySiblings { len, max: MAX_PROOF_SIBLINGS })?,
        })
    }

    /// Converts to jmt's proof.
    pub fn to_jmt<H: SimpleHasher>(&self) -> Result<SparseMerkleProof<H>, StateError> {
        let mirror = JmtProof {
            leaf: self.leaf.as_ref().map(JmtLeaf::from),
            siblings: self
                .siblings
                .iter()
                .map(|n| match n {
                    ProofNode::Null => JmtNode::Null,
                    ProofNode::Internal { left, right } => JmtNode::Internal { left: left.0, right: right.0 },
                    ProofNode::Leaf(l) => JmtNode::Leaf(l.into()),
                })
                .collect(),
        };
        let bytes =
            borsh::to_vec(&mirror).map_err(|e| StateError::Encoding { what: "state proof", reason: e.to_string() })?;
        borsh::from_slice(&bytes).map_err(|e| StateError::Encoding { what: "state proof", reason: e.to_string() })
    }

    /// Decodes a proof from untrusted bytes: at most [`MAX_PROOF_BYTES`] bytes and
    /// [`MAX_PROOF_SIBLINGS`] siblings, nothing left over.
    pub fn decode_untrusted(bytes: &[u8]) -> Result<Self, StateError> {
        Ok(decode_exact("state proof", bytes, MAX_PROOF_BYTES)?)
    }

    /// Whether this proof claims inclusion of `key` (its leaf is the key's own).
    pub fn is_inclusion_of(&self, suite: &impl Suite, key: &[u8]) -> bool {
        self.leaf.is_some_and(|l| l.key_hash.0 == key_hash(suite, key).0)
    }

    /// Verifies against `root` that `key` holds `value` (`Some`: inclusion) or holds nothing
    /// (`None`: exclusion).
    pub fn verify(&self, suite: &impl Suite, root: &Hash, key: &[u8], value: Option<&[u8]>) -> Result<(), StateError> {
        let claim = if value.is_some() { "inclusion" } else { "exclusion" };
        let fail = |reason: String| StateError::Verify { claim, key_hex: short_hex(key), root: *root, reason };
        with_hasher!(suite, H => {
            let proof = self.to_jmt::<H>()?;
            proof.verify(RootHash(root.0), KeyHash(H::hash(key)), value).map_err(|e| fail(format!("{e:#}")))
        })
    }
}

/// The two questions users ask of the state, as tree keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateQuestion {
    /// "Document D is anchored": the key `doc/<D>` ([`runtime::doc_key`]).
    Anchor(DocHash),
    /// "Agency A has given a delivery receipt for document D": the key
    /// `receipt/<D>/<A>` ([`runtime::receipt_key`]). Its exclusion proof shows no such receipt.
    Receipt {
        /// The document.
        doc: DocHash,
        /// The agency.
        agency: AgencyId,
    },
}

impl StateQuestion {
    /// The state key the question is about.
    pub fn key(&self) -> Vec<u8> {
        match self {
            StateQuestion::Anchor(doc) => runtime::doc_key(doc),
            StateQuestion::Receipt { doc, agency } => runtime::receipt_key(doc, agency),
        }
    }
}

/// A state proof answer checked against its block header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedAnswer {
    /// The header's height.
    pub height: u64,
    /// The header's state root, which the proof verified against.
    pub state_root: Hash,
    /// The header's block id.
    pub block: BlockHash,
    /// The key's value at that height (`None`: proven absent).
    pub value: Option<Vec<u8>>,
}

impl CheckedAnswer {
    /// Whether the key was proven present.
    pub fn included(&self) -> bool {
        self.value.is_some()
    }
}

/// Checks a state proof answer (the `GetStateProof` RPC's fields) for `key`: decodes the
/// header and proof with their bounds, checks the header is of `asked_height` (when one was
/// asked), and verifies the proof — inclusion of `value`, or exclusion when `value` is `None`
/// — against the header's state root.
///
/// This does not check the header's commit certificate: a caller who does not trust the node
/// it asked must also check that the header was committed (signed by the validators).
pub fn check_answer(
    suite: &impl Suite,
    key: &[u8],
    asked_height: Option<u64>,
    header: &[u8],
    value: Option<&[u8]>,
    proof: &[u8],
) -> Result<CheckedAnswer, StateError> {
    let header = BlockHeader::decode_untrusted(header).map_err(StateError::Header)?;
    if let Some(asked) = asked_height
        && asked != header.height
    {
        return Err(StateError::WrongHeight { asked, header: header.height });
    }
    let proof = StateProof::decode_untrusted(proof)?;
    proof.verify(suite, &header.state_root, key, value)?;
    Ok(CheckedAnswer {
        height: header.height,
        state_root: header.state_root,
        block: header.hash(suite),
        value: value.map(<[u8]>::to_vec),
    })
}

/// Lower-case hex, truncated after 64 bytes.
fn short_hex(bytes: &[u8]) -> String {
    const SHOWN: usize = 64;
    let mut s = hex_lower(&bytes[..bytes.len().min(SHOWN)]);
    if bytes.len() > SHOWN {
        s.push('…');
    }
    s
}

fn hex_lower(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Storage encoding of a jmt node key (jmt's borsh form; internal to the node's store).
pub fn encode_node_key(key: &NodeKey) -> Result<Vec<u8>, StateError> {
    borsh::to_vec(key).map_err(|e| StateError::Encoding { what: "node key", reason: e.to_string() })
}

/// Decodes a stored jmt node key.
pub fn decode_node_key(bytes: &[u8]) -> Result<NodeKey, StateError> {
    borsh::from_slice(bytes).map_err(|e| StateError::Encoding { what: "node key", reason: e.to_string() })
}

/// Storage encoding of a jmt node (jmt's borsh form; internal to the node's store).
pub fn encode_node(node: &Node) -> Result<Vec<u8>, StateError> {
    borsh::to_vec(node).map_err(|e| StateError::Encoding { what: "node", reason: e.to_string() })
}

/// Decodes a stored jmt node.
pub fn decode_node(bytes: &[u8]) -> Result<Node, StateError> {
    borsh::from_slice(bytes).map_err(|e| StateError::Encoding { what: "node", reason: e.to_string() })
}

/// A small in-memory [`TreeReader`] over `BTreeMap`s, for tests and tools: holds every node
/// and the whole value history.
#[derive(Debug, Default, Clone)]
pub struct MemTreeStore {
    nodes: std::collections::BTreeMap<NodeKey, Node>,
    values: std::collections::BTreeMap<(KeyHash, Version), Option<Vec<u8>>>,
}

impl MemTreeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a batch from [`compute_root`].
    pub fn apply(&mut self, batch: &NodeBatch) {
        for (k, n) in batch.nodes() {
            self.nodes.insert(k.clone(), n.clone());
        }
        for ((version, key_hash), v) in batch.values() {
            self.values.insert((*key_hash, *version), v.clone());
        }
    }

    /// Number of stored nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

impl TreeReader for MemTreeStore {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.values.range((key_hash, 0)..=(key_hash, max_version)).next_back().and_then(|(_, v)| v.clone()))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for (k, n) in &self.nodes {
            if let Node::Leaf(leaf) = n
                && best.as_ref().is_none_or(|(_, b)| leaf.key_hash() > b.key_hash())
            {
                best = Some((k.clone(), leaf.clone()));
            }
        }
        Ok(best)
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
