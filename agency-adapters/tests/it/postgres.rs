//! The PostgreSQL adapter end to end: the court's system queues 1,000 letters (plus three
//! malformed rows) in its outbox; its adapter is killed (`kill -9`) three times and its node is
//! down for a minute during the run. At the end exactly 1,000 anchors exist, one per row, every
//! row is done or failed with its reason, and the justice bureau's adapter has delivered every
//! letter (fetched, decrypted, acknowledged) into its inbox.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use custos_adapters::client::NodeClient;
use custos_contracts::call::{Call, SignedTx};
use custos_primitives::types::MemberRole;
use custos_testnet::home::Profile;
use custos_testnet::net;

use super::pg::Postgres;
use super::{adapter, node_bin, rt, spawn_adapter, start_net};

const ROWS: usize = 1000;

fn rows() -> usize {
    std::env::var("CUSTOS_ADAPTER_TEST_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(ROWS)
}

fn write_config(path: &Path, home: &Path, state: &Path, url: &str, extra: &str) {
    let text = format!(
        "home = {home:?}\nstate_dir = {state:?}\n{extra}\n[postgres]\nurl = {url:?}\n",
        home = home.display().to_string(),
        state = state.display().to_string(),
    );
    std::fs::write(path, text).unwrap();
}

fn count(pg: &Postgres, db: &str, sql: &str) -> usize {
    pg.sql(db, sql).parse().unwrap()
}

#[test]
fn outbox_of_1000_rows_survives_three_kills_and_a_node_outage() {
    let n = rows();
    let pg = Postgres::start();
    pg.create_db("court");
    pg.create_db("justice");
    let mut network = start_net(31000);
    let tmp = tempfile::tempdir().unwrap();
    let court_cfg = tmp.path().join("court.toml");
    let justice_cfg = tmp.path().join("justice.toml");
    write_config(
        &court_cfg,
        &network.dir.join("court"),
        &tmp.path().join("court-state"),
        &pg.url("court"),
        "[outbound]\nwindow = 32\npoll_ms = 200\nretry_max_ms = 5000\n[inbound]\nfetch_documents = false\npoll_ms = 500\nfindings_every_s = 2\n",
    );
    write_config(
        &justice_cfg,
        &network.dir.join("justice"),
        &tmp.path().join("justice-state"),
        &pg.url("justice"),
        "[inbound]\npoll_ms = 500\nfindings_every_s = 0\n",
    );

    // The schema ships with the adapter; migrating twice is a no-op.
    for cfg in [&court_cfg, &justice_cfg, &court_cfg] {
        let o = adapter(&["migrate", "--config", cfg.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(pg.sql("court", "SELECT max(version) FROM custos_schema"), "1");

    // The court's system queues n letters and three malformed rows among them.
    let third = n / 3;
    let letters = |from: usize, to: usize| {
        pg.sql(
            "court",
            &format!(
                "INSERT INTO custos_outbox (source_id, version, doc_type, case_number, recipients, document, \
                 file_name) SELECT 'letter-' || g, 1, 'LETTER', '（2026）测刑初' || g || '号', '{{justice}}', \
                 convert_to('Letter number ' || g || ' from the court', 'UTF8'), 'letter.txt' \
                 FROM generate_series({from}, {to}) g"
            ),
        )
    };
    letters(1, third);
    pg.sql(
        "court",
        "INSERT INTO custos_outbox (source_id, doc_type, case_number, recipients, document) \
         VALUES ('bad-type', 'MEMO', 'c-bad-1', '{justice}', 'x')",
    );
    letters(third + 1, n);
    pg.sql(
        "court",
        "INSERT INTO custos_outbox (source_id, doc_type, case_number, recipients, document_path) \
         VALUES ('missing-file', 'LETTER', 'c-bad-2', '{justice}', '/nonexistent/letter.pdf')",
    );
    pg.sql(
        "court",
        "INSERT INTO custos_outbox (source_id, doc_type, case_number, recipients, document) \
         VALUES ('bad-recipient', 'LETTER', 'c-bad-3', '{nosuchagency}', 'x')",
    );
    // A judgment that took effect 20 days ago, sent only now and not copied to the police: the
    // supervision rules find against the court, and the court's inbox gets the findings.
    pg.sql(
        "court",
        "INSERT INTO custos_outbox (source_id, doc_type, case_number, recipients, copies, document, file_name, \
         subject_kind, effective_date, period_start, period_end) \
         VALUES ('judgment-late', 'JUDGMENT', '（2026）测刑初9999号', '{justice}', '{procuratorate}', \
         convert_to('判决书', 'UTF8'), 'judgment.txt', 'probation', current_date - 20, current_date - 20, \
         current_date + 345)",
    );
    let total = n + 4;

    let court_log = tmp.path().join("court-adapter.log");
    let mut court = spawn_adapter(&court_cfg, &court_log);
    let mut justice = spawn_adapter(&justice_cfg, &tmp.path().join("justice-adapter.log"));

    // Kill the court's adapter three times, at different points of the run, then take its
    // node down for a minute.
    let kill_at = [n / 10, n * 35 / 100, n * 6 / 10];
    let mut kills = 0;
    let mut last_spawn = Instant::now();
    let mut outage_done = false;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(14 * 60);
    loop {
        let done = count(&pg, "court", "SELECT count(*) FROM custos_outbox WHERE status = 'done'");
        let closed = count(&pg, "court", "SELECT count(*) FROM custos_outbox WHERE status IN ('done', 'failed')");
        // Each kill hits an adapter that has run for a second at least.
        if kills < kill_at.len() && done >= kill_at[kills] && last_spawn.elapsed() >= Duration::from_secs(1) {
            court.kill();
            kills += 1;
            eprintln!("kill -9 #{kills} of the court's adapter at {done} done ({:?})", started.elapsed());
            court = spawn_adapter(&court_cfg, &court_log);
            last_spawn = Instant::now();
        } else if kills == kill_at.len() && !outage_done && done >= n * 3 / 4 {
            let i = network.nodes.iter().position(|p| p.agency == "court").unwrap();
            net::crash(&mut network.nodes[i]);
            eprintln!("court's node down at {done} done ({:?})", started.elapsed());
            std::thread::sleep(Duration::from_secs(20));
            let during = count(&pg, "court", "SELECT count(*) FROM custos_outbox WHERE status = 'done'");
            std::thread::sleep(Duration::from_secs(40));
            assert_eq!(
                count(&pg, "court", "SELECT count(*) FROM custos_outbox WHERE status = 'done'"),
                during,
                "nothing can be anchored while the court's node is down"
            );
            network.nodes[i] = net::start_node(&network.dir, "court", &node_bin()).unwrap();
            eprintln!("court's node back ({:?})", started.elapsed());
            outage_done = true;
        }
        if closed == total && outage_done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {closed} of {total} rows closed after {:?}; log: {}",
            started.elapsed(),
            std::fs::read_to_string(&court_log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("all {total} rows closed after {:?}", started.elapsed());
    assert_eq!(kills, 3);

    // Every good row is done, with its own transaction; the malformed ones failed, each with
    // its reason.
    assert_eq!(count(&pg, "court", "SELECT count(*) FROM custos_outbox WHERE status = 'done'"), n + 1);
    assert_eq!(count(&pg, "court", "SELECT count(DISTINCT tx_id) FROM custos_outbox WHERE status = 'done'"), n + 1);
    assert_eq!(count(&pg, "court", "SELECT count(DISTINCT doc_hash) FROM custos_outbox WHERE status = 'done'"), n + 1);
    assert_eq!(count(&pg, "court", "SELECT count(*) FROM custos_outbox WHERE status = 'done' AND height IS NULL"), 0);
    for (id, why) in [
        ("bad-type", "unknown document type"),
        ("missing-file", "does not exist"),
        ("bad-recipient", "not in the ledger's registry"),
    ] {
        let row =
            pg.sql("court", &format!("SELECT status || ': ' || error FROM custos_outbox WHERE source_id = '{id}'"));
        assert!(row.starts_with("failed: ") && row.contains(why), "{id}: {row}");
    }

    // The ledger holds exactly one anchor per row: count every successful anchor the court's
    // adapter signed, block by block.
    let court_home = network.dir.join("court");
    let adapter_fp = {
        let p = Profile::load(&court_home).unwrap();
        let suite = p.suite().unwrap();
        p.identity(&court_home, MemberRole::Adapter).unwrap().cert.fingerprint(&suite)
    };
    let db_hashes: BTreeSet<String> = pg
        .sql("court", "SELECT encode(doc_hash, 'hex') FROM custos_outbox WHERE status = 'done'")
        .lines()
        .map(str::to_string)
        .collect();
    let chain_hashes: Vec<String> = rt().block_on(async {
        let node = NodeClient::connect(&court_home, None).await.unwrap();
        let tip = node.height().await.unwrap();
        let mut out = Vec::new();
        for h in 1..=tip {
            let block = node.block(h).await.unwrap().unwrap();
            for (bytes, id) in block.txs.iter().zip(block.tx_ids(node.suite())) {
                let tx = SignedTx::decode_untrusted(bytes).unwrap();
                if let Call::Anchor(a) = &tx.call
                    && tx.signer == adapter_fp
                    && node.tx(&id).await.unwrap().unwrap().ok
                {
                    out.push(a.doc_hash.to_string());
                }
            }
        }
        out
    });
    assert_eq!(chain_hashes.len(), n + 1, "exactly one anchor per row");
    assert_eq!(chain_hashes.into_iter().collect::<BTreeSet<_>>(), db_hashes);

    // The justice bureau's inbox gets every letter, decrypted, once; the court's inbox every
    // receipt.
    let deadline = Instant::now() + Duration::from_secs(5 * 60);
    loop {
        let docs = count(&pg, "justice", "SELECT count(*) FROM custos_inbox WHERE kind = 'document'");
        let receipts = count(&pg, "court", "SELECT count(*) FROM custos_inbox WHERE kind = 'receipt'");
        let findings = count(&pg, "court", "SELECT count(*) FROM custos_inbox WHERE kind = 'finding'");
        if docs == n + 1 && receipts == n + 1 && findings > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "justice inbox {docs}/{} documents, court inbox {receipts}/{} receipts, {findings} findings",
            n + 1,
            n + 1
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        pg.sql(
            "justice",
            "SELECT count(*) FROM custos_inbox WHERE kind = 'document' AND from_agency = 'court' \
             AND convert_from(document, 'UTF8') LIKE 'Letter number % from the court'"
        ),
        n.to_string()
    );
    let sample =
        pg.sql("justice", "SELECT document_path FROM custos_inbox WHERE kind = 'document' ORDER BY id LIMIT 1");
    assert!(std::fs::read_to_string(&sample).unwrap().starts_with("Letter number "));
    assert_eq!(
        count(&pg, "court", "SELECT count(*) FROM custos_inbox WHERE kind = 'receipt' AND from_agency = 'justice'"),
        n + 1
    );
    // The findings name the rule and the case, whose number the court's inbox knows back from its
    // keyed reference (the outbox used it); a second poll adds none.
    let f = pg.sql(
        "court",
        "SELECT string_agg(DISTINCT detail->>'rule', ',') || ' ' || min(case_number) FROM custos_inbox WHERE kind = 'finding'",
    );
    assert!(f.contains("S02") && f.ends_with("（2026）测刑初9999号"), "{f}");
    let before = count(&pg, "court", "SELECT count(*) FROM custos_inbox WHERE kind = 'finding'");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&pg, "court", "SELECT count(*) FROM custos_inbox WHERE kind = 'finding'"), before);

    court.kill();
    justice.kill();

    // Reconciliation: every done row is anchored as recorded; the three failed rows are
    // reported as not anchored (exit 3: the two sides do not agree).
    let today = pg.sql("court", "SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')");
    let reconcile = |json: bool| {
        let mut args = vec!["reconcile", "--config", court_cfg.to_str().unwrap(), "--since", today.as_str()];
        if json {
            args.push("--json");
        }
        adapter(&args)
    };
    let o = reconcile(true);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["records"], total);
    assert_eq!(r["anchored"], n + 1);
    assert_eq!(r["not_anchored"].as_array().unwrap().len(), 3, "{r}");
    assert!(r["not_anchored"].as_array().unwrap().iter().all(|x| x["status"] == "failed"));
    assert_eq!(r["unexplained"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["mismatched"].as_array().unwrap().len(), 0, "{r}");

    // A document changed after it was sent, and a row deleted after its anchor: both show.
    pg.sql("court", "UPDATE custos_outbox SET document = convert_to('tampered', 'UTF8') WHERE source_id = 'letter-1'");
    pg.sql("court", "DELETE FROM custos_outbox WHERE source_id = 'letter-2'");
    let o = reconcile(true);
    assert_eq!(o.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["anchored"], n, "letter-1 is still anchored as recorded, letter-2 gone: {r}");
    let mism = r["mismatched"].as_array().unwrap();
    assert_eq!(mism.len(), 1, "{r}");
    assert!(mism[0]["key"].as_str().unwrap().starts_with("letter-1@"), "{r}");
    assert!(mism[0]["reason"].as_str().unwrap().contains("now hashes to"), "{r}");
    assert_eq!(r["unexplained"].as_array().unwrap().len(), 1, "{r}");
    let text = reconcile(false);
    assert!(String::from_utf8_lossy(&text.stdout).contains("anchors no record explains: 1"));
}
