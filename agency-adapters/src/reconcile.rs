//! Reconciliation: the agency system's records against the ledger, since a date.
//!
//! Reported: records that are not anchored (pending, failed, or marked done without an anchor
//! on the ledger), anchors the adapter signed that no record explains, and mismatched hashes (the
//! record's document no longer hashes, with its derived salt, to what was anchored, or the
//! record's transaction is not the anchor's). Every ledger read is a verified state proof or a
//! committed block of the agency's own node.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use custos_contracts::call::{Call, Date, SignedTx};
use custos_primitives::types::{DocHash, TxId};

use crate::client::NodeClient;
use crate::error::{AdapterError, Result};
use crate::outbound::Context;
use crate::record::{DocumentSource, OutboundRecord, RecordKey};

/// One record of the source as reconciliation sees it.
#[derive(Clone, Debug)]
pub struct SourceEntry {
    /// Its id in the source.
    pub id: String,
    /// Its key.
    pub key: RecordKey,
    /// `pending`, `prepared`, `done` or `failed`.
    pub status: String,
    /// The hash written ahead / anchored.
    pub doc_hash: Option<DocHash>,
    /// The anchoring transaction the source recorded.
    pub tx_id: Option<TxId>,
    /// The failure reason.
    pub error: Option<String>,
    /// The record itself, when the source still has it (for re-hashing the document).
    pub record: Option<OutboundRecord>,
}

/// A record that is not anchored.
#[derive(Clone, Debug, Serialize)]
pub struct NotAnchored {
    /// Source id.
    pub id: String,
    /// Key.
    pub key: String,
    /// Source status.
    pub status: String,
    /// Why, in words.
    pub reason: String,
}

/// An anchor no record explains.
#[derive(Clone, Debug, Serialize)]
pub struct Unexplained {
    /// The anchored document.
    pub doc_hash: String,
    /// Its type.
    pub doc_type: String,
    /// Height.
    pub height: u64,
    /// Transaction.
    pub tx_id: String,
}

/// A record whose hash or transaction disagrees with the ledger.
#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    /// Source id.
    pub id: String,
    /// Key.
    pub key: String,
    /// What disagrees.
    pub reason: String,
}

/// The outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The date reconciled from.
    pub since: String,
    /// The first height whose block time is on or after it.
    pub from_height: u64,
    /// The last height read.
    pub to_height: u64,
    /// Source records considered.
    pub records: usize,
    /// Records anchored as the source says.
    pub anchored: usize,
    /// Records not anchored.
    pub not_anchored: Vec<NotAnchored>,
    /// Anchors the adapter signed that no record explains.
    pub unexplained: Vec<Unexplained>,
    /// Hash or transaction mismatches.
    pub mismatched: Vec<Mismatch>,
}

impl Report {
    /// Whether the source and the ledger agree (pending records aside).
    pub fn clean(&self) -> bool {
        self.unexplained.is_empty()
            && self.mismatched.is_empty()
            && self.not_anchored.iter().all(|n| n.status == "pending" || n.status == "prepared")
    }
}

/// Milliseconds since the epoch of midnight China Standard Time (UTC+8) starting `date`.
pub fn start_of_day_ms(date: Date) -> u64 {
    let secs = i64::from(date.0) * 86_400 - 8 * 3600;
    u64::try_from(secs).unwrap_or(0) * 1000
}

/// The first height whose block time is at or after `ms` (tip + 1 if none).
async fn first_height_at(node: &NodeClient, ms: u64, tip: u64) -> Result<u64> {
    let (mut lo, mut hi) = (1u64, tip + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let b = node
            .block(mid)
            .await?
            .ok_or_else(|| AdapterError::Node { addr: node.addr.clone(), reason: format!("block {mid} is missing") })?;
        if b.header.time_ms >= ms { hi = mid } else { lo = mid + 1 }
    }
    Ok(lo)
}

/// Compares `entries` (the source's records since `since`) with the anchors the adapter signed
/// since then.
pub async fn reconcile(ctx: &Context, since: Date, entries: Vec<SourceEntry>) -> Result<Report> {
    let node = &ctx.node;
    let tip = node.height().await?;
    let from = first_height_at(node, start_of_day_ms(since), tip).await?;
    // Anchors the adapter signed since then.
    let mut signed: BTreeMap<DocHash, (String, u64, TxId)> = BTreeMap::new();
    for h in from..=tip {
        let Some(block) = node.block(h).await? else { continue };
        for (bytes, id) in block.txs.iter().zip(block.tx_ids(node.suite())) {
            let Ok(tx) = SignedTx::decode_untrusted(bytes) else { continue };
            if tx.signer != node.signer.fingerprint {
                continue;
            }
            if let Call::Anchor(a) = &tx.call
                && node.tx(&id).await?.is_some_and(|o| o.ok)
            {
                signed.insert(a.doc_hash, (a.doc_type.to_string(), h, id));
            }
        }
    }
    let mut report = Report {
        since: since.to_string(),
        from_height: from,
        to_height: tip,
        records: entries.len(),
        anchored: 0,
        not_anchored: Vec::new(),
        unexplained: Vec::new(),
        mismatched: Vec::new(),
    };
    let mut explained: BTreeSet<DocHash> = BTreeSet::new();
    for e in entries {
        let key = e.key.to_string();
        // The hash the record's document has now, with its derived salt.
        let now_hash = match &e.record {
            Some(r) if document_available(&r.document) => Some(ctx.hash_record(r).await?.1),
            _ => None,
        };
        let hash = e.doc_hash.or(now_hash);
        let on_chain = match hash {
            Some(h) => node.anchor(&h).await?,
            None => None,
        };
        if let Some(h) = hash {
            explained.insert(h);
        }
        if let (Some(stored), Some(now)) = (e.doc_hash, now_hash)
            && stored != now
        {
            report.mismatched.push(Mismatch {
                id: e.id.clone(),
                key: key.clone(),
                reason: format!("the document now hashes to {now}, but {stored} was anchored"),
            });
        }
        match (&on_chain, e.status.as_str()) {
            (Some(a), "done") => {
                if &a.issuer != node.agency() {
                    report.mismatched.push(Mismatch {
                        id: e.id,
                        key,
                        reason: format!("{} is anchored by {}, not by this agency", a.doc_hash, a.issuer),
                    });
                } else if e.tx_id.is_some_and(|t| t != a.tx_id) {
                    report.mismatched.push(Mismatch {
                        id: e.id,
                        key,
                        reason: format!("the source records another transaction than the anchor's {}", a.tx_id),
                    });
                } else {
                    report.anchored += 1;
                }
            }
            (Some(a), status) => {
                // Anchored, and the source does not know yet (the adapter catches up).
                report.not_anchored.push(NotAnchored {
                    id: e.id,
                    key,
                    status: status.to_string(),
                    reason: format!("anchored at height {} but the source still says {status}", a.height),
                });
            }
            (None, "done") => report.mismatched.push(Mismatch {
                id: e.id,
                key,
                reason: "marked done, but its document is not anchored on the ledger".into(),
            }),
            (None, status) => report.not_anchored.push(NotAnchored {
                id: e.id,
                key,
                status: status.to_string(),
                reason: e.error.unwrap_or_else(|| "not sent yet".into()),
            }),
        }
    }
    for (doc, (doc_type, height, tx)) in signed {
        if !explained.contains(&doc) {
            report.unexplained.push(Unexplained { doc_hash: doc.to_string(), doc_type, height, tx_id: tx.to_string() });
        }
    }
    Ok(report)
}

fn document_available(d: &DocumentSource) -> bool {
    match d {
        DocumentSource::Bytes(_) => true,
        DocumentSource::Path(p) => p.is_file(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_day_starts_at_midnight_china_time() {
        let d = Date::parse("2026-01-01").unwrap();
        // 2025-12-31T16:00:00Z
        assert_eq!(start_of_day_ms(d), 1_767_196_800_000);
    }
}
