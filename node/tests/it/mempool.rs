//! Mempool behaviour through the public API: capacity, duplicates, nonce order, removal, expiry.

use custos_node::mempool::{Mempool, MempoolError, SignatureCache};
use custos_primitives::Hash;
use custos_primitives::types::{CertFingerprint, MAX_TX_BYTES, TxId};

fn id(n: u16) -> TxId {
    let mut h = [0u8; 32];
    h[..2].copy_from_slice(&n.to_be_bytes());
    TxId(Hash(h))
}

fn signer(n: u8) -> CertFingerprint {
    CertFingerprint(Hash([n; 32]))
}

fn ids(v: Vec<(TxId, Vec<u8>)>) -> Vec<TxId> {
    v.into_iter().map(|(i, _)| i).collect()
}

#[test]
fn full_pool_answers_busy_and_drops_nothing() {
    let mut m = Mempool::new(3, 1_000);
    for n in 0..3 {
        m.insert(id(n), signer(1), u64::from(n), 10, vec![0; 100]).unwrap();
    }
    assert_eq!(m.insert(id(9), signer(2), 0, 10, vec![0; 1]), Err(MempoolError::Busy { txs: 3, bytes: 300 }));
    assert_eq!(m.len(), 3);
    assert!((0..3).all(|n| m.contains(&id(n))));
    assert!(!m.contains(&id(9)));

    // Byte budget.
    let mut m = Mempool::new(100, 250);
    m.insert(id(1), signer(1), 1, 10, vec![0; 200]).unwrap();
    assert!(matches!(m.insert(id(2), signer(1), 2, 10, vec![0; 51]), Err(MempoolError::Busy { txs: 1, bytes: 200 })));
    m.insert(id(2), signer(1), 2, 10, vec![0; 50]).unwrap();
    assert_eq!(m.bytes(), 250);
    // Room again after removal.
    assert_eq!(m.remove(&[id(1)]), 1);
    m.insert(id(3), signer(1), 3, 10, vec![0; 200]).unwrap();
}

#[test]
fn oversized_transactions_are_too_large_not_busy() {
    let mut m = Mempool::new(10, 10 * MAX_TX_BYTES);
    assert_eq!(
        m.insert(id(1), signer(1), 1, 10, vec![0; MAX_TX_BYTES + 1]),
        Err(MempoolError::TooLarge { len: MAX_TX_BYTES + 1, max: MAX_TX_BYTES })
    );
    m.insert(id(1), signer(1), 1, 10, vec![0; MAX_TX_BYTES]).unwrap();
}

#[test]
fn duplicates_and_taken_nonces_are_refused() {
    let mut m = Mempool::new(10, 1_000);
    m.insert(id(1), signer(1), 7, 10, b"a".to_vec()).unwrap();
    assert_eq!(m.insert(id(1), signer(1), 7, 10, b"a".to_vec()), Err(MempoolError::Duplicate(id(1))));
    assert_eq!(
        m.insert(id(2), signer(1), 7, 10, b"b".to_vec()),
        Err(MempoolError::NonceTaken { signer: signer(1), nonce: 7 })
    );
    // Same nonce, other signer: fine.
    m.insert(id(2), signer(2), 7, 10, b"b".to_vec()).unwrap();
    // Once removed, the nonce is free again.
    m.remove(&[id(1)]);
    m.insert(id(3), signer(1), 7, 10, b"c".to_vec()).unwrap();
    assert_eq!(m.len(), 2);
}

#[test]
fn reap_orders_each_signer_by_nonce_and_keeps_arrival_otherwise() {
    let mut m = Mempool::new(100, 10_000);
    // Arrivals: A5, B1, A3, C9, A4, B0
    m.insert(id(1), signer(0xa), 5, 10, vec![1]).unwrap();
    m.insert(id(2), signer(0xb), 1, 10, vec![2]).unwrap();
    m.insert(id(3), signer(0xa), 3, 10, vec![3]).unwrap();
    m.insert(id(4), signer(0xc), 9, 10, vec![4]).unwrap();
    m.insert(id(5), signer(0xa), 4, 10, vec![5]).unwrap();
    m.insert(id(6), signer(0xb), 0, 10, vec![6]).unwrap();
    // Slots: A, B, A, C, A, B → A3, B0, A4, C9, A5, B1
    assert_eq!(ids(m.reap(100, 10_000)), vec![id(3), id(6), id(5), id(4), id(1), id(2)]);
    // Limits.
    assert_eq!(ids(m.reap(2, 10_000)), vec![id(3), id(6)]);
    assert_eq!(m.reap(100, 4).len(), 4);
    assert!(m.reap(0, 10_000).is_empty());
    // Reaping removes nothing.
    assert_eq!(m.len(), 6);
    // After commit of A3 and B0, A4 leads.
    assert_eq!(m.remove(&[id(3), id(6), id(99)]), 2);
    // Slots now: A, B, C, A → A4, B1, C9, A5.
    assert_eq!(ids(m.reap(100, 10_000)), vec![id(5), id(2), id(4), id(1)]);
}

#[test]
fn expired_transactions_are_evicted() {
    let mut m = Mempool::new(10, 1_000);
    m.insert(id(1), signer(1), 1, 5, vec![0; 10]).unwrap();
    m.insert(id(2), signer(2), 1, 3, vec![0; 20]).unwrap();
    m.insert(id(3), signer(3), 1, 6, vec![0; 30]).unwrap();
    assert!(m.evict_expired(3).is_empty(), "valid_until is inclusive");
    assert_eq!(m.evict_expired(6), vec![id(2), id(1)]);
    assert_eq!((m.len(), m.bytes()), (1, 30));
    assert!(m.contains(&id(3)));
    assert_eq!(m.evict_expired(u64::MAX), vec![id(3)]);
    assert!(m.is_empty());
    assert_eq!(m.bytes(), 0);
}

#[test]
fn signature_cache_is_bounded() {
    let mut c = SignatureCache::new(100);
    for n in 0..1_000 {
        c.insert(id(n));
    }
    assert_eq!(c.len(), 100);
    assert!(c.contains(&id(999)) && c.contains(&id(900)) && !c.contains(&id(899)));
}
