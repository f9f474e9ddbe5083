//! Procuratorial supervision on the node: the case-digest index and the query over it.
//!
//! # The index
//!
//! `supv/<case_ref (32 bytes)>` → SCALE [`CaseDigest`] in the `index` column family. After each
//! block the digest of every case the block touched — cases of anchored documents, of documents
//! that received a receipt, of case transitions — is read again with [`CaseDigest::read`] over
//! the state after the block (the block's writes over the store) and written in the block's own
//! commit batch ([`crate::store::Commit::index_writes`]), so the index is never behind the state
//! it describes. `meta` key [`INDEX_VERSION_KEY`] holds [`INDEX_VERSION`]; when it is missing or
//! older the whole index is rebuilt from the `case/` keys of the state at startup
//! ([`rebuild_if_needed`]).
//!
//! # The query
//!
//! [`query`] scans the `supv/` prefix once, decodes each digest and runs
//! [`supervision::evaluate`] with the deadline table, the holiday calendar (every stored year)
//! and the agencies' roles read once from the committed state. No block or transaction is read.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use parity_scale_codec::Encode;
use tracing::{info, warn};

use custos_contracts::calendar::Calendar;
use custos_contracts::call::Date;
use custos_contracts::documents::{AnchorRecord, CASE_PREFIX};
use custos_contracts::governance::{DeadlineParams, HolidayYear};
use custos_contracts::runtime::{Event, Runtime, StateRead, TxOutcome};
use custos_contracts::supervision::{self, CaseDigest, Context, Finding, MAX_DIGEST_BYTES};
use custos_primitives::codec::decode_exact;
use custos_primitives::types::{AgencyId, AgencyRole, CaseRef, MAX_TX_BYTES, TxId};

use crate::app::StoreState;
use crate::store::{CF_INDEX, CF_STATE, Store, StoreError};

/// Prefix of the case-digest entries of the `index` column family.
pub const SUPV_PREFIX: &[u8] = b"supv/";
/// `meta` key of the version of the case-digest index.
pub const INDEX_VERSION_KEY: &[u8] = b"supv/index_version";
/// Version of the case-digest index this build writes; an older or missing one is rebuilt.
pub const INDEX_VERSION: u32 = 1;
/// State prefix of the holiday calendar years.
const HOLIDAYS_PREFIX: &[u8] = b"param/holidays/";
/// Digests written per batch while rebuilding.
const REBUILD_BATCH: usize = 2_000;

/// Errors of the supervision index and query.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// The store failed.
    #[error("supervision index: {0}")]
    Store(#[from] StoreError),
    /// A stored digest, calendar year or version does not decode.
    #[error("supervision index: {what} {key_hex} does not decode: {reason}")]
    Corrupt {
        /// What it was.
        what: &'static str,
        /// Its key, hex.
        key_hex: String,
        /// Why.
        reason: String,
    },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Index key of a case's digest.
pub fn digest_key(case: &CaseRef) -> Vec<u8> {
    [SUPV_PREFIX, case.0.as_bytes()].concat()
}

/// The state after a block: its writes over the committed store.
#[derive(Debug)]
pub struct AfterBlock<'a, S: StateRead> {
    base: &'a S,
    writes: BTreeMap<&'a [u8], Option<&'a [u8]>>,
}

impl<'a, S: StateRead> AfterBlock<'a, S> {
    /// `writes` (a block's, `None` deletes) over `base`.
    pub fn new(base: &'a S, writes: &'a [(Vec<u8>, Option<Vec<u8>>)]) -> Self {
        AfterBlock { base, writes: writes.iter().map(|(k, v)| (k.as_slice(), v.as_deref())).collect() }
    }
}

impl<S: StateRead> StateRead for AfterBlock<'_, S> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(v) => v.map(<[u8]>::to_vec),
            None => self.base.get(key),
        }
    }
}

/// The cases a block's successful transactions touched: anchored documents' cases, cases that
/// moved, and the cases of documents that received a receipt (read from `state`, the state
/// after the block).
pub fn touched_cases(state: &impl StateRead, outcomes: &[(TxId, TxOutcome)]) -> BTreeSet<CaseRef> {
    let mut cases = BTreeSet::new();
    for (_, o) in outcomes {
        let Ok(events) = &o.result else { continue };
        for ev in events {
            match ev {
                Event::Anchored { case_ref, .. } | Event::CaseMoved { case_ref, .. } => {
                    cases.insert(*case_ref);
                }
                Event::Received { doc, .. } => match Runtime::anchor_record(state, doc) {
                    Some(AnchorRecord { case_ref, .. }) => {
                        cases.insert(case_ref);
                    }
                    None => warn!(%doc, "receipt of a document with no anchor record; its case digest is not updated"),
                },
                _ => {}
            }
        }
    }
    cases
}

/// The digest of `case` in `state`, encoded, or `None` (no such case, or a record that does not
/// decode or a digest too large: logged; the query then uses the case's previous digest).
fn encoded_digest(state: &impl StateRead, case: &CaseRef) -> Option<Vec<u8>> {
    match CaseDigest::read(state, case) {
        Ok(Some(d)) => {
            let bytes = d.encode();
            if bytes.len() > MAX_DIGEST_BYTES {
                warn!(case = %case.0, bytes = bytes.len(), max = MAX_DIGEST_BYTES, "case digest too large; not indexed");
                return None;
            }
            Some(bytes)
        }
        Ok(None) => None,
        Err(e) => {
            warn!(error = %e, "case digest not indexed");
            None
        }
    }
}

/// The index writes of a block: the digest of every case it touched, read over `after` (the
/// state after the block).
pub fn block_index_writes(after: &impl StateRead, outcomes: &[(TxId, TxOutcome)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    touched_cases(after, outcomes)
        .into_iter()
        .filter_map(|case| encoded_digest(after, &case).map(|d| (digest_key(&case), d)))
        .collect()
}

/// The index version recorded in `meta`, if any.
pub fn index_version(store: &Store) -> Result<Option<u32>, SuperviseError> {
    let Some(v) = store.meta_get(INDEX_VERSION_KEY)? else { return Ok(None) };
    let bytes: [u8; 4] = v.as_slice().try_into().map_err(|_| SuperviseError::Corrupt {
        what: "index version",
        key_hex: hex(INDEX_VERSION_KEY),
        reason: format!("expected 4 bytes, found {}", v.len()),
    })?;
    Ok(Some(u32::from_be_bytes(bytes)))
}

/// Rebuilds the case-digest index from the committed state when its version is missing or older
/// than [`INDEX_VERSION`]; returns the number of cases indexed (`None` if nothing was needed).
/// Must run before the app loop commits blocks.
pub fn rebuild_if_needed(store: &Store) -> Result<Option<usize>, SuperviseError> {
    let found = index_version(store)?;
    if found.is_some_and(|v| v >= INDEX_VERSION) {
        return Ok(None);
    }
    let started = Instant::now();
    let mut cases = Vec::new();
    store.state_scan(CASE_PREFIX, |k, _| {
        if let Ok(bytes) = <[u8; 32]>::try_from(&k[CASE_PREFIX.len()..]) {
            cases.push(CaseRef(custos_primitives::Hash(bytes)));
        }
        Ok(true)
    })?;
    info!(?found, version = INDEX_VERSION, cases = cases.len(), "rebuilding the supervision index");
    let state = StoreState(store);
    let mut done = 0usize;
    for chunk in cases.chunks(REBUILD_BATCH) {
        let writes: Vec<(Vec<u8>, Vec<u8>)> =
            chunk.iter().filter_map(|c| encoded_digest(&state, c).map(|d| (digest_key(c), d))).collect();
        store.index_put_batch(&writes)?;
        done += chunk.len();
        info!(done, total = cases.len(), "supervision index rebuild progress");
    }
    store.meta_put(INDEX_VERSION_KEY, &INDEX_VERSION.to_be_bytes())?;
    info!(cases = done, ms = started.elapsed().as_millis() as u64, "supervision index rebuilt");
    Ok(Some(done))
}

/// What the rules read besides the cases, read once per query.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Deadline table.
    pub params: DeadlineParams,
    /// Holiday calendar of every stored year.
    pub calendar: Calendar,
    /// The kind of every agency of the registry.
    pub roles: BTreeMap<AgencyId, AgencyRole>,
}

/// Reads the deadline table, every holiday year and the agencies' roles from committed state.
pub fn inputs(store: &Store, runtime: &Runtime) -> Result<Inputs, SuperviseError> {
    let state = StoreState(store);
    let mut years: Vec<HolidayYear> = Vec::new();
    store.state_scan(HOLIDAYS_PREFIX, |k, v| {
        match decode_exact::<HolidayYear>("holiday year", v, MAX_TX_BYTES * 4) {
            Ok(y) => years.push(y),
            Err(e) => {
                return Err(StoreError::Corrupt { cf: CF_STATE, key_hex: hex(k), reason: e.to_string() });
            }
        }
        Ok(true)
    })?;
    let roles = runtime.agencies(&state).into_iter().map(|a| (a.id, a.role)).collect();
    Ok(Inputs { params: runtime.deadlines(&state), calendar: Calendar::new(&years), roles })
}

/// Whom a caller may see findings about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every agency (the procuratorate, auditors).
    All,
    /// Only this agency.
    Only(AgencyId),
}

/// A supervision question.
#[derive(Debug, Clone)]
pub struct Query {
    /// The date asked about.
    pub as_of: Date,
    /// Only this rule.
    pub rule: Option<String>,
    /// Only findings against this agency.
    pub agency: Option<AgencyId>,
    /// Only this case.
    pub case: Option<CaseRef>,
    /// At most this many findings returned.
    pub limit: usize,
}

/// The answer to a [`Query`].
#[derive(Debug, Clone)]
pub struct Answer {
    /// Findings, by case reference then rule (at most `limit`).
    pub findings: Vec<Finding>,
    /// Visible findings that matched (before `limit`).
    pub matched: u64,
    /// Cases evaluated.
    pub cases: u64,
}

fn visible(f: &Finding, q: &Query, access: &Access) -> bool {
    q.rule.as_deref().is_none_or(|r| f.rule == r)
        && q.agency.as_ref().is_none_or(|a| f.agency == a.as_str())
        && match access {
            Access::All => true,
            Access::Only(a) => f.agency == a.as_str(),
        }
}

/// Evaluates one digest and keeps what the query and access let through.
fn take(digest: &CaseDigest, ctx: &Context<'_>, q: &Query, access: &Access, out: &mut Answer) {
    out.cases += 1;
    for f in supervision::evaluate(digest, ctx) {
        if visible(&f, q, access) {
            out.matched += 1;
            if out.findings.len() < q.limit {
                out.findings.push(f);
            }
        }
    }
}

fn decode_digest(key: &[u8], bytes: &[u8]) -> Result<CaseDigest, StoreError> {
    CaseDigest::decode_stored(bytes).map_err(|reason| StoreError::Corrupt { cf: CF_INDEX, key_hex: hex(key), reason })
}

/// Answers a query from the index (one scan of `supv/`, or one read with a case filter).
pub fn query(store: &Store, inputs: &Inputs, q: &Query, access: &Access) -> Result<Answer, SuperviseError> {
    let ctx = Context { params: &inputs.params, calendar: &inputs.calendar, roles: &inputs.roles, as_of: q.as_of };
    let mut out = Answer { findings: Vec::new(), matched: 0, cases: 0 };
    match &q.case {
        Some(case) => {
            let key = digest_key(case);
            if let Some(bytes) = store.index_get(&key)? {
                take(&decode_digest(&key, &bytes)?, &ctx, q, access, &mut out);
            }
        }
        None => store.index_scan(SUPV_PREFIX, |k, v| {
            take(&decode_digest(k, v)?, &ctx, q, access, &mut out);
            Ok(true)
        })?,
    }
    Ok(out)
}

/// Evaluates digests already in memory (the benchmark's path, without the store).
pub fn evaluate_all<'a>(
    digests: impl IntoIterator<Item = &'a CaseDigest>,
    inputs: &Inputs,
    q: &Query,
    access: &Access,
) -> Answer {
    let ctx = Context { params: &inputs.params, calendar: &inputs.calendar, roles: &inputs.roles, as_of: q.as_of };
    let mut out = Answer { findings: Vec::new(), matched: 0, cases: 0 };
    for d in digests {
        take(d, &ctx, q, access, &mut out);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
mod tests {
    use super::*;
    use custos_contracts::call::{BusinessDates, DocType, SubjectKind};
    use custos_contracts::documents::{self, CaseEvent, ReceiptRecord};
    use custos_contracts::workflow::{CaseRecord, CaseState};
    use custos_primitives::Hash;
    use custos_primitives::types::{CertFingerprint, DocHash};

    use crate::store::Commit;

    fn agency(s: &str) -> AgencyId {
        AgencyId::new(s).unwrap()
    }

    const DAY_MS: u64 = 86_400_000;
    /// 2026-03-02 00:00 CST, a Monday.
    const T0: u64 = 1_772_380_800_000;

    fn case_ref() -> CaseRef {
        CaseRef(Hash([7; 32]))
    }
    fn doc() -> DocHash {
        DocHash(Hash([9; 32]))
    }

    /// A probation case whose judgment (to the justice bureau, copied to the procuratorate) is
    /// anchored at height 1.
    fn base_state() -> BTreeMap<Vec<u8>, Vec<u8>> {
        let eff = Date::from_unix_seconds_cst((T0 / 1000) as i64);
        let record = CaseRecord {
            case_ref: case_ref(),
            kind: Some(SubjectKind::Probation),
            state: CaseState::Decided,
            commissioned_by: None,
            deciding_body: Some(agency("court")),
            cca: Some(agency("justice")),
            decision_effective: Some(eff),
            correction_end: Some(eff.plus_days(365)),
            handed_over: false,
            events: 1,
            opened_at: 1,
            updated_at: 1,
        };
        let anchor = AnchorRecord {
            doc_hash: doc(),
            doc_type: DocType::new("JUDGMENT").unwrap(),
            case_ref: case_ref(),
            issuer: agency("court"),
            signer: CertFingerprint(Hash([1; 32])),
            recipients: vec![agency("justice")],
            copies: vec![agency("procuratorate")],
            dates: BusinessDates { effective: Some(eff), ..BusinessDates::default() },
            subject_kind: Some(SubjectKind::Probation),
            eseal_ref: None,
            case_state: Some(CaseState::Decided),
            height: 1,
            time_ms: T0,
            tx_id: TxId(Hash([2; 32])),
        };
        let ev = CaseEvent {
            doc_hash: doc(),
            doc_type: DocType::new("JUDGMENT").unwrap(),
            issuer: agency("court"),
            from: None,
            to: CaseState::Decided,
            height: 1,
        };
        BTreeMap::from([
            (documents::case_key(&case_ref()), record.encode()),
            (documents::doc_key(&doc()), anchor.encode()),
            (documents::case_event_key(&case_ref(), 0), ev.encode()),
        ])
    }

    fn receipt_block() -> (Vec<(Vec<u8>, Option<Vec<u8>>)>, Vec<(TxId, TxOutcome)>) {
        let r = ReceiptRecord {
            agency: agency("justice"),
            signer: CertFingerprint(Hash([3; 32])),
            height: 2,
            time_ms: T0 + 2 * DAY_MS,
            tx_id: TxId(Hash([4; 32])),
        };
        let writes = vec![(documents::receipt_key(&doc(), &agency("justice")), Some(r.encode()))];
        let outcome = TxOutcome {
            height: 2,
            index: 0,
            result: Ok(vec![Event::Received { doc: doc(), agency: agency("justice") }]),
        };
        (writes, vec![(TxId(Hash([4; 32])), outcome)])
    }

    #[test]
    fn a_receipt_updates_the_digest_of_its_documents_case() {
        let base = base_state();
        let before = CaseDigest::read(&base, &case_ref()).unwrap().unwrap();
        assert!(before.docs[0].receipts.is_empty());
        let (writes, outcomes) = receipt_block();
        let after = AfterBlock::new(&base, &writes);
        assert_eq!(touched_cases(&after, &outcomes), BTreeSet::from([case_ref()]));
        let index = block_index_writes(&after, &outcomes);
        assert_eq!(index.len(), 1);
        assert_eq!(index[0].0, digest_key(&case_ref()));
        let d = CaseDigest::decode_stored(&index[0].1).unwrap();
        assert_eq!(d.docs[0].receipts.len(), 1);
        assert_eq!(d.docs[0].receipts[0].agency, agency("justice"));
        assert_eq!(d.docs[0].receipts[0].height, 2);
    }

    #[test]
    fn failed_transactions_and_other_events_touch_no_case() {
        let base = base_state();
        let failed = TxOutcome {
            height: 2,
            index: 0,
            result: Err(custos_contracts::runtime::CallError::from(documents::DocumentError::NotAnchored(doc()))),
        };
        let other =
            TxOutcome { height: 2, index: 1, result: Ok(vec![Event::EncryptionKeySet { agency: agency("court") }]) };
        let outcomes = vec![(TxId(Hash([5; 32])), failed), (TxId(Hash([6; 32])), other)];
        assert!(block_index_writes(&base, &outcomes).is_empty());
    }

    fn commit(store: &Store, height: u64, state: Vec<(Vec<u8>, Option<Vec<u8>>)>, index: Vec<(Vec<u8>, Vec<u8>)>) {
        store
            .commit(&Commit {
                height,
                block_hash: custos_primitives::types::BlockHash(Hash([height as u8; 32])),
                block: vec![height as u8],
                certificate: b"cert".to_vec(),
                state_writes: state,
                index_writes: index,
                ..Commit::default()
            })
            .unwrap();
    }

    #[test]
    fn the_index_is_rebuilt_once_from_state_and_then_kept_by_commits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // A data folder from before the index: state but no digests, no version.
        commit(&store, 1, base_state().into_iter().map(|(k, v)| (k, Some(v))).collect(), vec![]);
        assert_eq!(index_version(&store).unwrap(), None);
        assert_eq!(rebuild_if_needed(&store).unwrap(), Some(1));
        assert_eq!(index_version(&store).unwrap(), Some(INDEX_VERSION));
        assert_eq!(rebuild_if_needed(&store).unwrap(), None);
        let stored = store.index_get(&digest_key(&case_ref())).unwrap().unwrap();
        assert!(CaseDigest::decode_stored(&stored).unwrap().docs[0].receipts.is_empty());

        // The receipt's block carries the new digest in its own batch.
        let (writes, outcomes) = receipt_block();
        let state = StoreState(&store);
        let index = block_index_writes(&AfterBlock::new(&state, &writes), &outcomes);
        commit(&store, 2, writes, index);
        let stored = store.index_get(&digest_key(&case_ref())).unwrap().unwrap();
        assert_eq!(CaseDigest::decode_stored(&stored).unwrap().docs[0].receipts.len(), 1);
    }

    #[test]
    fn the_query_filters_by_access_rule_and_date() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        commit(&store, 1, base_state().into_iter().map(|(k, v)| (k, Some(v))).collect(), vec![]);
        rebuild_if_needed(&store).unwrap();
        let roles = BTreeMap::from([
            (agency("court"), AgencyRole::Court),
            (agency("procuratorate"), AgencyRole::Procuratorate),
            (agency("police"), AgencyRole::Police),
            (agency("justice"), AgencyRole::Justice),
        ]);
        let inputs = Inputs { params: DeadlineParams::default(), calendar: Calendar::default(), roles };
        let start = Date::from_unix_seconds_cst((T0 / 1000) as i64);
        let q = Query { as_of: start.plus_days(30), rule: None, agency: None, case: None, limit: 1000 };
        let all = query(&store, &inputs, &q, &Access::All).unwrap();
        assert_eq!(all.cases, 1);
        // The police was not copied (S03, the court); the justice bureau never acknowledged
        // (S05) nor registered the subject (S04).
        assert!(all.findings.iter().any(|f| f.rule == "S03" && f.agency == "court"), "{:#?}", all.findings);
        assert!(all.findings.iter().any(|f| f.agency == "justice"), "{:#?}", all.findings);
        let police = query(&store, &inputs, &q, &Access::Only(agency("police"))).unwrap();
        assert!(police.findings.is_empty() && police.matched == 0);
        let court = query(&store, &inputs, &q, &Access::Only(agency("court"))).unwrap();
        assert!(!court.findings.is_empty() && court.findings.iter().all(|f| f.agency == "court"));
        let s03 = Query { rule: Some("S03".into()), ..q.clone() };
        let only = query(&store, &inputs, &s03, &Access::All).unwrap();
        assert!(!only.findings.is_empty() && only.findings.iter().all(|f| f.rule == "S03"));
        let limited = query(&store, &inputs, &Query { limit: 1, ..q.clone() }, &Access::All).unwrap();
        assert_eq!(limited.findings.len(), 1);
        assert_eq!(limited.matched, all.matched);
        let before = Query { as_of: start.plus_days(-1), ..q.clone() };
        assert!(query(&store, &inputs, &before, &Access::All).unwrap().findings.is_empty());
        let other_case = Query { case: Some(CaseRef(Hash([8; 32]))), ..q };
        assert_eq!(query(&store, &inputs, &other_case, &Access::All).unwrap().cases, 0);
    }
}
