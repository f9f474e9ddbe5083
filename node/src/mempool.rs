//! The transaction pool: bounded, with back-pressure, deterministic.
//!
//! [`Mempool`] holds transactions that passed admission (signature, signer, nonce checks are the
//! caller's) until they are committed or expire. When it is full, [`Mempool::insert`] answers
//! [`MempoolError::Busy`]: nothing is dropped silently, the client is told to retry. Every
//! collection is ordered (`BTreeMap`), so two nodes given the same inserts reap the same
//! transactions in the same order.
//!
//! [`SignatureCache`] remembers which transaction ids have had their signature verified, so a
//! transaction seen twice (from a client, then gossiped back in a proposal) is verified once.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};

use custos_primitives::types::{CertFingerprint, MAX_TX_BYTES, TxId};

/// Why a transaction was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The pool is full: answer "busy" to the client, who may retry later.
    #[error("mempool busy: {txs} transactions, {bytes} bytes pending")]
    Busy {
        /// Transactions pending.
        txs: usize,
        /// Bytes pending.
        bytes: usize,
    },
    /// This transaction is already pending.
    #[error("transaction {0} is already pending")]
    Duplicate(TxId),
    /// Another pending transaction has the same signer and nonce.
    #[error("signer {signer} already has a pending transaction with nonce {nonce}")]
    NonceTaken {
        /// The signer.
        signer: CertFingerprint,
        /// The nonce.
        nonce: u64,
    },
    /// The transaction alone is larger than the pool accepts.
    #[error("transaction of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit (the smaller of the pool's byte budget and the network's transaction limit).
        max: usize,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    signer: CertFingerprint,
    nonce: u64,
    valid_until: u64,
    seq: u64,
    bytes: Vec<u8>,
}

/// A bounded pool of pending transactions.
#[derive(Debug, Clone)]
pub struct Mempool {
    max_txs: usize,
    max_bytes: usize,
    entries: BTreeMap<TxId, Entry>,
    /// Arrival sequence number → id.
    arrival: BTreeMap<u64, TxId>,
    /// Signer → nonce → id.
    by_signer: BTreeMap<CertFingerprint, BTreeMap<u64, TxId>>,
    /// (valid_until, arrival) → id.
    by_expiry: BTreeMap<(u64, u64), TxId>,
    bytes: usize,
    next_seq: u64,
}

impl Mempool {
    /// A pool holding at most `max_txs` transactions and `max_bytes` bytes of them.
    pub fn new(max_txs: usize, max_bytes: usize) -> Self {
        Mempool {
            max_txs,
            max_bytes,
            entries: BTreeMap::new(),
            arrival: BTreeMap::new(),
            by_signer: BTreeMap::new(),
            by_expiry: BTreeMap::new(),
            bytes: 0,
            next_seq: 0,
        }
    }

    /// Admits a transaction whose signature and signer the caller has checked.
    ///
    /// Refused, leaving the pool unchanged, when it is larger than a transaction may be
    /// ([`MempoolError::TooLarge`]), already pending ([`MempoolError::Duplicate`]), its signer
    /// has another pending transaction with this nonce ([`MempoolError::NonceTaken`]), or the
    /// pool has no room ([`MempoolError::Busy`]).
    pub fn insert(
        &mut self,
        id: TxId,
        signer: CertFingerprint,
        nonce: u64,
        valid_until: u64,
        bytes: Vec<u8>,
    ) -> Result<(), MempoolError> {
        let max = self.max_bytes.min(MAX_TX_BYTES);
        if bytes.len() > max {
            return Err(MempoolError::TooLarge { len: bytes.len(), max });
        }
        if self.entries.contains_key(&id) {
            return Err(MempoolError::Duplicate(id));
        }
        if self.by_signer.get(&signer).is_some_and(|n| n.contains_key(&nonce)) {
            return Err(MempoolError::NonceTaken { signer, nonce });
        }
        if self.entries.len() >= self.max_txs || bytes.len() > self.max_bytes.saturating_sub(self.bytes) {
            return Err(MempoolError::Busy { txs: self.entries.len(), bytes: self.bytes });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += bytes.len();
        self.arrival.insert(seq, id);
        self.by_signer.entry(signer).or_default().insert(nonce, id);
        self.by_expiry.insert((valid_until, seq), id);
        self.entries.insert(id, Entry { signer, nonce, valid_until, seq, bytes });
        Ok(())
    }

    /// Whether a transaction of `len` bytes would find room now: the cheap test made before
    /// a transaction's signature is checked, so a full pool costs a refusal, not a signature
    /// verification. [`Mempool::insert`] decides.
    pub fn has_room(&self, len: usize) -> bool {
        self.entries.len() < self.max_txs && len <= self.max_bytes.saturating_sub(self.bytes)
    }

    /// Up to `max_txs` pending transactions totalling at most `max_bytes`, for a proposal.
    /// Nothing is removed.
    ///
    /// Transactions come in arrival order, except that each signer's transactions come in
    /// increasing nonce order: the k-th arrival of a signer takes the signer's k-th lowest nonce.
    /// When a signer's next transaction does not fit in the remaining bytes, that signer is
    /// skipped for the rest of this reap (taking a later nonce would leave a gap); others
    /// continue.
    pub fn reap(&self, max_txs: usize, max_bytes: usize) -> Vec<(TxId, Vec<u8>)> {
        let mut out = Vec::new();
        let mut left = max_bytes;
        // Per signer: its nonce-ordered ids still to take, or `None` once it is blocked.
        let mut cursors: BTreeMap<CertFingerprint, Option<std::collections::btree_map::Values<'_, u64, TxId>>> =
            BTreeMap::new();
        for id in self.arrival.values() {
            if out.len() >= max_txs {
                break;
            }
            let Some(signer) = self.entries.get(id).map(|e| e.signer) else { continue };
            let cursor = cursors.entry(signer).or_insert_with(|| self.by_signer.get(&signer).map(|n| n.values()));
            let Some(next) = cursor.as_mut().and_then(Iterator::next) else { continue };
            let Some(entry) = self.entries.get(next) else { continue };
            if entry.bytes.len() > left {
                *cursor = None;
                continue;
            }
            left -= entry.bytes.len();
            out.push((*next, entry.bytes.clone()));
        }
        out
    }

    /// Removes transactions (committed ones); unknown ids are ignored. Returns how many were
    /// removed.
    pub fn remove(&mut self, ids: &[TxId]) -> usize {
        ids.iter().filter(|id| self.remove_one(id)).count()
    }

    /// Drops the transactions that can no longer be included at `height` (`valid_until <
    /// height`) and returns their ids, by expiry then arrival.
    pub fn evict_expired(&mut self, height: u64) -> Vec<TxId> {
        let expired: Vec<TxId> = self.by_expiry.range(..(height, 0)).map(|(_, id)| *id).collect();
        for id in &expired {
            self.remove_one(id);
        }
        expired
    }

    fn remove_one(&mut self, id: &TxId) -> bool {
        let Some(e) = self.entries.remove(id) else { return false };
        self.bytes -= e.bytes.len();
        self.arrival.remove(&e.seq);
        self.by_expiry.remove(&(e.valid_until, e.seq));
        if let Some(nonces) = self.by_signer.get_mut(&e.signer) {
            nonces.remove(&e.nonce);
            if nonces.is_empty() {
                self.by_signer.remove(&e.signer);
            }
        }
        true
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total size of the pending transactions.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `id` is pending.
    pub fn contains(&self, id: &TxId) -> bool {
        self.entries.contains_key(id)
    }

    /// The pool's limits: (transactions, bytes).
    pub fn limits(&self) -> (usize, usize) {
        (self.max_txs, self.max_bytes)
    }
}

/// A bounded set of transaction ids whose signature was verified, evicting the least recently
/// inserted id beyond its capacity.
#[derive(Debug, Clone)]
pub struct SignatureCache {
    capacity: usize,
    /// id → last insertion stamp.
    stamps: BTreeMap<TxId, u64>,
    /// (stamp, id), oldest first.
    order: BTreeSet<(u64, TxId)>,
    next_stamp: u64,
}

impl SignatureCache {
    /// A cache of at most `capacity` ids (0 caches nothing).
    pub fn new(capacity: usize) -> Self {
        SignatureCache { capacity, stamps: BTreeMap::new(), order: BTreeSet::new(), next_stamp: 0 }
    }

    /// Records that `id`'s signature verified (refreshing it if already present), evicting the
    /// least recently inserted id when full.
    pub fn insert(&mut self, id: TxId) {
        if self.capacity == 0 {
            return;
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        if let Some(old) = self.stamps.insert(id, stamp) {
            self.order.remove(&(old, id));
        }
        self.order.insert((stamp, id));
        while self.stamps.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.stamps.remove(&oldest);
        }
    }

    /// Whether `id`'s signature is known to verify.
    pub fn contains(&self, id: &TxId) -> bool {
        self.stamps.contains_key(id)
    }

    /// Forgets `id`.
    pub fn remove(&mut self, id: &TxId) {
        if let Some(stamp) = self.stamps.remove(id) {
            self.order.remove(&(stamp, *id));
        }
    }

    /// Number of ids cached.
    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use custos_primitives::Hash;

    fn id(n: u8) -> TxId {
        TxId(Hash([n; 32]))
    }
    fn signer(n: u8) -> CertFingerprint {
        CertFingerprint(Hash([n; 32]))
    }

    #[test]
    fn check_order_and_no_change_on_refusal() {
        let mut m = Mempool::new(2, 10);
        m.insert(id(1), signer(1), 1, 5, vec![0; 4]).unwrap();
        assert_eq!(m.insert(id(1), signer(2), 9, 5, vec![0; 4]), Err(MempoolError::Duplicate(id(1))));
        assert_eq!(
            m.insert(id(2), signer(1), 1, 5, vec![0; 4]),
            Err(MempoolError::NonceTaken { signer: signer(1), nonce: 1 })
        );
        assert_eq!(m.insert(id(3), signer(1), 2, 5, vec![0; 11]), Err(MempoolError::TooLarge { len: 11, max: 10 }));
        assert_eq!(m.insert(id(3), signer(1), 2, 5, vec![0; 7]), Err(MempoolError::Busy { txs: 1, bytes: 4 }));
        assert_eq!((m.len(), m.bytes()), (1, 4));
        m.insert(id(3), signer(1), 2, 5, vec![0; 6]).unwrap();
        assert_eq!(m.insert(id(4), signer(3), 1, 5, vec![]), Err(MempoolError::Busy { txs: 2, bytes: 10 }));
    }

    #[test]
    fn reap_takes_kth_lowest_nonce_in_kth_arrival_slot() {
        let mut m = Mempool::new(10, 1000);
        m.insert(id(1), signer(1), 3, 9, vec![1]).unwrap();
        m.insert(id(2), signer(2), 1, 9, vec![2]).unwrap();
        m.insert(id(3), signer(1), 2, 9, vec![3]).unwrap();
        let ids: Vec<TxId> = m.reap(10, 1000).into_iter().map(|(i, _)| i).collect();
        assert_eq!(ids, vec![id(3), id(2), id(1)]);
    }

    #[test]
    fn reap_blocks_a_signer_whose_next_tx_does_not_fit() {
        let mut m = Mempool::new(10, 1000);
        m.insert(id(1), signer(1), 1, 9, vec![0; 50]).unwrap();
        m.insert(id(2), signer(1), 2, 9, vec![0; 1]).unwrap();
        m.insert(id(3), signer(2), 1, 9, vec![0; 1]).unwrap();
        let ids: Vec<TxId> = m.reap(10, 10).into_iter().map(|(i, _)| i).collect();
        assert_eq!(ids, vec![id(3)]);
    }

    #[test]
    fn signature_cache_evicts_least_recently_inserted() {
        let mut c = SignatureCache::new(2);
        c.insert(id(1));
        c.insert(id(2));
        c.insert(id(1)); // refresh
        c.insert(id(3));
        assert!(c.contains(&id(1)) && c.contains(&id(3)) && !c.contains(&id(2)));
        assert_eq!(c.len(), 2);
        c.remove(&id(1));
        assert_eq!(c.len(), 1);
        let mut zero = SignatureCache::new(0);
        zero.insert(id(1));
        assert!(zero.is_empty());
    }
}
