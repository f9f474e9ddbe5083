//! Case and document visibility on five real nodes (decision 0017): the parties to a case read
//! it through the `custos` binary; the prison and the police, no parties, are refused with a
//! clear message, for an existing case as for a missing one; the procuratorate reads every
//! case, and each read of a case it is no party to is in its node's audit log; so does an
//! auditor of the prison, through `supervise --auditor --evidence` and a direct state proof.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use custos_contracts::call::Date;
use custos_primitives::crypto::{AnySuite, Hash, SuiteId};
use custos_primitives::types::{CaseRef, MemberRole};
use custos_primitives::x509::{self, CertParams};
use custos_testnet::consortium::{self, TLS_CERT_FILE, TLS_KEY_FILE};
use custos_testnet::home::{self, IdentityPaths, Profile};
use serde_json::Value;

use super::network::{audit_lines, custos_at, start};
use super::{ok, p, stderr, stdout};

/// Sent to justice, copied to the procuratorate.
const CASE: &str = "(2026)黑0103刑初7301号";
/// Sent to justice only, twenty days late.
const CASE2: &str = "(2026)黑0103刑初7302号";
/// Never on the ledger.
const NO_CASE: &str = "(2026)黑0103刑初7399号";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn json(o: &Output) -> Value {
    ok(o);
    serde_json::from_str(&stdout(o)).unwrap()
}

/// Asserts that `o` failed with a refusal naming `agency` as no party, and returns its stderr.
fn refused(o: &Output, agency: &str, what: &str) -> String {
    let err = stderr(o);
    assert!(!o.status.success(), "{agency} could {what}: {}", stdout(o));
    assert!(err.contains("refused (not_a_party)"), "{what}: {err}");
    assert!(err.contains(&format!("agency {agency} is not a party to ")), "{what}: {err}");
    assert!(err.contains("the procuratorate and auditors"), "{what}: {err}");
    err
}

/// Waits until every node has committed `height`.
fn wait_all(dir: &Path, height: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for a in ["court", "procuratorate", "police", "prison", "justice"] {
        loop {
            let o = custos_at(&dir.join(a), &["status", "--json"]);
            if o.status.success() && json(&o)["height"].as_u64().unwrap_or(0) >= height {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{a}'s node did not reach height {height}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

/// A probation judgment by the court about `case`, effective `effective`, to justice and
/// copied to `copies`; returns (document hash, height).
fn judgment(dir: &Path, case: &str, effective: Date, copies: &[&str]) -> (String, u64) {
    let number: String = case.chars().filter(char::is_ascii_digit).collect();
    let file = dir.join("docs").join(format!("judgment-{number}.txt"));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, format!("判决书 {case} (test)")).unwrap();
    let (eff, end) = (effective.to_string(), effective.plus_days(365).to_string());
    let copy = copies.join(",");
    let mut args = vec![
        "anchor",
        p(&file),
        "--case",
        case,
        "--type",
        "JUDGMENT",
        "--kind",
        "probation",
        "--effective",
        &eff,
        "--period-start",
        &eff,
        "--period-end",
        &end,
        "--to",
        "justice",
        "--json",
    ];
    if !copies.is_empty() {
        args.extend(["--copy", copy.as_str()]);
    }
    let v = json(&custos_at(&dir.join("court"), &args));
    (v["doc_hash"].as_str().unwrap().to_string(), v["height"].as_u64().unwrap())
}

/// Read-case lines of `agency`'s node's audit log.
fn read_lines(dir: &Path, agency: &str) -> Vec<Value> {
    audit_lines(dir, agency).into_iter().filter(|l| l["op"] == "read_case").collect()
}

/// Gives the prison's home an auditor: member and transport certificates from its CA.
fn add_auditor(home: &Path) {
    let mut profile = Profile::load(home).unwrap();
    let suite = profile.suite().unwrap();
    let ca = profile.identity(home, MemberRole::Ca).unwrap();
    let agency = profile.agency.clone();
    let params = CertParams {
        agency: &agency,
        role: MemberRole::Auditor,
        common_name: "prison-auditor-1",
        not_before: now() - 3600,
        not_after: now() + 30 * 86_400,
    };
    let key = home::generate_key(&suite).unwrap();
    let der = x509::issue_member(&ca.cert, &ca.key, &key.public_key(), &params).unwrap();
    home::write_cert(&home.join("auditor/auditor.crt.pem"), &der).unwrap();
    home::write_key(&home.join("auditor/auditor.key.pem"), &key).unwrap();
    let tls = home::generate_key(&AnySuite::with_defaults(SuiteId::Intl)).unwrap();
    let tls_params = CertParams { common_name: "prison-auditor-tls-1", ..params };
    let tls_der = x509::issue_transport(&ca.cert, &ca.key, &tls.public_key(), &tls_params).unwrap();
    home::write_cert(&home.join("auditor").join(TLS_CERT_FILE), &tls_der).unwrap();
    home::write_key(&home.join("auditor").join(TLS_KEY_FILE), &tls).unwrap();
    profile.identities.push(IdentityPaths {
        role: MemberRole::Auditor,
        cert: PathBuf::from("auditor/auditor.crt.pem"),
        key: PathBuf::from("auditor/auditor.key.pem"),
        tls_cert: Some(PathBuf::from("auditor").join(TLS_CERT_FILE)),
        tls_key: Some(PathBuf::from("auditor").join(TLS_KEY_FILE)),
    });
    profile.save(home).unwrap();
}

/// A state proof of `key` asked of the home's node with the home's identity of `role`.
fn state_proof(home: &Path, role: MemberRole, key: Vec<u8>) -> Result<Option<Vec<u8>>, tonic::Status> {
    let profile = Profile::load(home).unwrap();
    let g = consortium::load_genesis(home).unwrap();
    let ident = profile.transport(home, role).unwrap();
    let pem = ident.key.to_pkcs8_pem().unwrap();
    let (_, der) = custos_primitives::crypto::pem_rfc7468_decode(&pem).unwrap();
    let trust = Arc::new(custos_api::tls::TrustedCas::new(g.suite.clone(), g.cas.clone()));
    let tls = custos_api::tls::client_config(
        trust,
        vec![ident.cert.der().to_vec(), g.cas[&profile.agency].der().to_vec()],
        der.to_vec(),
    )
    .unwrap();
    let node: toml::Value = toml::from_str(&std::fs::read_to_string(home.join("node.toml")).unwrap()).unwrap();
    let addr = node["rpc"]["listen"].as_str().unwrap().to_string();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut c = custos_api::client::connect(&addr, tls).await.unwrap();
        let r = c.get_state_proof(custos_api::pb::GetStateProofRequest { key: key.clone(), height: None }).await?;
        let r = r.into_inner();
        custos_contracts::state::check_answer(&g.suite, &key, None, &r.header, r.value.as_deref(), &r.proof).unwrap();
        Ok(r.value)
    })
}

fn case_ref(hex: &str) -> CaseRef {
    CaseRef(Hash::from_hex(hex).unwrap())
}

#[test]
fn visibility_parties_read_cases_others_are_refused_and_cross_agency_reads_are_audited() {
    let net = start(24100);
    let dir = net.dir.clone();
    let home = |a: &str| dir.join(a);
    let today = Date::from_unix_seconds_cst(now());
    let (doc, h1) = judgment(&dir, CASE, today, &["procuratorate"]);
    let (doc2, h2) = judgment(&dir, CASE2, today.plus_days(-20), &[]);
    wait_all(&dir, h1.max(h2));

    // Parties: justice (recipient, CCA) and the court (issuer, deciding body) see the case, the
    // document and its evidence.
    for a in ["justice", "court"] {
        let v = json(&custos_at(&home(a), &["case", "show", "--case", CASE, "--json"]));
        assert_eq!(v["found"], true, "{a}: {v:#}");
        assert_eq!(v["history"][0]["doc_hash"], doc.as_str(), "{a}: {v:#}");
        let v = json(&custos_at(&home(a), &["doc", "show", &doc, "--json"]));
        assert_eq!(v["issuer"], "court", "{a}: {v:#}");
        let out = dir.join(format!("{a}.evidence"));
        ok(&custos_at(&home(a), &["evidence", "export", &doc, "-o", p(&out)]));
        ok(&custos_at(&home(a), &["verify", "--bundle", p(&out)]));
        ok(&custos_at(&home(a), &["history", "--case", CASE]));
    }

    // The prison and the police are no parties: every read is refused, naming why.
    for a in ["prison", "police"] {
        let err = refused(&custos_at(&home(a), &["case", "show", "--case", CASE]), a, "show the case");
        assert!(err.contains("only the case's parties (the issuers, recipients and copies"), "{err}");
        let err = refused(&custos_at(&home(a), &["doc", "show", &doc]), a, "show the document");
        assert!(err.contains(&format!("the case of document {doc}")), "{err}");
        let out = dir.join(format!("{a}.evidence"));
        let err = refused(&custos_at(&home(a), &["evidence", "export", &doc, "-o", p(&out)]), a, "export evidence");
        assert!(err.contains("may export its evidence"), "{err}");
        assert!(!out.exists(), "no bundle is written for {a}");
        refused(&custos_at(&home(a), &["history", "--case", CASE]), a, "read the verified history");
        refused(
            &custos_at(&home(a), &["evidence", "absent", "--doc", &doc, "--receipt-from", "justice", "-o", p(&out)]),
            a,
            "prove a missing receipt",
        );
    }
    // A case that does not exist is refused in the same words: no existence oracle.
    let there = refused(&custos_at(&home("prison"), &["case", "show", "--case", CASE]), "prison", "show the case");
    let absent = refused(&custos_at(&home("prison"), &["case", "show", "--case", NO_CASE]), "prison", "probe a case");
    let shape = |s: &str| s.split("to case ").nth(1).and_then(|t| t.split_once(';')).map(|(_, rest)| rest.to_string());
    assert_eq!(shape(&there), shape(&absent), "{there}\n{absent}");
    // A document that is not anchored is proven absent to anyone (it has no parties).
    let never = "ab".repeat(32);
    let o = custos_at(&home("prison"), &["doc", "show", &never, "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(serde_json::from_str::<Value>(&stdout(&o)).unwrap()["found"], false);
    // The refusals are in the prison's node's audit log.
    let prison_log = read_lines(&dir, "prison");
    assert!(
        prison_log.iter().filter(|l| l["allowed"] == false && l["caller_agency"] == "prison").count() >= 7,
        "{prison_log:#?}"
    );
    assert!(prison_log.iter().any(|l| l["rpc"] == "export_evidence" && l["reason"] == "not_a_party"));

    // The procuratorate, copied on the first judgment, reads it as a party: no audit line.
    let v = json(&custos_at(&home("procuratorate"), &["case", "show", "--case", CASE, "--json"]));
    let case1 = v["case_ref"].as_str().unwrap().to_string();
    assert!(read_lines(&dir, "procuratorate").is_empty(), "{:#?}", read_lines(&dir, "procuratorate"));
    // It is no party to the second case, and reads it all the same; each read is logged.
    let v = json(&custos_at(&home("procuratorate"), &["case", "show", "--case", CASE2, "--json"]));
    assert_eq!(v["history"][0]["doc_hash"], doc2.as_str(), "{v:#}");
    let case2 = v["case_ref"].as_str().unwrap().to_string();
    let out = dir.join("procuratorate-2.evidence");
    ok(&custos_at(&home("procuratorate"), &["evidence", "export", &doc2, "-o", p(&out)]));
    ok(&custos_at(&home("procuratorate"), &["verify", "--bundle", p(&out)]));
    let lines = read_lines(&dir, "procuratorate");
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|l| l["caller_agency"] == "procuratorate"
            && l["caller_role"] == "clerk"
            && l["caller_cert"].is_string()
            && l["allowed"] == true
            && l["privilege"] == "procuratorate"
            && l["case_ref"] == case2.as_str()),
        "{lines:#?}"
    );
    for kind in ["case", "case_event", "document", "receipt", "evidence"] {
        assert!(lines.iter().any(|l| l["key_kind"] == kind), "no {kind} read logged: {lines:#?}");
    }
    assert!(lines.iter().any(|l| l["rpc"] == "export_evidence" && l["doc"] == doc2.as_str() && l["height"].is_u64()));
    assert!(lines.iter().all(|l| l["case_ref"] != case1.as_str()));

    // An auditor of the prison: supervision across agencies with the findings' evidence, and a
    // state proof of the second case; each read is logged by the prison's node.
    add_auditor(&home("prison"));
    let before = read_lines(&dir, "prison").len();
    let ev = dir.join("auditor-evidence");
    let v =
        json(&custos_at(&home("prison"), &["supervise", "--auditor", "--case", CASE2, "--evidence", p(&ev), "--json"]));
    assert_eq!(v["cross_agency"], true, "{v:#}");
    let files = v["evidence"].as_array().cloned().unwrap_or_default();
    assert!(!files.is_empty(), "the late judgment has findings with evidence: {v:#}");
    for f in &files {
        ok(&custos_at(&home("prison"), &["verify", "--bundle", f.as_str().unwrap()]));
    }
    let record =
        state_proof(&home("prison"), MemberRole::Auditor, custos_contracts::runtime::case_key(&case_ref(&case2)));
    assert!(record.unwrap().is_some(), "the auditor reads the case record");
    // The prison's clerk, asking the same key directly, is refused.
    let e = state_proof(&home("prison"), MemberRole::Clerk, custos_contracts::runtime::case_key(&case_ref(&case2)))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    let lines: Vec<Value> = read_lines(&dir, "prison").into_iter().skip(before).collect();
    let audited: Vec<&Value> = lines.iter().filter(|l| l["allowed"] == true).collect();
    assert!(
        audited
            .iter()
            .all(|l| l["caller_role"] == "auditor" && l["privilege"] == "auditor" && l["case_ref"] == case2.as_str()),
        "{lines:#?}"
    );
    assert!(audited.iter().any(|l| l["rpc"] == "export_evidence"), "{lines:#?}");
    assert!(audited.iter().any(|l| l["rpc"] == "get_state_proof" && l["key_kind"] == "case" && l["found"] == true));
    assert!(lines.iter().any(|l| l["allowed"] == false && l["caller_role"] == "clerk"), "{lines:#?}");
}
