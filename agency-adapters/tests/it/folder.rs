//! The watched-folder adapter end to end: jobs dropped into the court's outbox folder are sent
//! (a document still being written waits until it is complete), malformed ones land in
//! `failed/` with their reason, and the justice bureau's inbox folder receives the documents.
//! The court's node holds at most two pending transactions, so the adapter meets `busy` answers
//! and must slow down (back-pressure) without losing a job.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{adapter, free_port, http_get, spawn_adapter, start_net_with};

fn config(path: &Path, home: &Path, state: &Path, root: &Path, metrics: &str) {
    let text = format!(
        "home = {:?}\nstate_dir = {:?}\nmetrics_listen = {metrics:?}\n[outbound]\npoll_ms = 200\n[inbound]\npoll_ms = 300\nfindings_every_s = 0\n\
         [folder]\nroot = {:?}\nsettle_ms = 500\n",
        home.display().to_string(),
        state.display().to_string(),
        root.display().to_string()
    );
    std::fs::write(path, text).unwrap();
}

fn metadata(source_id: &str, doc_type: &str, document: &str, size: Option<usize>) -> String {
    let size = size.map(|s| format!(",\"size\":{s}")).unwrap_or_default();
    format!(
        "{{\"source_id\":\"{source_id}\",\"doc_type\":\"{doc_type}\",\"case_number\":\"（2026）测刑初{source_id}号\",\
         \"recipients\":[\"justice\"],\"document\":\"{document}\"{size}}}"
    )
}

fn wait_for(what: &str, secs: u64, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn events(dir: &Path, kind: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        if v["kind"] == kind {
            out.push(v);
        }
    }
    out
}

#[test]
fn folder_jobs_are_sent_once_complete_and_arrive_in_the_inbox_folder() {
    // A tiny pool on the court's node: the adapter's window (32) meets `busy` at once.
    let net = start_net_with(32000, |agency, toml| {
        if agency == "court" { format!("{toml}\n[mempool]\nmax_txs = 2\nmax_bytes = 1048576\n") } else { toml }
    });
    let court_metrics = format!("127.0.0.1:{}", free_port());
    let tmp = tempfile::tempdir().unwrap();
    let (court_root, justice_root) = (tmp.path().join("court-x"), tmp.path().join("justice-x"));
    let (court_cfg, justice_cfg) = (tmp.path().join("court.toml"), tmp.path().join("justice.toml"));
    config(&court_cfg, &net.dir.join("court"), &tmp.path().join("court-state"), &court_root, &court_metrics);
    let justice_metrics = format!("127.0.0.1:{}", free_port());
    config(&justice_cfg, &net.dir.join("justice"), &tmp.path().join("justice-state"), &justice_root, &justice_metrics);
    let mut court = spawn_adapter(&court_cfg, &tmp.path().join("court.log"));
    let mut justice = spawn_adapter(&justice_cfg, &tmp.path().join("justice.log"));
    let outbox = court_root.join("outbox");
    wait_for("the outbox folder", 30, || outbox.is_dir());

    // A complete job; a document still being written; a job of an unknown type; metadata
    // that is not JSON.
    std::fs::write(outbox.join("a.txt"), "Letter A from the court").unwrap();
    std::fs::write(outbox.join("a.json"), metadata("a", "LETTER", "a.txt", None)).unwrap();
    let part_b = "Letter B, ".repeat(100);
    let mut b = std::fs::File::create(outbox.join("b.txt")).unwrap();
    b.write_all(&part_b.as_bytes()[..400]).unwrap();
    b.flush().unwrap();
    std::fs::write(outbox.join("b.json"), metadata("b", "LETTER", "b.txt", Some(part_b.len()))).unwrap();
    std::fs::write(outbox.join("c.txt"), "memo").unwrap();
    std::fs::write(outbox.join("c.json"), metadata("c", "MEMO", "c.txt", None)).unwrap();
    std::fs::write(outbox.join("d.json"), "{ this is not json").unwrap();
    // Eight more letters at once, to fill the court's two-transaction pool.
    for i in 0..8 {
        std::fs::write(outbox.join(format!("e{i}.txt")), format!("Letter E{i}")).unwrap();
        std::fs::write(
            outbox.join(format!("e{i}.json")),
            metadata(&format!("e{i}"), "LETTER", &format!("e{i}.txt"), None),
        )
        .unwrap();
    }

    let done = court_root.join("done");
    let failed = court_root.join("failed");
    wait_for("job a", 60, || done.join("a.result.json").exists());
    wait_for("jobs c and d to fail", 60, || {
        failed.join("c.reason.txt").exists() && failed.join("d.reason.txt").exists()
    });
    assert!(std::fs::read_to_string(failed.join("c.reason.txt")).unwrap().contains("unknown document type"));
    assert!(std::fs::read_to_string(failed.join("d.reason.txt")).unwrap().contains("metadata"));
    assert!(failed.join("c.json").exists() && failed.join("c.txt").exists() && failed.join("d.json").exists());
    // b is incomplete (400 of the 1,000 bytes its metadata announces): it stays.
    std::thread::sleep(Duration::from_secs(2));
    assert!(outbox.join("b.json").exists() && !done.join("b.result.json").exists(), "a partial file was picked up");
    b.write_all(&part_b.as_bytes()[400..]).unwrap();
    drop(b);
    wait_for("job b", 60, || done.join("b.result.json").exists());
    assert!(done.join("a.txt").exists() && done.join("a.json").exists() && !outbox.join("a.json").exists());
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(done.join("b.result.json")).unwrap()).unwrap();
    assert!(result["height"].as_u64().unwrap() > 0 && result["tx_id"].as_str().unwrap().len() == 64);

    wait_for("the eight letters", 120, || (0..8).all(|i| done.join(format!("e{i}.result.json")).exists()));
    // The node answered busy and the adapter waited: the metrics say so. (A counter moves just
    // after the job's files do: wait for it.)
    wait_for("the anchored counter", 10, || {
        http_get(&court_metrics, "/metrics").contains("custos_adapter_records_anchored_total 10")
    });
    let m = http_get(&court_metrics, "/metrics");
    let busy: f64 = m
        .lines()
        .find(|l| l.starts_with("custos_adapter_node_busy_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no busy counter in\n{m}"));
    assert!(busy > 0.0, "the court's node never answered busy:\n{m}");
    assert!(m.contains("custos_adapter_records_anchored_total 10"), "{m}");
    assert!(m.contains("custos_adapter_records_failed_total 2"), "{m}");

    // The justice bureau's inbox folder gets every document, decrypted; the court's inbox the
    // receipts.
    let inbox = justice_root.join("inbox");
    wait_for("the justice inbox", 120, || events(&inbox, "document").len() == 10);
    let mut texts: Vec<String> = events(&inbox, "document")
        .iter()
        .map(|e| std::fs::read_to_string(e["document"].as_str().unwrap()).unwrap())
        .collect();
    texts.sort();
    let mut want: Vec<String> = (0..8).map(|i| format!("Letter E{i}")).collect();
    want.push("Letter A from the court".to_string());
    want.push(part_b.clone());
    want.sort();
    assert_eq!(texts, want);
    wait_for("the court's receipts", 120, || events(&court_root.join("inbox"), "receipt").len() == 10);
    assert!(http_get(&justice_metrics, "/metrics").contains("custos_adapter_inbox_events_total"));

    // Reconciliation over the folder: ten anchored, two failed (exit 3: they disagree).
    let today = time_today();
    let o = adapter(&["reconcile", "--config", court_cfg.to_str().unwrap(), "--since", &today, "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["anchored"], 10, "{r}");
    assert_eq!(r["not_anchored"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r["unexplained"].as_array().unwrap().len(), 0, "{r}");

    court.kill();
    justice.kill();
}

/// Today in China Standard Time, `YYYY-MM-DD`.
fn time_today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + 8 * 3600;
    custos_contracts::call::Date((secs / 86_400) as i32).to_string()
}
