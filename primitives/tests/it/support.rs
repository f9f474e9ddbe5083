//! Shared fixtures: agencies with their CAs, member certificates, fixed times.

use custos_primitives::SigningKey;
use custos_primitives::crypto::{AnySuite, Suite, SuiteId};
use custos_primitives::types::{AgencyId, MemberRole};
use custos_primitives::x509::{self, CertParams, Certificate};

/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600;
/// One day in seconds.
pub const DAY: i64 = 86_400;
/// One (365-day) year in seconds.
pub const YEAR: i64 = 365 * DAY;

/// Both suites with their default parameters.
pub fn suites() -> [AnySuite; 2] {
    [AnySuite::with_defaults(SuiteId::Sm), AnySuite::with_defaults(SuiteId::Intl)]
}

/// The other suite.
pub fn other_suite(suite: &AnySuite) -> AnySuite {
    match suite.id() {
        SuiteId::Sm => AnySuite::with_defaults(SuiteId::Intl),
        SuiteId::Intl => AnySuite::with_defaults(SuiteId::Sm),
    }
}

/// An agency: id, CA key and self-signed CA certificate.
#[derive(Debug)]
pub struct Agency {
    pub id: AgencyId,
    pub key: SigningKey,
    pub ca: Certificate,
}

/// An agency whose CA is valid from `T0 - 1 year` to `T0 + 10 years`.
pub fn agency(suite: &AnySuite, id: &str) -> Agency {
    agency_valid(suite, id, T0 - YEAR, T0 + 10 * YEAR)
}

/// An agency whose CA is valid from `not_before` to `not_after`.
pub fn agency_valid(suite: &AnySuite, id: &str, not_before: i64, not_after: i64) -> Agency {
    let id = AgencyId::new(id).expect("agency id");
    let key = suite.generate_signing_key().expect("CA key");
    let der = x509::issue_ca(&key, &id, &format!("{id}-ca"), not_before, not_after).expect("issue CA");
    let ca = Certificate::from_der(&der).expect("parse CA");
    Agency { id, key, ca }
}

/// A member certificate of `agency`, valid from `T0 - 1 day` to `T0 + 1 year`.
pub fn member(suite: &AnySuite, agency: &Agency, role: MemberRole, cn: &str) -> (SigningKey, Certificate) {
    member_valid(suite, agency, role, cn, T0 - DAY, T0 + YEAR)
}

/// A member certificate of `agency` with the given validity.
pub fn member_valid(
    suite: &AnySuite,
    agency: &Agency,
    role: MemberRole,
    cn: &str,
    not_before: i64,
    not_after: i64,
) -> (SigningKey, Certificate) {
    let key = suite.generate_signing_key().expect("member key");
    let params = CertParams { agency: &agency.id, role, common_name: cn, not_before, not_after };
    let der = x509::issue_member(&agency.ca, &agency.key, &key.public_key(), &params).expect("issue member");
    (key, Certificate::from_der(&der).expect("parse member"))
}
