//! Tests of the real `custos` binary, run as a separate process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

mod demo;
mod network;
mod supervise;
mod visibility;

fn custos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custos")).args(args).env_remove("CUSTOS_HOME").output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "command failed: {}\n{}", stderr(o), stdout(o));
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn testnet_init_writes_five_agencies_for_both_suites() {
    for suite in ["sm", "intl"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("net");
        let o = custos(&["testnet", "init", "--dir", p(&dir), "--suite", suite, "--json"]);
        ok(&o);
        let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(summary["suite"], suite);
        let agencies = summary["agencies"].as_array().unwrap();
        let ids: Vec<&str> = agencies.iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["court", "procuratorate", "police", "prison", "justice"]);
        for a in agencies {
            assert!(a["node_id"].as_str().unwrap().len() == 64, "every agency runs a validator");
            let roles: Vec<&str> =
                a["identities"].as_array().unwrap().iter().map(|i| i["role"].as_str().unwrap()).collect();
            assert_eq!(roles, ["ca", "node", "clerk", "admin", "adapter"]);
            let home = dir.join(a["id"].as_str().unwrap());
            for key in [
                "ca/ca.key.pem",
                "node/node.key.pem",
                "clerk/clerk.key.pem",
                "admin/admin.key.pem",
                "adapter/adapter.key.pem",
            ] {
                assert_eq!(mode(&home.join(key)), 0o600, "{key} must be 0600");
            }
            // Every home is usable with --home.
            let w = custos(&["--home", p(&home), "whoami", "--json"]);
            ok(&w);
            let v: serde_json::Value = serde_json::from_str(&stdout(&w)).unwrap();
            assert_eq!(v["genesis_hash"], summary["genesis_hash"]);
        }
        // show re-checks the same folder and reports the same genesis.
        let s = custos(&["testnet", "show", "--dir", p(&dir), "--json"]);
        ok(&s);
        let again: serde_json::Value = serde_json::from_str(&stdout(&s)).unwrap();
        assert_eq!(again["genesis_hash"], summary["genesis_hash"]);
        // A second init into the same folder is refused, not overwritten.
        let o = custos(&["testnet", "init", "--dir", p(&dir)]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    }
}

#[test]
fn ca_issue_and_verify_with_clear_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("court-ca");
    let other_ca = tmp.path().join("police-ca");
    let out = tmp.path().join("members");
    ok(&custos(&["ca", "init", "--agency", "court", "--suite", "sm", "--out", p(&ca), "--not-before", "2026-01-01"]));
    ok(&custos(&[
        "ca",
        "init",
        "--agency",
        "police",
        "--suite",
        "sm",
        "--out",
        p(&other_ca),
        "--not-before",
        "2026-01-01",
    ]));
    assert_eq!(mode(&ca.join("ca.key.pem")), 0o600);
    let o = custos(&[
        "ca",
        "issue",
        "--ca",
        p(&ca),
        "--role",
        "auditor",
        "--name",
        "court-auditor-1",
        "--out",
        p(&out),
        "--not-before",
        "2026-01-01",
        "--days",
        "365",
    ]);
    ok(&o);
    let cert = out.join("court-auditor-1.crt.pem");
    let ca_cert = ca.join("ca.crt.pem");

    let o =
        custos(&["cert", "verify", p(&cert), "--ca", p(&ca_cert), "--role", "auditor", "--at", "2026-06-01", "--json"]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["agency"], "court");

    let fail = |args: &[&str], needle: &str| {
        let o = custos(args);
        assert_eq!(o.status.code(), Some(1), "expected a failed verification for {args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "stderr of {args:?} lacks {needle:?}: {}", stderr(&o));
    };
    fail(
        &["cert", "verify", p(&cert), "--ca", p(&ca_cert), "--role", "clerk", "--at", "2026-06-01"],
        "but clerk is required",
    );
    fail(&["cert", "verify", p(&cert), "--ca", p(&ca_cert), "--at", "2027-06-01"], "expired");
    fail(&["cert", "verify", p(&cert), "--ca", p(&ca_cert), "--at", "2025-06-01"], "not valid before");
    fail(&["cert", "verify", p(&cert), "--ca", p(&other_ca.join("ca.crt.pem")), "--at", "2026-06-01"], "not by the CA");
    fail(&["cert", "verify", p(&cert), "--ca", p(&ca_cert), "--suite", "intl", "--at", "2026-06-01"], "intl");

    // A corrupted certificate is a failed verification naming the problem.
    let pem = std::fs::read_to_string(&cert).unwrap();
    let bad = tmp.path().join("bad.pem");
    std::fs::write(&bad, pem.replacen("MII", "MIJ", 1)).unwrap();
    fail(&["cert", "verify", p(&bad), "--ca", p(&ca_cert), "--at", "2026-06-01"], "not a valid X.509 certificate");

    // Issuing into an existing file is refused.
    let o =
        custos(&["ca", "issue", "--ca", p(&ca), "--role", "auditor", "--name", "court-auditor-1", "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));

    // cert show reads the role and agency back.
    let o = custos(&["cert", "show", p(&cert), "--json"]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["role"], "auditor");
    assert_eq!(v["suite"], "sm");
}

#[test]
fn input_errors_name_cause_and_fix() {
    let o = custos(&["whoami"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--home"), "{}", stderr(&o));

    let o = custos(&["ca", "init", "--agency", "Court!", "--out", "/nonexistent-custos"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("agency id"), "{}", stderr(&o));

    let o = custos(&["cert", "verify", "/nonexistent.pem", "--ca", "/nonexistent-ca.pem"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent-ca.pem"), "{}", stderr(&o));

    let o = custos(&["testnet", "init", "--dir", "/tmp/x", "--suite", "rsa"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expected \"sm\" or \"intl\""), "{}", stderr(&o));

    let o = custos(&["--help"]);
    ok(&o);
    for cmd in ["ca", "cert", "testnet", "whoami"] {
        assert!(stdout(&o).contains(cmd), "--help lists {cmd}");
    }
}

/// `gov propose set-holidays --file`: the file is read and checked before anything else
/// (no home or node is needed to see these answers).
#[test]
fn set_holidays_reads_one_year_from_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("no-home");
    let propose = |extra: &[&str]| {
        let mut args = vec!["--home", p(&home), "gov", "propose", "set-holidays", "--node", "127.0.0.1:1"];
        args.extend_from_slice(extra);
        custos(&args)
    };
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/calendars/cn-2026.txt");

    // The shipped file parses; a wrong --year is refused, naming both years.
    let o = propose(&["--file", shipped, "--year", "2027"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("lists dates of 2026, not of --year 2027"), "{}", stderr(&o));
    // With the right year it gets past the file (and then fails on the missing home).
    let o = propose(&["--file", shipped, "--year", "2026"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("holiday file") && !stderr(&o).contains("lists"), "{}", stderr(&o));

    // Two years in one file: refused.
    let two = tmp.path().join("two.txt");
    std::fs::write(&two, "2026-10-01 holiday 国庆节\n2027-01-01 holiday 元旦\n").unwrap();
    let o = propose(&["--file", p(&two)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("lists dates of 2026, 2027: one year per file"), "{}", stderr(&o));

    // A mistake in the file names its line.
    let bad = tmp.path().join("bad.txt");
    std::fs::write(&bad, "# 2026\n2026-10-01 holiday\n2026-10-03 holiday\n").unwrap();
    let o = propose(&["--file", p(&bad)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 3: holiday 2026-10-03 is a Saturday"), "{}", stderr(&o));

    // --file excludes the lists; without --file, --year is required.
    let o = propose(&["--file", shipped, "--holidays", "2026-10-01"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    let o = propose(&["--holidays", "2026-10-01"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--year"), "{}", stderr(&o));
}
