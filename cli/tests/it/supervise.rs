//! Procuratorial supervision on five real nodes (issue 7): a late, incompletely copied probation
//! judgment, seen by the procuratorate, the court and (not) the police; filters; the audit log;
//! evidence bundles.

use std::path::Path;

use custos_contracts::call::Date;
use serde_json::Value;

use super::network::{audit_lines, custos_at, start};
use super::{ok, p, stdout};

const CASE: &str = "(2026)黑0103刑初7001号";

fn today_cst() -> Date {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    Date::from_unix_seconds_cst(now)
}

fn supervise(home: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["supervise", "--json"];
    args.extend_from_slice(extra);
    let o = custos_at(home, &args);
    ok(&o);
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn findings(v: &Value) -> Vec<Value> {
    v["findings"].as_array().unwrap().clone()
}

fn has(v: &[Value], rule: &str, agency: &str) -> bool {
    v.iter().any(|f| f["rule"] == rule && f["agency"] == agency)
}

#[test]
fn supervise_late_judgment_access_filters_audit_and_evidence() {
    let net = start(30500);
    let dir = net.dir.clone();
    let court = dir.join("court");
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let today = today_cst();
    let effective = today.plus_days(-20).to_string();
    let period_end = today.plus_days(345).to_string();

    // The court's probation judgment took effect 20 days ago; it is anchored only now, to the
    // justice bureau, copied to the procuratorate but not to the police; the execution notice
    // follows (late too).
    let judgment = docs.join("judgment.txt");
    std::fs::write(&judgment, "判决书 (test)").unwrap();
    ok(&custos_at(
        &court,
        &[
            "anchor",
            p(&judgment),
            "--case",
            CASE,
            "--type",
            "JUDGMENT",
            "--kind",
            "probation",
            "--effective",
            &effective,
            "--period-start",
            &effective,
            "--period-end",
            &period_end,
            "--to",
            "justice",
            "--copy",
            "procuratorate",
        ],
    ));
    let notice = docs.join("notice.txt");
    std::fs::write(&notice, "执行通知书 (test)").unwrap();
    ok(&custos_at(
        &court,
        &["anchor", p(&notice), "--case", CASE, "--type", "EXEC_NOTICE", "--to", "justice", "--copy", "procuratorate"],
    ));

    // The procuratorate sees the court's late delivery (S02) and the missing police copy (S03).
    let proc_home = dir.join("procuratorate");
    // (Its node may commit the court's block a moment after the court's node did.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let all = loop {
        let v = supervise(&proc_home, &[]);
        let f = findings(&v);
        if (has(&f, "S02", "court") && has(&f, "S03", "court")) || std::time::Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    assert_eq!(all["cross_agency"], true, "{all:#}");
    let f = findings(&all);
    let s02: Vec<&Value> = f.iter().filter(|x| x["rule"] == "S02" && x["agency"] == "court").collect();
    assert!(!s02.is_empty(), "no S02 against the court: {all:#}");
    assert!(s02.iter().all(|x| x["days_overdue"].as_u64().unwrap() > 0), "{all:#}");
    assert!(s02.iter().all(|x| x["basis"] == "statutory"), "{all:#}");
    assert!(s02.iter().all(|x| !x["proofs"].as_array().unwrap().is_empty()), "{all:#}");
    let s03: Vec<&Value> = f.iter().filter(|x| x["rule"] == "S03" && x["agency"] == "court").collect();
    assert!(!s03.is_empty(), "no S03 against the court: {all:#}");
    assert!(
        s03.iter().any(|x| x["missing"]["kind"] == "addressee" && x["missing"]["role"] == "police"),
        "S03 should name the police as missing: {all:#}"
    );

    // The police clerk sees nothing about the court (only findings against the police).
    let police = supervise(&dir.join("police"), &[]);
    assert_eq!(police["cross_agency"], false);
    assert!(findings(&police).iter().all(|x| x["agency"] == "police"), "{police:#}");
    let police_court = supervise(&dir.join("police"), &["--agency", "court"]);
    assert!(findings(&police_court).is_empty(), "{police_court:#}");

    // The court sees its own findings.
    let own = supervise(&court, &[]);
    let of = findings(&own);
    assert!(has(&of, "S02", "court") && has(&of, "S03", "court"), "{own:#}");
    assert!(of.iter().all(|x| x["agency"] == "court"), "{own:#}");

    // Filters: a rule; a case; an as-of date before the judgment was anchored.
    let only = supervise(&proc_home, &["--rule", "S03"]);
    let o = findings(&only);
    assert!(!o.is_empty() && o.iter().all(|x| x["rule"] == "S03"), "{only:#}");
    let by_case = supervise(&proc_home, &["--case", CASE, "--agency", "court"]);
    assert!(has(&findings(&by_case), "S02", "court"), "{by_case:#}");
    let before = today.plus_days(-1).to_string();
    let earlier = supervise(&proc_home, &["--as-of", &before]);
    assert!(findings(&earlier).is_empty(), "{earlier:#}");
    assert_eq!(earlier["as_of"], before.as_str());

    // Evidence: every finding's bundles, verified before writing and verifiable offline.
    let ev = dir.join("evidence");
    let with_ev = supervise(&proc_home, &["--agency", "court", "--evidence", p(&ev)]);
    let files = with_ev["evidence"].as_array().cloned().unwrap_or_default();
    assert!(!files.is_empty(), "{with_ev:#}");
    for file in &files {
        let v = custos_at(&proc_home, &["verify", "--bundle", file.as_str().unwrap()]);
        ok(&v);
    }

    // The procuratorate's node logged every query of the procuratorate with its filters.
    let lines: Vec<Value> = audit_lines(&dir, "procuratorate").into_iter().filter(|l| l["op"] == "supervise").collect();
    assert!(lines.len() >= 5, "{lines:#?}");
    assert!(lines.iter().all(|l| l["caller_agency"] == "procuratorate" && l["caller_cert"].is_string()));
    assert!(lines.iter().any(|l| l["rule"] == "S03" && l["cross_agency"] == true));
    assert!(lines.iter().any(|l| l["as_of"] == before.as_str() && l["returned"] == 0));
    assert!(lines.iter().any(|l| l["agency"] == "court" && l["returned"].as_u64().unwrap() > 0));
    // The police's queries are logged by the police's node, not crossing agencies.
    let police_lines: Vec<Value> = audit_lines(&dir, "police").into_iter().filter(|l| l["op"] == "supervise").collect();
    assert!(police_lines.iter().all(|l| l["caller_agency"] == "police" && l["cross_agency"] == false));
    assert_eq!(police_lines.len(), 2);
}

/// Anchors a document: agency, case, type, further arguments.
type Anchor<'a> = dyn FnMut(&str, &str, &str, &[&str]) + 'a;

/// One scenario per rule family on five real nodes, each seen by the procuratorate at an as-of
/// date after its deadline: assessment (S06), supervision (S05, S08, S09, S10, S13, S14),
/// rulings and replies (S11, S18), temporary-outside (S15).
#[test]
fn supervise_one_scenario_per_rule_family() {
    let net = start(30600);
    let dir = net.dir.clone();
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let today = today_cst();
    let day = |n: i32| today.plus_days(n).to_string();
    let mut n = 0;
    let mut anchor = |by: &str, case: &str, doc_type: &str, extra: &[&str]| {
        n += 1;
        let file = docs.join(format!("doc-{n}.txt"));
        std::fs::write(&file, format!("{doc_type} #{n} of {case}")).unwrap();
        let mut args = vec!["anchor", p(&file), "--case", case, "--type", doc_type];
        args.extend_from_slice(extra);
        let o = custos_at(&dir.join(by), &args);
        ok(&o);
    };
    let (t0, t10, t40) = (day(0), day(10), day(40));
    let procuratorate = dir.join("procuratorate");
    let rules_at = |case: &str, as_of: &str| -> Vec<(String, String)> {
        let v = supervise(&procuratorate, &["--case", case, "--as-of", as_of]);
        findings(&v)
            .iter()
            .map(|f| (f["rule"].as_str().unwrap().to_owned(), f["agency"].as_str().unwrap().to_owned()))
            .collect()
    };
    let expect = |got: &[(String, String)], rule: &str, agency: &str| {
        assert!(got.iter().any(|(r, a)| r == rule && a == agency), "no {rule} against {agency} in {got:?}");
    };

    // Assessment: commissioned today, never answered.
    let c1 = "(2026)黑0103刑初7101号";
    anchor("court", c1, "ASSESS_REQ", &["--to", "justice", "--copy", "procuratorate"]);
    assert!(rules_at(c1, &day(1)).is_empty(), "nothing is due yet");
    expect(&rules_at(c1, &day(30)), "S06", "justice");

    // Supervision: a probation case under supervision with a 41-day leave never returned from,
    // two warnings and no revocation proposal, an electronic tag never removed, and a period
    // ending in ten days with no release; the judgment was never acknowledged.
    let c2 = "(2026)黑0103刑初7102号";
    let decided = |anchor: &mut Anchor<'_>, case: &str, end: &str| {
        let judgment = [
            "--kind",
            "probation",
            "--to",
            "justice",
            "--copy",
            "procuratorate,police",
            "--effective",
            t0.as_str(),
            "--period-start",
            t0.as_str(),
            "--period-end",
            end,
        ];
        anchor("court", case, "JUDGMENT", &judgment);
        anchor("court", case, "EXEC_NOTICE", &["--to", "justice", "--copy", "procuratorate,police"]);
        anchor("justice", case, "INTAKE", &["--to", "court", "--copy", "procuratorate", "--received", &t0]);
        anchor("justice", case, "ANNOUNCE", &["--to", "procuratorate", "--copy", "police"]);
    };
    decided(&mut anchor, c2, &t10);
    anchor("justice", c2, "LEAVE_APPROVAL", &["--period-start", &t0, "--period-end", &t40]);
    anchor("justice", c2, "WARNING", &["--copy", "procuratorate"]);
    anchor("justice", c2, "WARNING", &["--copy", "procuratorate"]);
    anchor("justice", c2, "ETAG_APPROVAL", &["--copy", "procuratorate", "--effective", &t0]);
    let got = rules_at(c2, &day(45));
    for rule in ["S05", "S08", "S09", "S10", "S13"] {
        expect(&got, rule, "justice");
    }
    assert!(!got.iter().any(|(r, _)| r == "S14"), "the tag is within its three months: {got:?}");
    expect(&rules_at(c2, &day(100)), "S14", "justice");

    // Rulings and replies: a revocation proposal the court does not rule on, a correction
    // opinion it does not answer.
    let c3 = "(2026)黑0103刑初7103号";
    decided(&mut anchor, c3, &day(300));
    anchor("justice", c3, "REVOKE_PROPOSAL", &["--to", "court", "--copy", "procuratorate"]);
    anchor("procuratorate", c3, "CORRECTION_OPINION", &["--to", "court"]);
    let got = rules_at(c3, &day(8));
    expect(&got, "S18", "court");
    assert!(!got.iter().any(|(r, _)| r == "S11"), "thirty days are not over: {got:?}");
    expect(&rules_at(c3, &day(31)), "S11", "court");

    // Temporary outside (暂外): decided by the court without the procuratorate's opinion.
    let c4 = "(2026)黑0103刑初7104号";
    anchor(
        "court",
        c4,
        "TEMPOUT_DECISION",
        &["--kind", "temp_outside_court", "--to", "justice", "--copy", "procuratorate,police", "--effective", &t0],
    );
    expect(&rules_at(c4, &day(0)), "S15", "court");
}
