//! Synthetic case digests for benchmarks of the supervision rules: a fixed-seed generator of a
//! realistic mix — subject kinds (管制, 缓刑, 假释, 暂外), judgments delivered on time or late,
//! copies sent or not, intakes registered or not, receipts, execution notices, warnings with or
//! without a revocation proposal, leaves with or without a return.
//!
//! Used by `cargo bench -p custos-node --bench supervise` and by `custos-bench`. Never used by
//! the node itself.

use std::collections::BTreeMap;

use custos_contracts::calendar::Calendar;
use custos_contracts::call::{BusinessDates, Date, DocType, SubjectKind};
use custos_contracts::governance::DeadlineParams;
use custos_contracts::supervision::{CaseDigest, DocDigest, ReceiptDigest};
use custos_contracts::workflow::{CaseRecord, CaseState};
use custos_primitives::Hash;
use custos_primitives::types::{AgencyId, AgencyRole, CaseRef, DocHash, TxId};

use crate::supervise::Inputs;

/// The five agencies of the local consortium, by role.
const AGENCIES: [(&str, AgencyRole); 5] = [
    ("court", AgencyRole::Court),
    ("procuratorate", AgencyRole::Procuratorate),
    ("police", AgencyRole::Police),
    ("prison", AgencyRole::Prison),
    ("justice", AgencyRole::Justice),
];

/// An agency id from this module's constants (valid by construction; never from input).
#[allow(clippy::expect_used)]
fn a(s: &str) -> AgencyId {
    AgencyId::new(s).expect("a built-in agency id")
}

/// A document type from this module's constants (valid by construction; never from input).
#[allow(clippy::expect_used)]
fn ty(code: &str) -> DocType {
    DocType::new(code).expect("a built-in document type")
}

/// Generates `cases` case digests as of `today` from `seed` (the same seed, the same digests).
pub fn digests(cases: usize, seed: u64, today: Date) -> Vec<CaseDigest> {
    let mut g = Gen { rng: Rng(seed), height: 0 };
    (0..cases).map(|_| g.case(today)).collect()
}

/// The inputs of a query over the digests: default deadlines, the 2026 holiday calendar, the
/// five agencies' roles.
pub fn inputs() -> Inputs {
    let roles = AGENCIES.iter().map(|(id, role)| (a(id), *role)).collect::<BTreeMap<_, _>>();
    let calendar =
        custos_contracts::calendar::parse_holiday_file(include_str!("../../contracts/calendars/cn-2026.txt"))
            .map(|years| Calendar::new(&years))
            .unwrap_or_default();
    Inputs { params: DeadlineParams::default(), calendar, roles }
}

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

struct Gen {
    rng: Rng,
    height: u64,
}

impl Gen {
    #[allow(clippy::too_many_arguments)]
    fn doc(
        &mut self,
        doc_type: &str,
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
            doc_type: ty(doc_type),
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
