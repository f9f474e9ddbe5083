//! Interoperability with the real `openssl` command (OpenSSL 3): SM2 signatures with a
//! distinguishing ID in both directions, SM2 / ed25519 certificate chains in both
//! directions, and SM2 / X25519 encryption (key-wrapping) key files in both directions.
//!
//! These tests need the `openssl` binary (`$CUSTOS_OPENSSL`, else `openssl` on `PATH`).
//! If it is missing they fail; they never skip.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use custos_primitives::crypto::{
    CryptoError, DEFAULT_SM2_DISTID, DecryptionKey, EncryptionPublicKey, IntlSuite, SmSuite, pem_rfc7468_decode,
};
use custos_primitives::types::{AgencyId, MemberRole};
use custos_primitives::x509::{self, CertParams, Certificate, X509Error};
use custos_primitives::{AnySuite, PublicKey, Signature, SigningKey, Suite, SuiteId};
use tempfile::TempDir;

const MSG: &[u8] = "Custos interop: 社区矫正 notice 2026-001\n".as_bytes();

fn openssl_bin() -> String {
    std::env::var("CUSTOS_OPENSSL").unwrap_or_else(|_| "openssl".to_string())
}

/// Runs `openssl args…` in `dir`. Panics (fails the test) if the binary cannot be run.
fn openssl(dir: &Path, args: &[&str]) -> Output {
    let bin = openssl_bin();
    Command::new(&bin).args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!(
            "cannot run the OpenSSL CLI {bin:?}: {e}. The interop tests require OpenSSL 3 \
             (install it, or point CUSTOS_OPENSSL at it); they are never skipped"
        )
    })
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "openssl {} exited with {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs openssl and requires success.
fn openssl_ok(dir: &Path, args: &[&str]) -> Output {
    let out = openssl(dir, args);
    assert!(out.status.success(), "expected success: {}", describe(args, &out));
    out
}

/// Runs openssl and requires failure (a non-zero exit status).
fn openssl_fails(dir: &Path, args: &[&str]) -> Output {
    let out = openssl(dir, args);
    assert!(!out.status.success(), "expected failure: {}", describe(args, &out));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tempdir() -> TempDir {
    tempfile::Builder::new().prefix("custos-openssl-").tempdir().expect("temp dir")
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), bytes).expect("write file");
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn read_string(dir: &Path, name: &str) -> String {
    String::from_utf8(read(dir, name)).expect("UTF-8 file")
}

fn now() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs();
    i64::try_from(secs).expect("time fits i64")
}

fn spki_pem(key: &PublicKey) -> String {
    let der = key.to_spki_der().expect("SPKI DER");
    der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &der).expect("PEM")
}

/// Reads an OpenSSL `PUBLIC KEY` PEM file into our type.
fn public_key_from_pem_file(dir: &Path, name: &str) -> PublicKey {
    let (label, der) = pem_rfc7468_decode(&read_string(dir, name)).expect("PEM");
    assert_eq!(label, "PUBLIC KEY");
    PublicKey::from_spki_der(&der).expect("SPKI")
}

/// Our raw `r ‖ s` SM2 signature as the DER `SEQUENCE { r, s }` OpenSSL reads.
fn sm2_sig_to_der(sig: &Signature) -> Vec<u8> {
    assert_eq!(sig.suite, SuiteId::Sm);
    sm2::dsa::Signature::from_slice(&sig.bytes).expect("valid r, s").to_der().to_vec()
}

/// An OpenSSL DER SM2 signature as our raw `r ‖ s` signature.
fn sm2_sig_from_der(der: &[u8]) -> Signature {
    let s = sm2::dsa::Signature::from_der(der).expect("DER SM2 signature");
    let mut bytes = [0u8; 64];
    bytes.copy_from_slice(&s.to_bytes());
    Signature { suite: SuiteId::Sm, bytes }
}

fn distid_opt(distid: &str) -> String {
    format!("distid:{distid}")
}

#[test]
fn openssl_cli_is_version_3() {
    let dir = tempdir();
    let out = openssl_ok(dir.path(), &["version"]);
    let v = stdout(&out);
    assert!(v.starts_with("OpenSSL 3."), "need OpenSSL 3.x for SM2 distid options, found {v:?}");
}

// ---------------------------------------------------------------------------------------
// (a) SM2 signatures made by us, checked by OpenSSL.
// ---------------------------------------------------------------------------------------

/// Signs `MSG` with a fresh key of `suite`, and has OpenSSL check it with `distid`.
fn our_sm2_signature_checked_by_openssl(suite: &SmSuite) -> (TempDir, SigningKey) {
    let dir = tempdir();
    let d = dir.path();
    let key = suite.generate_signing_key().expect("key");
    let sig = key.sign(MSG).expect("sign");
    suite.verify(&key.public_key(), MSG, &sig).expect("our own verification");
    write(d, "pub.pem", spki_pem(&key.public_key()));
    write(d, "sig.der", sm2_sig_to_der(&sig));
    write(d, "msg", MSG);
    let opt = distid_opt(suite.distid());
    let out = openssl_ok(d, &["dgst", "-sm3", "-verify", "pub.pem", "-sigopt", &opt, "-signature", "sig.der", "msg"]);
    assert!(stdout(&out).contains("Verified OK"), "{}", stdout(&out));

    // A changed message does not verify.
    let mut other = MSG.to_vec();
    other[0] ^= 1;
    write(d, "other", &other);
    let out =
        openssl_fails(d, &["dgst", "-sm3", "-verify", "pub.pem", "-sigopt", &opt, "-signature", "sig.der", "other"]);
    assert!(stdout(&out).contains("Verification failure"), "{}", stdout(&out));
    (dir, key)
}

#[test]
fn our_sm2_signature_verifies_with_openssl_default_distid() {
    let suite = SmSuite::default();
    assert_eq!(suite.distid(), "1234567812345678");
    let (dir, _key) = our_sm2_signature_checked_by_openssl(&suite);
    // Without -sigopt OpenSSL 3 uses an empty ID, so the signature does not verify.
    openssl_fails(dir.path(), &["dgst", "-sm3", "-verify", "pub.pem", "-signature", "sig.der", "msg"]);
}

#[test]
fn our_sm2_signature_with_custom_distid_verifies_only_with_that_distid() {
    let suite = SmSuite::new("custos-test").expect("suite");
    let (dir, _key) = our_sm2_signature_checked_by_openssl(&suite);
    let d = dir.path();
    for wrong in ["distid:1234567812345678", "distid:custos-tesT", "distid:custos-test-"] {
        let out =
            openssl_fails(d, &["dgst", "-sm3", "-verify", "pub.pem", "-sigopt", wrong, "-signature", "sig.der", "msg"]);
        assert!(stdout(&out).contains("Verification failure"), "{wrong}: {}", stdout(&out));
    }
}

#[test]
fn our_sm2_private_key_pem_is_read_by_openssl() {
    let dir = tempdir();
    let d = dir.path();
    let key = SmSuite::default().generate_signing_key().expect("key");
    write(d, "k.pem", key.to_pkcs8_pem().expect("PEM").as_bytes());
    openssl_ok(d, &["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
    assert_eq!(public_key_from_pem_file(d, "pub.pem"), key.public_key());
    // OpenSSL signs with our key file; we verify.
    write(d, "msg", MSG);
    let opt = distid_opt(DEFAULT_SM2_DISTID);
    openssl_ok(d, &["dgst", "-sm3", "-sign", "k.pem", "-sigopt", &opt, "-out", "sig.der", "msg"]);
    let sig = sm2_sig_from_der(&read(d, "sig.der"));
    SmSuite::default().verify(&key.public_key(), MSG, &sig).expect("verify OpenSSL signature");
}

#[test]
fn our_ed25519_signature_verifies_with_openssl() {
    let dir = tempdir();
    let d = dir.path();
    let key = IntlSuite.generate_signing_key().expect("key");
    let sig = key.sign(MSG).expect("sign");
    write(d, "pub.pem", spki_pem(&key.public_key()));
    write(d, "sig.bin", sig.bytes);
    write(d, "msg", MSG);
    let out = openssl_ok(
        d,
        &["pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg", "-sigfile", "sig.bin"],
    );
    assert!(stdout(&out).contains("Signature Verified Successfully"), "{}", stdout(&out));
    let mut bad = sig.bytes;
    bad[5] ^= 0x10;
    write(d, "bad.bin", bad);
    openssl_fails(
        d,
        &["pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg", "-sigfile", "bad.bin"],
    );
}

// ---------------------------------------------------------------------------------------
// (b) SM2 signatures made by OpenSSL, checked by us.
// ---------------------------------------------------------------------------------------

#[test]
fn openssl_sm2_signature_verifies_with_our_suite() {
    let dir = tempdir();
    let d = dir.path();
    openssl_ok(d, &["genpkey", "-algorithm", "SM2", "-out", "k.pem"]);
    openssl_ok(d, &["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
    write(d, "msg", MSG);

    // The key, read both ways: PKCS#8 private key and SPKI public key.
    let key = SigningKey::from_pkcs8_pem(&read_string(d, "k.pem"), DEFAULT_SM2_DISTID).expect("OpenSSL PKCS#8 SM2 key");
    assert_eq!(key.suite(), SuiteId::Sm);
    let public = public_key_from_pem_file(d, "pub.pem");
    assert_eq!(key.public_key(), public);
    let suite = SmSuite::default();
    assert_eq!(suite.signing_key_from_pem(&read_string(d, "k.pem")).expect("key").public_key(), public);

    // Signed with the default distinguishing ID: verifies.
    let opt = distid_opt(DEFAULT_SM2_DISTID);
    openssl_ok(d, &["dgst", "-sm3", "-sign", "k.pem", "-sigopt", &opt, "-out", "sig.der", "msg"]);
    let sig = sm2_sig_from_der(&read(d, "sig.der"));
    suite.verify(&public, MSG, &sig).expect("OpenSSL SM2 signature verifies");
    AnySuite::with_defaults(SuiteId::Sm).verify(&public, MSG, &sig).expect("via AnySuite");
    assert_eq!(suite.verify(&public, b"another message", &sig), Err(CryptoError::BadSignature { suite: SuiteId::Sm }));
    let custom = SmSuite::new("custos-test").expect("suite");
    assert_eq!(custom.verify(&public, MSG, &sig), Err(CryptoError::BadSignature { suite: SuiteId::Sm }));

    // Signed with another distinguishing ID: only a suite with that ID accepts it.
    openssl_ok(d, &["dgst", "-sm3", "-sign", "k.pem", "-sigopt", "distid:custos-test", "-out", "sig2.der", "msg"]);
    let sig2 = sm2_sig_from_der(&read(d, "sig2.der"));
    custom.verify(&public, MSG, &sig2).expect("custom distid");
    assert_eq!(suite.verify(&public, MSG, &sig2), Err(CryptoError::BadSignature { suite: SuiteId::Sm }));

    // Signed without -sigopt (OpenSSL's empty ID): our default suite rejects it.
    openssl_ok(d, &["dgst", "-sm3", "-sign", "k.pem", "-out", "sig3.der", "msg"]);
    let sig3 = sm2_sig_from_der(&read(d, "sig3.der"));
    assert_eq!(suite.verify(&public, MSG, &sig3), Err(CryptoError::BadSignature { suite: SuiteId::Sm }));

    // Our signature with the OpenSSL-made key verifies in OpenSSL against the private key.
    let ours = key.sign(MSG).expect("sign");
    write(d, "ours.der", sm2_sig_to_der(&ours));
    openssl_ok(d, &["dgst", "-sm3", "-prverify", "k.pem", "-sigopt", &opt, "-signature", "ours.der", "msg"]);
}

#[test]
fn openssl_ed25519_signature_verifies_with_our_suite() {
    let dir = tempdir();
    let d = dir.path();
    openssl_ok(d, &["genpkey", "-algorithm", "ed25519", "-out", "k.pem"]);
    openssl_ok(d, &["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
    write(d, "msg", MSG);
    openssl_ok(d, &["pkeyutl", "-sign", "-inkey", "k.pem", "-rawin", "-in", "msg", "-out", "sig.bin"]);
    let bytes: [u8; 64] = read(d, "sig.bin").try_into().expect("64-byte ed25519 signature");
    let sig = Signature { suite: SuiteId::Intl, bytes };
    let public = public_key_from_pem_file(d, "pub.pem");
    let key = IntlSuite.signing_key_from_pem(&read_string(d, "k.pem")).expect("key");
    assert_eq!(key.public_key(), public);
    IntlSuite.verify(&public, MSG, &sig).expect("OpenSSL ed25519 signature verifies");
    // ed25519 is deterministic: our signature with the same key is byte-identical.
    assert_eq!(key.sign(MSG).expect("sign"), sig);
    assert_eq!(IntlSuite.verify(&public, b"x", &sig), Err(CryptoError::BadSignature { suite: SuiteId::Intl }));
}

// ---------------------------------------------------------------------------------------
// (c) Our certificates, checked by `openssl verify`.
// ---------------------------------------------------------------------------------------

/// Issues a CA and a node certificate with `suite`, valid around now, and writes
/// `ca.pem` and `member.pem`.
fn write_our_chain(suite: &AnySuite, d: &Path) -> (Certificate, Certificate) {
    let t = now();
    let agency = AgencyId::new("court-230102").expect("id");
    let ca_key = suite.generate_signing_key().expect("CA key");
    let ca_der = x509::issue_ca(&ca_key, &agency, "court-230102 CA", t - 86_400, t + 3_650 * 86_400).expect("CA");
    let ca = Certificate::from_der(&ca_der).expect("CA parses");
    let member_key = suite.generate_signing_key().expect("member key");
    let params = CertParams {
        agency: &agency,
        role: MemberRole::Node,
        common_name: "court-node-1",
        not_before: t - 86_400,
        not_after: t + 365 * 86_400,
    };
    let member_der = x509::issue_member(&ca, &ca_key, &member_key.public_key(), &params).expect("member");
    let member = Certificate::from_der(&member_der).expect("member parses");
    x509::verify_member(suite, &member, &ca, t, Some(MemberRole::Node)).expect("our verify");
    write(d, "ca.pem", ca.to_pem());
    write(d, "member.pem", member.to_pem());
    (ca, member)
}

#[test]
fn our_sm2_certificates_verify_with_openssl() {
    for distid in [DEFAULT_SM2_DISTID, "custos-test"] {
        let dir = tempdir();
        let d = dir.path();
        let suite = AnySuite::new(SuiteId::Sm, distid).expect("suite");
        write_our_chain(&suite, d);
        let opt = distid_opt(distid);
        // -x509_strict adds the RFC 5280 profile checks (AKI/SKI, critical basicConstraints
        // on the CA, ...).
        for strict in [false, true] {
            let mut args = vec!["verify"];
            if strict {
                args.push("-x509_strict");
            }
            args.extend(["-vfyopt", &opt, "-CAfile", "ca.pem", "member.pem"]);
            let out = openssl_ok(d, &args);
            assert_eq!(stdout(&out).trim(), "member.pem: OK");
        }
        // OpenSSL 3.0 `verify -check_ss_sig` ignores -vfyopt for the self-signed CA (it
        // fails even for CAs OpenSSL made itself), so check the CA's self-signature with
        // `dgst` over the TBS bytes.
        openssl_checks_sm2_self_signature(d, "ca.pem", distid);
        // Another distinguishing ID, or none, does not verify.
        let wrong = if distid == DEFAULT_SM2_DISTID { "custos-test" } else { DEFAULT_SM2_DISTID };
        let wrong = distid_opt(wrong);
        openssl_fails(d, &["verify", "-vfyopt", &wrong, "-CAfile", "ca.pem", "member.pem"]);
        openssl_fails(d, &["verify", "-CAfile", "ca.pem", "member.pem"]);

        let text = stdout(&openssl_ok(d, &["x509", "-in", "member.pem", "-noout", "-text", "-nameopt", "RFC2253"]));
        assert!(text.contains("Signature Algorithm: SM2-with-SM3"), "{text}");
        assert!(text.contains("Subject: CN=court-node-1,OU=node,O=court-230102"), "{text}");
        assert!(text.contains("CA:FALSE"), "{text}");
        assert!(text.contains("Digital Signature, Non Repudiation"), "{text}");
        let text = stdout(&openssl_ok(d, &["x509", "-in", "ca.pem", "-noout", "-text"]));
        assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
        assert!(text.contains("Digital Signature, Certificate Sign, CRL Sign"), "{text}");
    }
}

#[test]
fn our_ed25519_certificates_verify_with_openssl() {
    let dir = tempdir();
    let d = dir.path();
    let suite = AnySuite::with_defaults(SuiteId::Intl);
    write_our_chain(&suite, d);
    for strict in [false, true] {
        let mut args = vec!["verify", "-check_ss_sig"];
        if strict {
            args.push("-x509_strict");
        }
        args.extend(["-CAfile", "ca.pem", "member.pem"]);
        let out = openssl_ok(d, &args);
        assert_eq!(stdout(&out).trim(), "member.pem: OK");
    }
    let text = stdout(&openssl_ok(d, &["x509", "-in", "member.pem", "-noout", "-text"]));
    assert!(text.contains("Signature Algorithm: ED25519"), "{text}");

    // A member from another CA with the same name does not verify.
    let other = tempdir();
    write_our_chain(&suite, other.path());
    std::fs::copy(other.path().join("member.pem"), d.join("foreign.pem")).expect("copy");
    openssl_fails(d, &["verify", "-CAfile", "ca.pem", "foreign.pem"]);
}

/// Has OpenSSL check the SM2 self-signature of the certificate `name` with `distid`: the
/// TBS is cut out by `openssl asn1parse -strparse`, the key by `openssl x509 -pubkey`.
fn openssl_checks_sm2_self_signature(d: &Path, name: &str, distid: &str) {
    let pem = read_string(d, name);
    let cert = Certificate::from_pem(&pem).expect("certificate");
    let der = cert.der();
    // The TBS starts right after the outer SEQUENCE header (30 82 LL LL for these sizes).
    assert_eq!(&der[..2], &[0x30, 0x82]);
    let (_, parsed) = x509_parser::parse_x509_certificate(der).expect("parse");
    write(d, "self-sig.der", parsed.signature_value.data.as_ref());
    openssl_ok(d, &["asn1parse", "-in", name, "-strparse", "4", "-noout", "-out", "tbs.der"]);
    assert_eq!(read(d, "tbs.der"), parsed.tbs_certificate.as_ref());
    let out = openssl_ok(d, &["x509", "-in", name, "-pubkey", "-noout"]);
    write(d, "self-pub.pem", &out.stdout);
    let opt = distid_opt(distid);
    let args = ["dgst", "-sm3", "-verify", "self-pub.pem", "-sigopt", &opt, "-signature", "self-sig.der", "tbs.der"];
    assert!(stdout(&openssl_ok(d, &args)).contains("Verified OK"));
    let wrong = distid_opt(&format!("{distid}x"));
    let args = ["dgst", "-sm3", "-verify", "self-pub.pem", "-sigopt", &wrong, "-signature", "self-sig.der", "tbs.der"];
    openssl_fails(d, &args);
}

// ---------------------------------------------------------------------------------------
// (d) Certificates made by OpenSSL, checked by `x509::verify_member`.
// ---------------------------------------------------------------------------------------

const MEMBER_EXT: &str = "basicConstraints=CA:FALSE\n\
keyUsage=digitalSignature,nonRepudiation\n\
subjectKeyIdentifier=hash\n\
authorityKeyIdentifier=keyid\n";

/// Makes `ca.key`/`ca.pem` and `m.key`/`m.pem` with OpenSSL. `algorithm` is `SM2` or
/// `ed25519`; `distid` (SM2 only) is passed to `-sigopt`/`-vfyopt`, or not at all if `None`.
fn openssl_chain(d: &Path, algorithm: &str, distid: Option<&str>) {
    let sm2 = algorithm == "SM2";
    let opt = distid.map(distid_opt);
    let sig_args: Vec<&str> = match (sm2, &opt) {
        (true, Some(o)) => vec!["-sm3", "-sigopt", o],
        (true, None) => vec!["-sm3"],
        (false, _) => vec![],
    };
    let vfy_args: Vec<&str> = match &opt {
        Some(o) if sm2 => vec!["-vfyopt", o],
        _ => vec![],
    };
    openssl_ok(d, &["genpkey", "-algorithm", algorithm, "-out", "ca.key"]);
    let mut args = vec!["req", "-x509", "-new", "-key", "ca.key"];
    args.extend(&sig_args);
    args.extend([
        "-subj",
        "/O=court/OU=ca/CN=court-ca",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-out",
        "ca.pem",
    ]);
    openssl_ok(d, &args);

    openssl_ok(d, &["genpkey", "-algorithm", algorithm, "-out", "m.key"]);
    let mut args = vec!["req", "-new", "-key", "m.key"];
    args.extend(&sig_args);
    args.extend(["-subj", "/O=court/OU=clerk/CN=court-clerk-9", "-out", "m.csr"]);
    openssl_ok(d, &args);

    write(d, "member.ext", MEMBER_EXT);
    let mut args = vec!["x509", "-req", "-in", "m.csr", "-CA", "ca.pem", "-CAkey", "ca.key"];
    args.extend(&sig_args);
    args.extend(&vfy_args);
    args.extend(["-set_serial", "0x1c0ffee", "-days", "365", "-extfile", "member.ext", "-out", "m.pem"]);
    openssl_ok(d, &args);
}

fn load_cert(d: &Path, name: &str) -> Certificate {
    Certificate::from_pem(&read_string(d, name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn openssl_sm2_certificates_are_accepted() {
    let dir = tempdir();
    let d = dir.path();
    openssl_chain(d, "SM2", Some(DEFAULT_SM2_DISTID));
    // OpenSSL agrees with itself first.
    let opt = distid_opt(DEFAULT_SM2_DISTID);
    openssl_ok(d, &["verify", "-vfyopt", &opt, "-CAfile", "ca.pem", "m.pem"]);
    openssl_checks_sm2_self_signature(d, "ca.pem", DEFAULT_SM2_DISTID);

    let ca = load_cert(d, "ca.pem");
    let member = load_cert(d, "m.pem");
    let suite = AnySuite::with_defaults(SuiteId::Sm);
    let t = now();
    assert_eq!(ca.verify_as_ca(&suite, t).expect("OpenSSL CA accepted").as_str(), "court");
    let v = x509::verify_member(&suite, &member, &ca, t, Some(MemberRole::Clerk)).expect("OpenSSL member accepted");
    assert_eq!(v.agency.as_str(), "court");
    assert_eq!(v.role, MemberRole::Clerk);
    assert_eq!(v.common_name.as_deref(), Some("court-clerk-9"));
    assert_eq!(v.fingerprint, member.fingerprint(&suite));
    assert_eq!(member.serial_hex(), "01:c0:ff:ee");
    let key = SigningKey::from_pkcs8_pem(&read_string(d, "m.key"), DEFAULT_SM2_DISTID).expect("key");
    assert_eq!(v.public_key, key.public_key());
    assert_eq!(ca.suite(), SuiteId::Sm);

    // Our issuing code accepts the OpenSSL CA too (it has an SKI; ours uses it as AKI).
    let ca_key = SigningKey::from_pkcs8_pem(&read_string(d, "ca.key"), DEFAULT_SM2_DISTID).expect("CA key");
    let node_key = suite.generate_signing_key().expect("node key");
    let agency = AgencyId::new("court").expect("id");
    let params = CertParams {
        agency: &agency,
        role: MemberRole::Node,
        common_name: "court-node-3",
        not_before: t - 60,
        not_after: t + 86_400,
    };
    let node_der = x509::issue_member(&ca, &ca_key, &node_key.public_key(), &params).expect("issue");
    let node = Certificate::from_der(&node_der).expect("parse");
    x509::verify_member(&suite, &node, &ca, t, Some(MemberRole::Node)).expect("verify");
    write(d, "node.pem", node.to_pem());
    openssl_ok(d, &["verify", "-x509_strict", "-vfyopt", &opt, "-CAfile", "ca.pem", "node.pem"]);

    // With another distinguishing ID the same chain does not verify.
    let custom = AnySuite::new(SuiteId::Sm, "custos-test").expect("suite");
    assert!(matches!(x509::verify_member(&custom, &member, &ca, t, None), Err(X509Error::BadSignature { .. })));
}

#[test]
fn openssl_ed25519_certificates_are_accepted() {
    let dir = tempdir();
    let d = dir.path();
    openssl_chain(d, "ed25519", None);
    openssl_ok(d, &["verify", "-check_ss_sig", "-CAfile", "ca.pem", "m.pem"]);
    let ca = load_cert(d, "ca.pem");
    let member = load_cert(d, "m.pem");
    let suite = AnySuite::with_defaults(SuiteId::Intl);
    let t = now();
    let v =
        x509::verify_member(&suite, &member, &ca, t, Some(MemberRole::Clerk)).expect("OpenSSL ed25519 member accepted");
    assert_eq!(v.agency.as_str(), "court");
    assert_eq!(v.role, MemberRole::Clerk);
    assert_eq!(v.common_name.as_deref(), Some("court-clerk-9"));
    let key = IntlSuite.signing_key_from_pem(&read_string(d, "m.key")).expect("key");
    assert_eq!(v.public_key, key.public_key());
    // Checked under the SM suite it is a suite mismatch, not a bad signature.
    let sm = AnySuite::with_defaults(SuiteId::Sm);
    assert!(matches!(
        x509::verify_member(&sm, &member, &ca, t, None),
        Err(X509Error::Suite {
            source: CryptoError::WrongSuite { expected: SuiteId::Sm, found: SuiteId::Intl, .. },
            ..
        })
    ));
}

#[test]
fn openssl_sm2_certificate_signed_without_distid_is_rejected() {
    // CA made with the right ID, member signed without -sigopt (OpenSSL's empty ID).
    let dir = tempdir();
    let d = dir.path();
    openssl_chain(d, "SM2", Some(DEFAULT_SM2_DISTID));
    let mut args = vec!["x509", "-req", "-in", "m.csr", "-CA", "ca.pem", "-CAkey", "ca.key"];
    let opt = distid_opt(DEFAULT_SM2_DISTID);
    args.extend(["-sm3", "-vfyopt", &opt, "-set_serial", "7", "-days", "365"]);
    args.extend(["-extfile", "member.ext", "-out", "nodistid.pem"]);
    openssl_ok(d, &args);
    // OpenSSL itself only accepts it with the empty ID.
    openssl_ok(d, &["verify", "-CAfile", "ca.pem", "nodistid.pem"]);
    openssl_fails(d, &["verify", "-vfyopt", &opt, "-CAfile", "ca.pem", "nodistid.pem"]);

    let ca = load_cert(d, "ca.pem");
    let member = load_cert(d, "nodistid.pem");
    let suite = AnySuite::with_defaults(SuiteId::Sm);
    let t = now();
    let err = x509::verify_member(&suite, &member, &ca, t, None).expect_err("must be rejected");
    match &err {
        X509Error::BadSignature { subject, issuer } => {
            assert!(subject.contains("court-clerk-9"), "{subject}");
            assert!(issuer.contains("court-ca"), "{issuer}");
        }
        other => panic!("expected BadSignature, got {other:?}"),
    }
    assert!(err.to_string().contains("signature does not verify"), "{err}");

    // A whole chain made without -sigopt: the CA's own self-signature already fails.
    let dir2 = tempdir();
    let d2 = dir2.path();
    openssl_chain(d2, "SM2", None);
    openssl_ok(d2, &["verify", "-CAfile", "ca.pem", "m.pem"]);
    openssl_checks_sm2_self_signature(d2, "ca.pem", "");
    let ca2 = load_cert(d2, "ca.pem");
    let member2 = load_cert(d2, "m.pem");
    assert!(matches!(ca2.verify_as_ca(&suite, t), Err(X509Error::BadSignature { .. })));
    assert!(matches!(x509::verify_member(&suite, &member2, &ca2, t, None), Err(X509Error::BadSignature { .. })));
}

// ---------------------------------------------------------------------------------------
// (e) Encryption (key-wrapping) keys: PKCS#8 files in both directions.
// ---------------------------------------------------------------------------------------

/// The DER SubjectPublicKeyInfo header of an X25519 key (RFC 8410): the 32 key bytes follow.
const X25519_SPKI_HEADER: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00];

/// The X25519 public key of the private key file `name`, as OpenSSL computes it.
fn openssl_x25519_public(d: &Path, name: &str) -> [u8; 32] {
    let spki = openssl_ok(d, &["pkey", "-in", name, "-pubout", "-outform", "DER"]).stdout;
    assert_eq!(spki.len(), 44, "X25519 SPKI is 44 bytes: {spki:02x?}");
    assert_eq!(spki[..12], X25519_SPKI_HEADER, "{spki:02x?}");
    spki[12..].try_into().expect("32 bytes")
}

/// The X25519 shared secret of our key `ours` and OpenSSL's peer key file `peer.pem` (private),
/// computed by OpenSSL (with our key file `k.pem`) and by us; both must agree.
fn x25519_derive_agrees(d: &Path, ours: &DecryptionKey) {
    let DecryptionKey::X25519(secret) = ours else { panic!("expected an X25519 key, got {ours:?}") };
    openssl_ok(d, &["genpkey", "-algorithm", "X25519", "-out", "peer.pem"]);
    openssl_ok(d, &["pkey", "-in", "peer.pem", "-pubout", "-out", "peer-pub.pem"]);
    let by_openssl = openssl_ok(d, &["pkeyutl", "-derive", "-inkey", "k.pem", "-peerkey", "peer-pub.pem"]).stdout;
    let peer = x25519_dalek::PublicKey::from(openssl_x25519_public(d, "peer.pem"));
    assert_eq!(by_openssl, secret.diffie_hellman(&peer).as_bytes(), "X25519 shared secrets differ");
}

#[test]
fn our_x25519_decryption_key_pem_is_read_by_openssl() {
    let dir = tempdir();
    let d = dir.path();
    let key = IntlSuite.generate_decryption_key().expect("key");
    let EncryptionPublicKey::X25519(public) = key.public_key() else { panic!("expected X25519") };
    write(d, "k.pem", key.to_pkcs8_pem().expect("PEM").as_bytes());
    let text = stdout(&openssl_ok(d, &["pkey", "-in", "k.pem", "-noout", "-text"]));
    assert!(text.contains("X25519 Private-Key"), "{text}");
    assert_eq!(openssl_x25519_public(d, "k.pem"), public, "OpenSSL computes another public key");
    // OpenSSL re-encodes the key byte for byte as we wrote it.
    let out = openssl_ok(d, &["pkey", "-in", "k.pem"]);
    assert_eq!(stdout(&out), read_string(d, "k.pem"));
    x25519_derive_agrees(d, &key);
}

#[test]
fn our_sm2_decryption_key_pem_is_read_by_openssl() {
    let dir = tempdir();
    let d = dir.path();
    let key = SmSuite::default().generate_decryption_key().expect("key");
    let EncryptionPublicKey::Sm2(public) = key.public_key() else { panic!("expected SM2") };
    write(d, "k.pem", key.to_pkcs8_pem().expect("PEM").as_bytes());
    let text = stdout(&openssl_ok(d, &["pkey", "-in", "k.pem", "-noout", "-text"]));
    assert!(text.contains("SM2"), "{text}");
    openssl_ok(d, &["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
    assert_eq!(public_key_from_pem_file(d, "pub.pem"), PublicKey::Sm2(public));
    // OpenSSL decrypts what we wrap to the key (our raw C1C3C2 as its DER SM2Ciphertext).
    let suite = SmSuite::default();
    let ck = suite.generate_aead_key().expect("content key");
    let wrapped = suite.wrap_key(&key.public_key(), &ck).expect("wrap");
    write(d, "ct.der", c1c3c2_to_der(&wrapped));
    let out = openssl_ok(d, &["pkeyutl", "-decrypt", "-inkey", "k.pem", "-in", "ct.der"]);
    assert_eq!(out.stdout, ck.as_bytes());
}

/// Our raw SM2 ciphertext `04 ‖ x ‖ y ‖ C3 (32) ‖ C2` as the GM/T 0009 DER
/// `SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, ciphertext OCTET STRING }`.
fn c1c3c2_to_der(raw: &[u8]) -> Vec<u8> {
    use der::Encode;
    assert_eq!(raw[0], 0x04, "uncompressed C1");
    let uint = |b: &[u8]| der::asn1::Uint::new(b).expect("INTEGER");
    let octets = |b: &[u8]| der::asn1::OctetString::new(b).expect("OCTET STRING");
    let mut body = Vec::new();
    for part in [uint(&raw[1..33]).to_der(), uint(&raw[33..65]).to_der()] {
        body.extend(part.expect("DER"));
    }
    for part in [octets(&raw[65..97]).to_der(), octets(&raw[97..]).to_der()] {
        body.extend(part.expect("DER"));
    }
    der::asn1::AnyRef::new(der::Tag::Sequence, &body).expect("SEQUENCE").to_der().expect("DER")
}

#[test]
fn openssl_x25519_key_is_read_by_us() {
    let dir = tempdir();
    let d = dir.path();
    openssl_ok(d, &["genpkey", "-algorithm", "X25519", "-out", "k.pem"]);
    let pem = read_string(d, "k.pem");
    let key = DecryptionKey::from_pkcs8_pem(&pem).expect("OpenSSL X25519 key");
    assert_eq!(key.public_key(), EncryptionPublicKey::X25519(openssl_x25519_public(d, "k.pem")));
    // We write it back exactly as OpenSSL did.
    assert_eq!(key.to_pkcs8_pem().expect("PEM").as_str(), pem);
    // Wrap to the public key (via its text form), unwrap with the key read from the file.
    let public = EncryptionPublicKey::parse(&key.public_key().to_text()).expect("text form");
    let ck = IntlSuite.generate_aead_key().expect("content key");
    let wrapped = IntlSuite.wrap_key(&public, &ck).expect("wrap");
    assert_eq!(IntlSuite.unwrap_key(&key, &wrapped).expect("unwrap").as_bytes(), ck.as_bytes());
    x25519_derive_agrees(d, &key);

    // An OpenSSL ed25519 key is a signing key, not an encryption key.
    openssl_ok(d, &["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"]);
    match DecryptionKey::from_pkcs8_pem(&read_string(d, "ed.pem")) {
        Err(CryptoError::InvalidSecretKey(m)) => assert!(m.contains("ed25519"), "{m}"),
        other => panic!("ed25519 key must be refused, got {other:?}"),
    }
}

#[test]
fn openssl_sm2_key_is_read_as_decryption_key() {
    let dir = tempdir();
    let d = dir.path();
    openssl_ok(d, &["genpkey", "-algorithm", "SM2", "-out", "k.pem"]);
    openssl_ok(d, &["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
    let key = DecryptionKey::from_pkcs8_pem(&read_string(d, "k.pem")).expect("OpenSSL SM2 key");
    let EncryptionPublicKey::Sm2(public) = key.public_key() else { panic!("expected SM2") };
    assert_eq!(public_key_from_pem_file(d, "pub.pem"), PublicKey::Sm2(public));
    // What OpenSSL encrypts to the key, the key read by us decrypts.
    let DecryptionKey::Sm2(inner) = &key else { panic!("expected SM2") };
    write(d, "ck", [0x5au8; 16]);
    openssl_ok(d, &["pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "ck", "-out", "ct.der"]);
    assert_eq!(inner.decrypt_der(&read(d, "ct.der")).expect("decrypt OpenSSL ciphertext"), [0x5au8; 16]);
    // And our key-wrapping round trip works with it.
    let suite = SmSuite::default();
    let ck = suite.generate_aead_key().expect("content key");
    let wrapped = suite.wrap_key(&key.public_key(), &ck).expect("wrap");
    assert_eq!(suite.unwrap_key(&key, &wrapped).expect("unwrap").as_bytes(), ck.as_bytes());
}
