//! A binary Merkle tree with inclusion proofs, in the shape of RFC 9162 (Certificate
//! Transparency v2) §2.1, over the suite's hash:
//!
//! - leaf hash: `H(0x00 ‖ leaf)`, interior node: `H(0x01 ‖ left ‖ right)` (domain separated,
//!   so a leaf can never be passed off as a node);
//! - an odd tree is split at the largest power of two below its size, so no leaf is ever
//!   duplicated (the duplication of Bitcoin's tree, CVE-2012-2459, cannot happen);
//! - the root of the empty tree is `H("")`.
//!
//! The tree of a block's transactions has the transaction ids as leaves.

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};

use crate::codec::{BoundedVec, ConstU32};
use crate::crypto::{Hash, Suite};

/// Leaf prefix.
pub const LEAF_PREFIX: u8 = 0x00;
/// Interior-node prefix.
pub const NODE_PREFIX: u8 = 0x01;
/// Longest path (trees of up to 2^64 leaves).
pub const MAX_PATH_LEN: u32 = 64;

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The index claimed.
        index: u64,
        /// The tree size claimed.
        size: u64,
    },
    /// The path has the wrong number of siblings for the index and size.
    #[error("proof path has {found} siblings, a tree of {size} leaves needs {expected} for leaf {index}")]
    PathLength {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
        /// Siblings the shape requires.
        expected: usize,
        /// Siblings present.
        found: usize,
    },
    /// The path leads to another root.
    #[error("proof leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// Root the proof computes.
        computed: Hash,
        /// Root it should match.
        expected: Hash,
    },
}

/// A proof that a leaf is at `leaf_index` in a tree of `tree_size` leaves.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen)]
pub struct MerkleProof {
    /// Position of the leaf.
    pub leaf_index: u64,
    /// Number of leaves in the tree.
    pub tree_size: u64,
    /// Sibling hashes from the leaf up to the root.
    pub path: BoundedVec<Hash, ConstU32<MAX_PATH_LEN>>,
}

/// Hash of a leaf.
pub fn leaf_hash(suite: &impl Suite, leaf: &[u8]) -> Hash {
    suite.hash_parts(&[&[LEAF_PREFIX], leaf])
}

/// Hash of an interior node.
pub fn node_hash(suite: &impl Suite, left: &Hash, right: &Hash) -> Hash {
    suite.hash_parts(&[&[NODE_PREFIX], &left.0, &right.0])
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split_point(n: usize) -> usize {
    let mut k = 1usize;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// A Merkle tree over leaves given as byte strings, kept as leaf hashes.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    leaves: Vec<Hash>,
}

impl MerkleTree {
    /// Builds the tree of `leaves`.
    pub fn new<L: AsRef<[u8]>>(suite: &impl Suite, leaves: &[L]) -> Self {
        MerkleTree { leaves: leaves.iter().map(|l| leaf_hash(suite, l.as_ref())).collect() }
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// True for the empty tree.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The root.
    pub fn root(&self, suite: &impl Suite) -> Hash {
        if self.leaves.is_empty() {
            return suite.hash(&[]);
        }
        subtree_root(suite, &self.leaves)
    }

    /// The inclusion proof of leaf `index`, or `None` if out of range.
    pub fn prove(&self, suite: &impl Suite, index: usize) -> Option<MerkleProof> {
        if index >= self.leaves.len() {
            return None;
        }
        let mut path = Vec::new();
        collect_path(suite, &self.leaves, index, &mut path);
        path.reverse();
        Some(MerkleProof {
            leaf_index: index as u64,
            tree_size: self.leaves.len() as u64,
            path: BoundedVec::try_from(path).ok()?,
        })
    }
}

fn subtree_root(suite: &impl Suite, leaves: &[Hash]) -> Hash {
    match leaves {
        [] => suite.hash(&[]),
        [one] => *one,
        _ => {
            let k = split_point(leaves.len());
            let l = subtree_root(suite, &leaves[..k]);
            let r = subtree_root(suite, &leaves[k..]);
            node_hash(suite, &l, &r)
        }
    }
}

/// Pushes siblings from the root down; the caller reverses.
fn collect_path(suite: &impl Suite, leaves: &[Hash], index: usize, out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    if index < k {
        out.push(subtree_root(suite, &leaves[k..]));
        collect_path(suite, &leaves[..k], index, out);
    } else {
        out.push(subtree_root(suite, &leaves[..k]));
        collect_path(suite, &leaves[k..], index - k, out);
    }
}

impl MerkleProof {
    /// Checks that `leaf` is at this proof's position in the tree with root `root`
    /// (RFC 9162 §2.1.3.2).
    pub fn verify(&self, suite: &impl Suite, leaf: &[u8], root: &Hash) -> Result<(), MerkleError> {
        let computed = self.compute_root(suite, &leaf_hash(suite, leaf))?;
        if &computed != root {
            return Err(MerkleError::RootMismatch { computed, expected: *root });
        }
        Ok(())
    }

    /// The root this proof leads to from a leaf hash.
    pub fn compute_root(&self, suite: &impl Suite, leaf: &Hash) -> Result<Hash, MerkleError> {
        let (index, size) = (self.leaf_index, self.tree_size);
        if index >= size {
            return Err(MerkleError::IndexOutOfRange { index, size });
        }
        let expected = expected_path_len(index, size);
        if self.path.len() != expected {
            return Err(MerkleError::PathLength { index, size, expected, found: self.path.len() });
        }
        let (mut f, mut s) = (index, size - 1);
        let mut r = *leaf;
        for p in self.path.iter() {
            if f & 1 == 1 || f == s {
                r = node_hash(suite, p, &r);
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            } else {
                r = node_hash(suite, &r, p);
            }
            f >>= 1;
            s >>= 1;
        }
        // With the length checked above this always holds; kept as a guard.
        if s != 0 {
            return Err(MerkleError::PathLength { index, size, expected, found: self.path.len() });
        }
        Ok(r)
    }
}

/// Number of siblings on the path of leaf `index` in a tree of `size` leaves.
fn expected_path_len(mut index: u64, mut size: u64) -> usize {
    let mut len = 0;
    while size > 1 {
        // Largest power of two below `size`. (A doubling loop `while k << 1 < size` never
        // ends for sizes above 2^63, where `k << 1` wraps to 0; proofs are untrusted input.)
        let k = 1u64 << (63 - (size - 1).leading_zeros());
        if index < k {
            size = k;
        } else {
            index -= k;
            size -= k;
        }
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::IntlSuite;

    #[test]
    fn rfc6962_shape_small_trees() {
        let s = IntlSuite;
        let leaves: Vec<Vec<u8>> = (0u8..3).map(|i| vec![i]).collect();
        let t = MerkleTree::new(&s, &leaves);
        let l: Vec<Hash> = leaves.iter().map(|x| leaf_hash(&s, x)).collect();
        let expected = node_hash(&s, &node_hash(&s, &l[0], &l[1]), &l[2]);
        assert_eq!(t.root(&s), expected);
        assert_eq!(MerkleTree::new::<Vec<u8>>(&s, &[]).root(&s), s.hash(b""));
        assert_eq!(MerkleTree::new(&s, &leaves[..1]).root(&s), l[0]);
    }

    #[test]
    fn every_leaf_proves_in_trees_up_to_40() {
        let s = IntlSuite;
        for n in 1..40usize {
            let leaves: Vec<Vec<u8>> = (0..n).map(|i| (i as u32).to_le_bytes().to_vec()).collect();
            let t = MerkleTree::new(&s, &leaves);
            let root = t.root(&s);
            for (i, leaf) in leaves.iter().enumerate() {
                let p = t.prove(&s, i).unwrap();
                p.verify(&s, leaf, &root).unwrap();
                if n > 1 {
                    let other = &leaves[(i + 1) % n];
                    assert!(p.verify(&s, other, &root).is_err());
                }
            }
            assert!(t.prove(&s, n).is_none());
        }
    }

    #[test]
    fn leaf_cannot_pose_as_node() {
        let s = IntlSuite;
        let leaves = [b"a".to_vec(), b"b".to_vec()];
        let t = MerkleTree::new(&s, &leaves);
        // A "leaf" made of the two leaf hashes does not produce the same root.
        let l0 = leaf_hash(&s, b"a");
        let l1 = leaf_hash(&s, b"b");
        let fake = [l0.0.as_slice(), l1.0.as_slice()].concat();
        assert_ne!(MerkleTree::new(&s, &[fake]).root(&s), t.root(&s));
    }
}
