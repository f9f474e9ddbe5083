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
use custos_contracts::documents::AnchorRecord;
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
/// State prefix of case records (`case/<32 bytes>`).
const CASE_PREFIX: &[u8] = b"case/";
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
