//! Bad certificates and bad genesis files: each is rejected with the specific error, and
//! the error's message names the certificate and the problem. Both suites throughout.

use custos_primitives::crypto::{CryptoError, IntlSuite, Suite, SuiteId};
use custos_primitives::genesis::{Genesis, GenesisAgency, GenesisError, GenesisValidator};
use custos_primitives::types::{AgencyRole, ChainId, MemberRole};
use custos_primitives::x509::{self, CertParams, Certificate, MAX_CERT_BYTES, X509Error};
use custos_primitives::{AnySuite, PublicKey};

use crate::support::{DAY, T0, YEAR, agency, agency_valid, member, member_valid, other_suite, suites};

fn flip(der: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut v = der.to_vec();
    v[at] ^= mask;
    v
}

/// Offset and length of the signature value (the content of the final BIT STRING, after
/// its unused-bits byte).
fn signature_span(der: &[u8]) -> (usize, usize) {
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("parse");
    let len = cert.signature_value.data.len();
    (der.len() - len, len)
}

#[test]
fn good_chain_verifies_in_both_suites() {
    for suite in suites() {
        let a = agency(&suite, "court-230102");
        let (key, m) = member(&suite, &a, MemberRole::Clerk, "court-clerk-1");
        let v = x509::verify_member(&suite, &m, &a.ca, T0, Some(MemberRole::Clerk)).expect("ok");
        assert_eq!(v.agency, a.id);
        assert_eq!(v.role, MemberRole::Clerk);
        assert_eq!(v.public_key, key.public_key());
        assert_eq!(v.common_name.as_deref(), Some("court-clerk-1"));
        assert_eq!(v.not_after, T0 + YEAR);
        assert_eq!(v.fingerprint, m.fingerprint(&suite));
        assert!(m.subject().contains("court-clerk-1"), "{}", m.subject());
        // PEM round trip.
        assert_eq!(Certificate::from_pem(&m.to_pem()).expect("pem").der(), m.der());
    }
}

#[test]
fn flipped_signature_byte_is_bad_signature() {
    for suite in suites() {
        let a = agency(&suite, "court-230102");
        let (_, m) = member(&suite, &a, MemberRole::Clerk, "court-clerk-1");
        let (start, len) = signature_span(m.der());
        assert!(len >= 64, "signature of {len} bytes");
        // Last byte, a middle byte, and (for ed25519) the first byte of the signature. For
        // SM2 the first bytes are the DER header of (r, s): changing them makes the
        // signature unparsable, which is still BadSignature.
        for at in [m.der().len() - 1, start + len / 2, start, start + 1] {
            let bad = Certificate::from_der(&flip(m.der(), at, 0x01)).expect("still parses");
            let err = x509::verify_member(&suite, &bad, &a.ca, T0, None).expect_err("tampered signature accepted");
            assert!(
                matches!(&err, X509Error::BadSignature { subject, issuer }
                    if subject == m.subject() && issuer == a.ca.subject()),
                "{} byte {at}: {err:?}",
                suite.id()
            );
            let msg = err.to_string();
            assert!(msg.contains("signature does not verify"), "{msg}");
            assert!(msg.contains(m.subject()) && msg.contains(a.ca.subject()), "{msg}");
        }

        // The CA's own self-signature.
        let bad_ca = Certificate::from_der(&flip(a.ca.der(), a.ca.der().len() - 1, 0x80)).expect("still parses");
        assert!(matches!(
            bad_ca.verify_as_ca(&suite, T0),
            Err(X509Error::BadSignature { ref subject, .. }) if subject == a.ca.subject()
        ));
        assert!(matches!(
            x509::verify_member(&suite, &m, &bad_ca, T0, None),
            Err(X509Error::BadSignature { ref subject, .. }) if subject == a.ca.subject()
        ));
    }
}

#[test]
fn tampered_signed_fields_are_bad_signature() {
    for suite in suites() {
        let a = agency(&suite, "court-230102");
        let (_, m) = member(&suite, &a, MemberRole::Clerk, "court-clerk-1");
        // Change the CN, and the first "clerk" in the subject (same lengths, so the DER
        // still parses); both lie inside the signed TBS.
        for (from, to) in [(&b"court-clerk-1"[..], &b"court-clerk-2"[..]), (b"clerk", b"clerc")] {
            let der = m.der();
            let pos = der.windows(from.len()).position(|w| w == from).expect("found");
            let mut v = der.to_vec();
            v[pos..pos + to.len()].copy_from_slice(to);
            let bad = Certificate::from_der(&v).expect("parses");
            assert_ne!(bad.subject(), m.subject());
            // The signature is checked before the subject's role and agency are looked at.
            assert!(matches!(x509::verify_member(&suite, &bad, &a.ca, T0, None), Err(X509Error::BadSignature { .. })));
        }
    }
}

#[test]
fn corrupted_der_header_is_malformed() {
    for suite in suites() {
        let a = agency(&suite, "court-230102");
        let (_, m) = member(&suite, &a, MemberRole::Node, "court-node-1");
        let der = m.der();
        assert_eq!(der[0], 0x30, "outer SEQUENCE");
        // Tag, length-of-length, and both length bytes of the outer SEQUENCE.
        for (at, mask) in [(0, 0x01), (0, 0xff), (1, 0x01), (1, 0x03), (2, 0x01), (3, 0x01), (3, 0x80)] {
            let r = Certificate::from_der(&flip(der, at, mask));
            assert!(matches!(r, Err(X509Error::Malformed(_))), "{} byte {at} ^ {mask:#x}: {r:?}", suite.id());
        }
        // The header of the TBS SEQUENCE (offset 4) too.
        assert_eq!(der[4], 0x30);
        assert!(matches!(Certificate::from_der(&flip(der, 4, 0x02)), Err(X509Error::Malformed(_))));
        let err = Certificate::from_der(&flip(der, 0, 0xff)).expect_err("malformed");
        assert!(err.to_string().starts_with("not a valid X.509 certificate"), "{err}");
    }
}

#[test]
fn truncated_or_padded_der_is_malformed() {
    for suite in suites() {
        let a = agency(&suite, "court-230102");
        let (_, m) = member(&suite, &a, MemberRole::Node, "court-node-1");
        let der = m.der();
        for len in 0..der.len() {
            let r = Certificate::from_der(&der[..len]);
            assert!(matches!(r, Err(X509Error::Malformed(_))), "{} prefix {len}: {r:?}", suite.id());
        }
        let mut padded = der.to_vec();
        padded.push(0);
        let err = Certificate::from_der(&padded).expect_err("trailing byte");
        assert!(matches!(&err, X509Error::Malformed(msg) if msg.contains("1 trailing bytes")), "{err:?}");
        // Two certificates back to back are not one certificate.
        let two = [der, der].concat();
        assert!(matches!(Certificate::from_der(&two), Err(X509Error::Malformed(_))));
        // Oversized input is refused before parsing.
        let huge = vec![0x30u8; MAX_CERT_BYTES + 1];
        assert_eq!(Certificate::from_der(&huge).expect_err("too large"), X509Error::TooLarge(MAX_CERT_BYTES + 1));
        // PEM of the wrong kind, or not PEM.
        assert!(matches!(Certificate::from_pem("not pem"), Err(X509Error::Malformed(_))));
        let key_pem = suite.generate_signing_key().expect("key").to_pkcs8_pem().expect("pem");
        let err = Certificate::from_pem(&key_pem).expect_err("key is not a certificate");
        assert!(matches!(&err, X509Error::Malformed(m) if m.contains("PRIVATE KEY")), "{err:?}");
    }
}

/// Flips each byte of a member certificate in turn (two different masks): nothing panics,
/// and no altered certificate verifies.
#[test]
fn no_single_byte_change_verifies() {
    for suite in suites() {
        let a = agency(&suite, "court-230102");
        let (_, m) = member(&suite, &a, MemberRole::Node, "court-node-1");
        let der = m.der();
        let mut parsed = 0;
        for at in 0..der.len() {
            for mask in [0x01u8, 0x80] {
                let Ok(bad) = Certificate::from_der(&flip(der, at, mask)) else {
                    continue;
                };
                parsed += 1;
                let r = x509::verify_member(&suite, &bad, &a.ca, T0, None);
                assert!(r.is_err(), "{} byte {at} ^ {mask:#x} still verifies: {r:?}", suite.id());
            }
        }
        // Most flips land in the signed part and still parse: the signature catches them.
        assert!(parsed > der.len() / 2, "only {parsed} altered certificates parsed");
    }
}

/// Re-encodings of a valid certificate outside its signed part that a lenient BER parser
/// accepts: each would give the same certificate a new fingerprint, so each is Malformed.
#[test]
fn non_canonical_encodings_of_a_valid_certificate_are_malformed() {
    for suite in suites() {
        let a = agency(&suite, "court-230102");
        let (_, m) = member(&suite, &a, MemberRole::Node, "court-node-1");
        let der = m.der();
        let (_, parsed) = x509_parser::parse_x509_certificate(der).expect("parse");
        let tbs_end = 4 + parsed.tbs_certificate.as_ref().len();
        let (sig_start, _) = signature_span(der);
        // Layout after the TBS: 30 LL (06 LL <oid>) 03 LL 00 <signature>.
        assert_eq!(der[tbs_end], 0x30, "signatureAlgorithm SEQUENCE");
        assert_eq!(der[tbs_end + 2], 0x06, "OID");
        let bit_string = sig_start - 1 - if der[sig_start - 2] == 0x81 { 3 } else { 2 };
        assert_eq!(der[bit_string], 0x03, "BIT STRING");
        assert_eq!(der[sig_start - 1], 0x00, "unused bits");

        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("outer SEQUENCE tag as [context 16]", flip(der, 0, 0x80)),
            ("signatureAlgorithm tag as [context 16]", flip(der, tbs_end, 0x80)),
            ("OID tag 0x06 -> 0x07", flip(der, tbs_end + 2, 0x01)),
            ("OID tag as [context 6]", flip(der, tbs_end + 2, 0x80)),
            ("BIT STRING tag as [context 3]", flip(der, bit_string, 0x80)),
            ("one unused bit in the signature", flip(der, sig_start - 1, 0x01)),
        ];
        // Long-form outer length with a leading zero: 30 82 LL LL -> 30 83 00 LL LL.
        assert_eq!(der[1], 0x82);
        let mut long = vec![0x30, 0x83, 0x00];
        long.extend_from_slice(&der[2..]);
        cases.push(("non-minimal outer length", long));
        for (what, bytes) in cases {
            assert_ne!(bytes.as_slice(), der);
            let r = Certificate::from_der(&bytes);
            assert!(matches!(r, Err(X509Error::Malformed(_))), "{} {what}: {r:?}", suite.id());
        }
    }
}

#[test]
fn member_of_another_agency_ca_is_rejected() {
    for suite in suites() {
        let court = agency(&suite, "court-230102");
        let police = agency(&suite, "police-230102");
        let (_, m) = member(&suite, &police, MemberRole::Clerk, "police-clerk-1");
        // Checked against the court's CA: the issuer name does not match.
        let err = x509::verify_member(&suite, &m, &court.ca, T0, None).expect_err("foreign CA");
        assert!(
            matches!(&err, X509Error::IssuerMismatch { subject, issuer, ca }
                if subject == m.subject() && issuer == police.ca.subject() && ca == court.ca.subject()),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("was issued by") && msg.contains("police-230102"), "{msg}");

        // An impostor CA with the very same name but another key: bad signature.
        let impostor = agency(&suite, "police-230102");
        assert_eq!(impostor.ca.subject(), police.ca.subject());
        assert!(matches!(x509::verify_member(&suite, &m, &impostor.ca, T0, None), Err(X509Error::BadSignature { .. })));

        // A CA cannot issue for another agency in the first place.
        let k = suite.generate_signing_key().expect("key");
        let params = CertParams {
            agency: &court.id,
            role: MemberRole::Clerk,
            common_name: "x",
            not_before: T0,
            not_after: T0 + DAY,
        };
        assert!(matches!(
            x509::issue_member(&police.ca, &police.key, &k.public_key(), &params),
            Err(X509Error::AgencyMismatch { .. })
        ));
    }
}

#[test]
fn expired_and_not_yet_valid_member_and_ca() {
    for suite in suites() {
        let a = agency_valid(&suite, "court-230102", T0, T0 + 10 * YEAR);
        let (_, m) = member_valid(&suite, &a, MemberRole::Node, "court-node-1", T0 + DAY, T0 + YEAR);
        // Validity is inclusive at both ends.
        for at in [T0 + DAY, T0 + YEAR] {
            x509::verify_member(&suite, &m, &a.ca, at, None).expect("inside validity");
        }
        let err = x509::verify_member(&suite, &m, &a.ca, T0 + YEAR + 1, None).expect_err("expired");
        assert!(
            matches!(&err, X509Error::Expired { subject, not_after, .. }
                if subject == m.subject() && not_after == "2027-01-01T00:00:00Z"),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("expired") && msg.contains("court-node-1"), "{msg}");
        assert!(msg.contains("2027-01-01T00:00:00Z") && msg.contains("2027-01-01T00:00:01Z"), "{msg}");

        let err = x509::verify_member(&suite, &m, &a.ca, T0 + DAY - 1, None).expect_err("early");
        assert!(matches!(&err, X509Error::NotYetValid { subject, .. } if subject == m.subject()), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("not valid before") && msg.contains("court-node-1"), "{msg}");

        // The CA is checked too: before its start and after its end.
        let err = x509::verify_member(&suite, &m, &a.ca, T0 - 1, None).expect_err("CA early");
        assert!(matches!(&err, X509Error::NotYetValid { subject, .. } if subject == a.ca.subject()), "{err:?}");
        let err = x509::verify_member(&suite, &m, &a.ca, T0 + 10 * YEAR + 1, None).expect_err("CA late");
        assert!(matches!(&err, X509Error::Expired { subject, .. } if subject == a.ca.subject()), "{err:?}");
        assert!(err.to_string().contains("expired") && err.to_string().contains("court-230102"));

        // An expired CA with a member that is itself still valid.
        let old = agency_valid(&suite, "court-230102", T0 - 2 * YEAR, T0 - YEAR);
        let (_, m2) = member_valid(&suite, &old, MemberRole::Node, "court-node-2", T0 - 2 * YEAR, T0 + YEAR);
        assert!(matches!(
            x509::verify_member(&suite, &m2, &old.ca, T0, None),
            Err(X509Error::Expired { ref subject, .. }) if subject == old.ca.subject()
        ));
        assert!(matches!(old.ca.verify_as_ca(&suite, T0), Err(X509Error::Expired { .. })));
    }
}

#[test]
fn wrong_role_is_rejected() {
    for suite in suites() {
        let a = agency(&suite, "court-230102");
        let (_, clerk) = member(&suite, &a, MemberRole::Clerk, "court-clerk-1");
        x509::verify_member(&suite, &clerk, &a.ca, T0, None).expect("any role");
        x509::verify_member(&suite, &clerk, &a.ca, T0, Some(MemberRole::Clerk)).expect("clerk");
        for expected in [MemberRole::Node, MemberRole::Admin, MemberRole::Auditor, MemberRole::Adapter] {
            let err = x509::verify_member(&suite, &clerk, &a.ca, T0, Some(expected)).expect_err("wrong role");
            assert!(
                matches!(&err, X509Error::WrongRole { subject, expected: e, found: MemberRole::Clerk }
                    if subject == clerk.subject() && *e == expected),
                "{err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(&format!("has role clerk, but {expected} is required")), "{msg}");
            assert!(msg.contains("court-clerk-1"), "{msg}");
        }
    }
}

#[test]
fn ca_certificate_is_not_a_member() {
    for suite in suites() {
        let a = agency(&suite, "court-230102");
        for role in [None, Some(MemberRole::Ca), Some(MemberRole::Node)] {
            let err = x509::verify_member(&suite, &a.ca, &a.ca, T0, role).expect_err("CA as member");
            assert!(matches!(&err, X509Error::NotAMember { subject, .. } if subject == a.ca.subject()), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains("is not a member certificate") && msg.contains("CA"), "{msg}");
        }
        // A member certificate is not a CA either.
        let (_, m) = member(&suite, &a, MemberRole::Node, "court-node-1");
        let err = m.verify_as_ca(&suite, T0).expect_err("member as CA");
        assert!(matches!(&err, X509Error::NotACa { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot issue certificates"));
        let err = x509::verify_member(&suite, &m, &m, T0, None).expect_err("member as CA");
        assert!(matches!(err, X509Error::NotACa { .. }), "{err:?}");
        // And issue_member refuses to make a CA.
        let k = suite.generate_signing_key().expect("key");
        let params = CertParams {
            agency: &a.id,
            role: MemberRole::Ca,
            common_name: "sub-ca",
            not_before: T0,
            not_after: T0 + DAY,
        };
        assert!(matches!(x509::issue_member(&a.ca, &a.key, &k.public_key(), &params), Err(X509Error::Build(_))));
    }
}

#[test]
fn chain_of_the_other_suite_is_a_suite_error() {
    for suite in suites() {
        let other = other_suite(&suite);
        let a = agency(&other, "court-230102");
        let (_, m) = member(&other, &a, MemberRole::Node, "court-node-1");
        x509::verify_member(&other, &m, &a.ca, T0, None).expect("fine under its own suite");
        let err = x509::verify_member(&suite, &m, &a.ca, T0, None).expect_err("wrong suite");
        let expected = suite.id();
        let found = other.id();
        assert!(
            matches!(&err, X509Error::Suite {
                subject,
                source: CryptoError::WrongSuite { expected: e, found: f, .. },
            } if subject == a.ca.subject() && *e == expected && *f == found),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("belongs to the {found} suite, but this network uses the {expected} suite")),
            "{msg}"
        );
        assert!(msg.contains("court-230102"), "{msg}");
        assert!(matches!(
            a.ca.verify_as_ca(&suite, T0),
            Err(X509Error::Suite { source: CryptoError::WrongSuite { .. }, .. })
        ));
        // A member key of the other suite under a CA of this suite cannot even be issued.
        let ours = agency(&suite, "court-230102");
        let foreign_key: PublicKey = other.generate_signing_key().expect("key").public_key();
        let params = CertParams {
            agency: &ours.id,
            role: MemberRole::Node,
            common_name: "court-node-9",
            not_before: T0,
            not_after: T0 + DAY,
        };
        assert!(matches!(x509::issue_member(&ours.ca, &ours.key, &foreign_key, &params), Err(X509Error::Build(_))));
    }
}

#[test]
fn sm2_chain_with_another_distid_is_bad_signature() {
    let custom = AnySuite::new(SuiteId::Sm, "custos-test").expect("suite");
    let default = AnySuite::with_defaults(SuiteId::Sm);
    let a = agency(&custom, "court-230102");
    let (_, m) = member(&custom, &a, MemberRole::Node, "court-node-1");
    x509::verify_member(&custom, &m, &a.ca, T0, None).expect("own distid");
    // The CA's self-signature is the first thing to fail.
    assert!(matches!(
        x509::verify_member(&default, &m, &a.ca, T0, None),
        Err(X509Error::BadSignature { ref subject, .. }) if subject == a.ca.subject()
    ));
}

// ---------------------------------------------------------------------------------------
// Genesis.
// ---------------------------------------------------------------------------------------

/// A fresh libp2p transport key (ed25519 public key, hex) for a genesis validator.
fn p2p_key() -> String {
    hex::encode(IntlSuite.generate_signing_key().expect("key").public_key().as_bytes())
}

struct Fixture {
    genesis: Genesis,
    clerk_pem: String,
}

fn genesis(suite: &AnySuite) -> Fixture {
    let court = agency(suite, "court-230102");
    let justice = agency(suite, "justice-230102");
    let (_, court_node) = member(suite, &court, MemberRole::Node, "court-node-1");
    let (_, justice_node) = member(suite, &justice, MemberRole::Node, "justice-node-1");
    let (_, justice_clerk) = member(suite, &justice, MemberRole::Clerk, "justice-clerk-1");
    let genesis = Genesis {
        chain_id: ChainId::new("custos-test-1").expect("chain id"),
        suite: suite.id(),
        sm2_distid: suite.distid().to_string(),
        genesis_time: T0,
        agencies: vec![
            GenesisAgency {
                id: court.id.clone(),
                role: AgencyRole::Court,
                name: "哈尔滨市南岗区人民法院".into(),
                level: Default::default(),
                area_code: "230102".into(),
                encryption_key: None,
                ca_cert_pem: court.ca.to_pem(),
            },
            GenesisAgency {
                id: justice.id.clone(),
                role: AgencyRole::Justice,
                name: "哈尔滨市南岗区司法局".into(),
                level: Default::default(),
                area_code: "230102".into(),
                encryption_key: None,
                ca_cert_pem: justice.ca.to_pem(),
            },
        ],
        validators: vec![
            GenesisValidator {
                agency: court.id.clone(),
                node_cert_pem: court_node.to_pem(),
                power: 1,
                p2p_key: p2p_key(),
            },
            GenesisValidator {
                agency: justice.id.clone(),
                node_cert_pem: justice_node.to_pem(),
                power: 1,
                p2p_key: p2p_key(),
            },
        ],
    };
    Fixture { genesis, clerk_pem: justice_clerk.to_pem() }
}

#[test]
fn valid_genesis_and_its_hash_ignores_order() {
    for suite in suites() {
        let f = genesis(&suite);
        let v = f.genesis.validate().expect("valid genesis");
        assert_eq!(v.cas.len(), 2);
        assert_eq!(v.validators.len(), 2);
        assert!(v.validators.windows(2).all(|w| w[0].node_id < w[1].node_id));
        assert_eq!(v.suite.id(), suite.id());
        let mut reordered = f.genesis.clone();
        reordered.agencies.reverse();
        reordered.validators.reverse();
        let v2 = reordered.validate().expect("valid");
        assert_eq!(v2.hash, v.hash);
        assert_eq!(v2.validator_set_hash(), v.validator_set_hash());
        // JSON round trip keeps the hash.
        let back = Genesis::from_json(&f.genesis.to_json()).expect("json");
        assert_eq!(back.validate().expect("valid").hash, v.hash);
        // Anything else changes it.
        let mut renamed = f.genesis.clone();
        renamed.chain_id = ChainId::new("custos-test-2").expect("id");
        assert_ne!(renamed.validate().expect("valid").hash, v.hash);
    }
}

#[test]
fn genesis_with_duplicate_agency_is_rejected() {
    for suite in suites() {
        let mut g = genesis(&suite).genesis;
        let dup = g.agencies[0].clone();
        g.agencies.push(dup);
        let err = g.validate().expect_err("duplicate agency");
        assert!(matches!(&err, GenesisError::DuplicateAgency(id) if id.as_str() == "court-230102"), "{err:?}");
        assert_eq!(err.to_string(), "agency court-230102 is listed twice");

        // The same id with another CA is still a duplicate.
        let mut g = genesis(&suite).genesis;
        let other_ca = agency(&suite, "court-230102").ca.to_pem();
        let mut dup = g.agencies[0].clone();
        dup.ca_cert_pem = other_ca;
        g.agencies.push(dup);
        assert!(matches!(g.validate(), Err(GenesisError::DuplicateAgency(_))));
    }
}

#[test]
fn genesis_with_clerk_as_validator_is_rejected() {
    for suite in suites() {
        let f = genesis(&suite);
        let mut g = f.genesis.clone();
        g.validators[1].node_cert_pem = f.clerk_pem.clone();
        let err = g.validate().expect_err("clerk validator");
        assert!(
            matches!(&err, GenesisError::ValidatorCert {
                agency,
                source: X509Error::WrongRole { expected: MemberRole::Node, found: MemberRole::Clerk, .. },
            } if agency.as_str() == "justice-230102"),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("validator of agency justice-230102"), "{msg}");
        assert!(msg.contains("justice-clerk-1") && msg.contains("has role clerk, but node is required"), "{msg}");
    }
}

#[test]
fn genesis_other_defects_are_rejected() {
    for suite in suites() {
        let f = genesis(&suite);

        // A validator attributed to the other agency: its certificate is not from that CA.
        let mut g = f.genesis.clone();
        g.validators[0].agency = g.agencies[1].id.clone();
        assert!(matches!(
            g.validate(),
            Err(GenesisError::ValidatorCert { source: X509Error::IssuerMismatch { .. }, .. })
        ));

        // The same validator twice.
        let mut g = f.genesis.clone();
        let dup = g.validators[0].clone();
        g.validators.push(dup);
        assert!(matches!(g.validate(), Err(GenesisError::DuplicateValidator(_))));

        // Zero power, no validators, bad area code, CA listed under another agency id.
        let mut g = f.genesis.clone();
        g.validators[0].power = 0;
        assert!(matches!(g.validate(), Err(GenesisError::ZeroPower(_))));
        let mut g = f.genesis.clone();
        g.validators.clear();
        assert_eq!(g.validate().expect_err("none"), GenesisError::NoValidators);
        let mut g = f.genesis.clone();
        g.agencies[0].area_code = "23010".into();
        assert!(matches!(g.validate(), Err(GenesisError::AreaCode { .. })));
        let mut g = f.genesis.clone();
        g.agencies[0].ca_cert_pem = g.agencies[1].ca_cert_pem.clone();
        assert!(matches!(g.validate(), Err(GenesisError::CaAgency { .. })));

        // Genesis of the other suite's network: the CAs are a suite error.
        let mut g = f.genesis.clone();
        g.suite = other_suite(&suite).id();
        assert!(matches!(g.validate(), Err(GenesisError::AgencyCa { source: X509Error::Suite { .. }, .. })));

        // Genesis time outside the CA's validity.
        let mut g = f.genesis.clone();
        g.genesis_time = T0 + 20 * YEAR;
        let err = g.validate().expect_err("expired CA");
        assert!(matches!(&err, GenesisError::AgencyCa { source: X509Error::Expired { .. }, .. }), "{err:?}");
        assert!(err.to_string().contains("expired"), "{err}");
    }
}
