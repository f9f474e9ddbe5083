//! Property tests of the mempool's invariants against a simple model.

use std::collections::BTreeMap;

use custos_node::mempool::{Mempool, MempoolError};
use custos_primitives::Hash;
use custos_primitives::types::{CertFingerprint, TxId};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert { tx: u8, signer: u8, nonce: u8, valid_until: u8, len: u16 },
    Reap { max_txs: usize, max_bytes: usize },
    Remove(Vec<u8>),
    Evict(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), 0u8..4, 0u8..8, 0u8..20, 0u16..200)
            .prop_map(|(tx, signer, nonce, valid_until, len)| Op::Insert { tx, signer, nonce, valid_until, len }),
        2 => (0usize..12, 0usize..1_500).prop_map(|(max_txs, max_bytes)| Op::Reap { max_txs, max_bytes }),
        1 => proptest::collection::vec(any::<u8>(), 0..6).prop_map(Op::Remove),
        1 => (0u8..20).prop_map(Op::Evict),
    ]
}

fn id(n: u8) -> TxId {
    TxId(Hash([n; 32]))
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    signer: u8,
    nonce: u8,
    valid_until: u8,
    len: usize,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold(ops in proptest::collection::vec(op(), 1..80), max_txs in 0usize..16, max_bytes in 0usize..1_000) {
        let mut m = Mempool::new(max_txs, max_bytes);
        let mut model: BTreeMap<TxId, Meta> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert { tx, signer, nonce, valid_until, len } => {
                    let r = m.insert(
                        id(tx),
                        CertFingerprint(Hash([signer; 32])),
                        u64::from(nonce),
                        u64::from(valid_until),
                        vec![tx; usize::from(len)],
                    );
                    match r {
                        Ok(()) => {
                            prop_assert!(!model.contains_key(&id(tx)));
                            model.insert(id(tx), Meta { signer, nonce, valid_until, len: usize::from(len) });
                        }
                        Err(MempoolError::Duplicate(d)) => prop_assert!(model.contains_key(&d)),
                        Err(MempoolError::NonceTaken { .. }) => prop_assert!(
                            model.values().any(|e| e.signer == signer && e.nonce == nonce)
                        ),
                        Err(MempoolError::Busy { txs, bytes }) => {
                            prop_assert_eq!(txs, model.len());
                            prop_assert!(txs >= max_txs || bytes + usize::from(len) > max_bytes);
                        }
                        Err(MempoolError::TooLarge { len: l, .. }) => prop_assert!(l > max_bytes),
                    }
                }
                Op::Reap { max_txs: n, max_bytes: b } => {
                    let before = (m.len(), m.bytes());
                    let reaped = m.reap(n, b);
                    prop_assert!(reaped.len() <= n);
                    prop_assert!(reaped.iter().map(|(_, v)| v.len()).sum::<usize>() <= b);
                    prop_assert_eq!(before, (m.len(), m.bytes()), "reap must not remove");
                    let mut last_nonce: BTreeMap<u8, u8> = BTreeMap::new();
                    let mut seen = std::collections::BTreeSet::new();
                    for (tx, bytes) in &reaped {
                        prop_assert!(seen.insert(*tx), "reaped twice");
                        let meta = model.get(tx).copied();
                        prop_assert!(meta.is_some(), "reaped a tx not pending");
                        let meta = meta.unwrap();
                        prop_assert_eq!(bytes.len(), meta.len);
                        if let Some(prev) = last_nonce.insert(meta.signer, meta.nonce) {
                            prop_assert!(prev < meta.nonce, "signer {} nonces out of order", meta.signer);
                        }
                    }
                    // Per signer, what is reaped is a prefix of its pending nonces.
                    for (s, last) in &last_nonce {
                        let count = reaped.iter().filter(|(t, _)| model[t].signer == *s).count();
                        let lower = model.values().filter(|e| e.signer == *s && e.nonce <= *last).count();
                        prop_assert_eq!(count, lower);
                    }
                    // If everything fits, everything is reaped.
                    if m.len() <= n && m.bytes() <= b {
                        prop_assert_eq!(reaped.len(), m.len());
                    }
                }
                Op::Remove(txs) => {
                    let ids: Vec<TxId> = txs.iter().map(|&t| id(t)).collect();
                    let expected = txs.iter().collect::<std::collections::BTreeSet<_>>()
                        .into_iter().filter(|&&t| model.remove(&id(t)).is_some()).count();
                    prop_assert_eq!(m.remove(&ids), expected);
                }
                Op::Evict(h) => {
                    let mut evicted = m.evict_expired(u64::from(h));
                    evicted.sort();
                    let expected: Vec<TxId> =
                        model.iter().filter(|(_, e)| e.valid_until < h).map(|(t, _)| *t).collect();
                    prop_assert_eq!(&evicted, &expected);
                    model.retain(|_, e| e.valid_until >= h);
                }
            }
            prop_assert_eq!(m.len(), model.len());
            prop_assert_eq!(m.bytes(), model.values().map(|e| e.len).sum::<usize>());
            prop_assert!(m.len() <= max_txs && m.bytes() <= max_bytes);
            for t in model.keys() {
                prop_assert!(m.contains(t));
            }
        }
    }
}
