//! Supervision over 100,000 cases (issue 7 point 6): the rules evaluated over every digest in
//! memory, and the node's whole query path — one scan of the `supv/` index of a RocksDB store,
//! decoding each SCALE digest, evaluating, filtering — as `Supervise` runs it.
//!
//! The digests come from a generator with a fixed seed: a mix of subject kinds (管制, 缓刑, 假释,
//! 暂外), judgments delivered on time or late, copies sent or not, intakes registered or not,
//! receipts, execution notices, warnings with or without a revocation proposal, leaves with or
//! without a return.
//!
//! Run: `cargo bench -p custos-node --bench supervise` (prints seconds per query, then
//! criterion's figures).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use parity_scale_codec::Encode;

use custos_contracts::calendar::Calendar;
use custos_contracts::call::{BusinessDates, Date, DocType, SubjectKind};
use custos_contracts::governance::DeadlineParams;
use custos_contracts::supervision::{CaseDigest, DocDigest, ReceiptDigest};
use custos_contracts::workflow::{CaseRecord, CaseState};
use custos_node::store::{Commit, Store};
use custos_node::supervise::{self, Access, Inputs, Query};
use custos_primitives::Hash;
use custos_primitives::types::{AgencyId, AgencyRole, BlockHash, CaseRef, DocHash, TxId};

const CASES: usize = 100_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn hash(&mut self) -> Hash {
        let mut h = [0u8; 32];
        for c in h.chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        Hash(h)
    }
}

fn a(s: &str) -> AgencyId {
    AgencyId::new(s).unwrap()
}

struct Gen {
    rng: Rng,
    height: u64,
}

impl Gen {
    #[allow(clippy::too_many_arguments)]
    fn doc(
        &mut self,
        ty: &str,
        issuer: &str,
        to: &[&str],
        copies: &[&str],
        anchored: Date,
        dates: BusinessDates,
        receipt_days: Option<i32>,
    ) -> DocDigest {
        self.height += 1;
        let height = self.height;
        let mut receipts = Vec::new();
        if let Some(days) = receipt_days {
            for r in to {
                receipts.push(ReceiptDigest {
                    agency: a(r),
                    date: anchored.plus_days(days),
                    height: height + 1,
                    tx_id: TxId(self.rng.hash()),
                });
            }
        }
        DocDigest {
            doc_hash: DocHash(self.rng.hash()),
            doc_type: DocType::new(ty).unwrap(),
            issuer: a(issuer),
            recipients: to.iter().map(|x| a(x)).collect(),
            copies: copies.iter().map(|x| a(x)).collect(),
            dates,
            anchored,
            height,
            tx_id: TxId(self.rng.hash()),
            receipts,
        }
    }

    fn case(&mut self, today: Date) -> CaseDigest {
        let r = &mut self.rng;
        let kind = [SubjectKind::Control, SubjectKind::Probation, SubjectKind::Parole, SubjectKind::TempOutsidePrison]
            [r.below(4) as usize];
        let eff = today.plus_days(-(r.below(700) as i32));
        // Most judgments go out within the statutory ten days; some are late.
        let lag = if r.chance(80) { r.below(8) as i32 } else { 10 + r.below(30) as i32 };
        let copies: &[&str] = match r.below(4) {
            0 => &["procuratorate"],
            1 => &["police"],
            _ => &["procuratorate", "police"],
        };
        let receipt = r.chance(85).then(|| r.below(9) as i32);
        let body = if kind == SubjectKind::TempOutsidePrison { "prison" } else { "court" };
        let ty = if kind == SubjectKind::TempOutsidePrison { "TEMPOUT_APPROVAL" } else { "JUDGMENT" };
        let end = eff.plus_days(365);
        let dates =
            BusinessDates { effective: Some(eff), period_start: Some(eff), period_end: Some(end), received: None };
        let mut docs = vec![self.doc(ty, body, &["justice"], copies, eff.plus_days(lag), dates, receipt)];
        if body == "court" && self.rng.chance(70) {
            let lag = lag + self.rng.below(5) as i32;
            docs.push(self.doc("EXEC_NOTICE", "court", &["justice"], copies, eff.plus_days(lag), dates, receipt));
        }
        if self.rng.chance(85) {
            let got = eff.plus_days(self.rng.below(15) as i32);
            let d = BusinessDates { received: Some(got), ..BusinessDates::default() };
            docs.push(self.doc("INTAKE", "justice", &[body], &["procuratorate"], got, d, None));
        }
        if self.rng.chance(20) {
            let w = eff.plus_days(60 + self.rng.below(60) as i32);
            docs.push(self.doc("WARNING", "justice", &["procuratorate"], &[], w, BusinessDates::default(), None));
            let w2 = w.plus_days(20 + self.rng.below(30) as i32);
            docs.push(self.doc("WARNING", "justice", &["procuratorate"], &[], w2, BusinessDates::default(), None));
            if self.rng.chance(50) {
                let p = w2.plus_days(self.rng.below(14) as i32);
                docs.push(self.doc("REVOKE_PROPOSAL", "justice", &[body], &["procuratorate"], p, dates, Some(2)));
            }
        }
        if self.rng.chance(15) {
            let s = eff.plus_days(30 + self.rng.below(200) as i32);
            let d = BusinessDates {
                period_start: Some(s),
                period_end: Some(s.plus_days(self.rng.below(40) as i32)),
                ..BusinessDates::default()
            };
            docs.push(self.doc("LEAVE_APPROVAL", "justice", &["police"], &[], s.plus_days(-1), d, None));
            if self.rng.chance(70) {
                let back = BusinessDates { received: d.period_end, ..BusinessDates::default() };
                let day = d.period_end.unwrap_or(s);
                docs.push(self.doc("LEAVE_RETURN", "justice", &["police"], &[], day, back, None));
            }
        }
        docs.retain(|d| d.anchored <= today);
        docs.sort_by_key(|d| d.anchored);
        let record = CaseRecord {
            case_ref: CaseRef(self.rng.hash()),
            kind: Some(kind),
            state: CaseState::UnderSupervision,
            commissioned_by: None,
            deciding_body: Some(a(body)),
            cca: Some(a("justice")),
            decision_effective: Some(eff),
            correction_end: Some(end),
            handed_over: true,
            events: docs.len() as u32,
            opened_at: 1,
            updated_at: self.height,
        };
        CaseDigest { case_ref: record.case_ref, record, docs }
    }
}

fn digests(today: Date) -> Vec<CaseDigest> {
    let mut g = Gen { rng: Rng(0x5eed_c0de), height: 0 };
    (0..CASES).map(|_| g.case(today)).collect()
}

fn inputs() -> Inputs {
    let roles = BTreeMap::from([
        (a("court"), AgencyRole::Court),
        (a("procuratorate"), AgencyRole::Procuratorate),
        (a("police"), AgencyRole::Police),
        (a("prison"), AgencyRole::Prison),
        (a("justice"), AgencyRole::Justice),
    ]);
    let calendar =
        custos_contracts::calendar::parse_holiday_file(include_str!("../../contracts/calendars/cn-2026.txt"))
            .map(|years| Calendar::new(&years))
            .unwrap_or_default();
    Inputs { params: DeadlineParams::default(), calendar, roles }
}

fn bench(c: &mut Criterion) {
    let today = Date::parse("2026-11-30").unwrap();
    let started = Instant::now();
    let ds = digests(today);
    let docs: usize = ds.iter().map(|d| d.docs.len()).sum();
    println!("generated {CASES} case digests ({docs} documents) in {:.2?}", started.elapsed());
    let inputs = inputs();
    let q = Query { as_of: today, rule: None, agency: None, case: None, limit: 1000 };

    // In memory: the rules alone.
    let t = Instant::now();
    let ans = supervise::evaluate_all(&ds, &inputs, &q, &Access::All);
    println!(
        "evaluate (in memory): {:.3} s per query over {} cases, {} findings",
        t.elapsed().as_secs_f64(),
        ans.cases,
        ans.matched
    );

    // The node's path: the index of a RocksDB store, scanned, decoded and evaluated.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let index: Vec<(Vec<u8>, Vec<u8>)> = ds.iter().map(|d| (supervise::digest_key(&d.case_ref), d.encode())).collect();
    let bytes: usize = index.iter().map(|(_, v)| v.len()).sum();
    store
        .commit(&Commit {
            height: 1,
            block_hash: BlockHash(Hash([1; 32])),
            block: vec![1],
            certificate: vec![1],
            index_writes: index,
            ..Commit::default()
        })
        .unwrap();
    drop(ds);
    println!("index: {CASES} digests, {:.1} MiB", bytes as f64 / (1 << 20) as f64);
    for (name, q, access) in [
        ("procuratorate, all findings", q.clone(), Access::All),
        ("police clerk (own agency only)", q.clone(), Access::Only(a("police"))),
        ("procuratorate, --rule S02", Query { rule: Some("S02".into()), ..q.clone() }, Access::All),
    ] {
        let t = Instant::now();
        let ans = supervise::query(&store, &inputs, &q, &access).unwrap();
        println!(
            "query over the store ({name}): {:.3} s per query, {} cases, {} findings matched",
            t.elapsed().as_secs_f64(),
            ans.cases,
            ans.matched
        );
    }

    let mut group = c.benchmark_group("supervise");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("query_100k_cases_store", |b| {
        b.iter(|| black_box(supervise::query(&store, &inputs, &q, &Access::All).unwrap().matched))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
