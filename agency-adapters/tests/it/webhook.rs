//! The HTTP webhook adapter end to end: the court's system POSTs a signed record and gets the
//! transaction id back; a re-POST is idempotent; unsigned and malformed records are refused; the
//! justice bureau's system receives the document as a signed event, and the court's the receipt.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use custos_adapters::webhook::{EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use custos_primitives::crypto::{AnySuite, SuiteId};

use super::{adapter, free_port, rt, spawn_adapter, start_net};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

type Received = Arc<Mutex<Vec<(String, String, String, serde_json::Value)>>>;

/// A receiver of events on a free port: keeps (path, event id, signature check, body).
fn receiver(runtime: &tokio::runtime::Runtime) -> (String, Received) {
    let got: Received = Arc::default();
    let port = free_port();
    let g = got.clone();
    runtime.spawn(async move {
        let app = axum::Router::new().route(
            "/{who}",
            axum::routing::post(
                move |axum::extract::Path(who): axum::extract::Path<String>,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| {
                    let g = g.clone();
                    async move {
                        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                        let suite = AnySuite::with_defaults(SuiteId::Sm);
                        let ok = sign(&suite, SECRET.as_bytes(), &h(TIMESTAMP_HEADER), &body) == h(SIGNATURE_HEADER);
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                        g.lock().unwrap().push((who, h(EVENT_ID_HEADER), if ok { "ok" } else { "bad" }.into(), v));
                        axum::http::StatusCode::OK
                    }
                },
            ),
        );
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        axum::serve(l, app).await.unwrap();
    });
    (format!("http://127.0.0.1:{port}"), got)
}

fn config(path: &Path, home: &Path, state: &Path, listen: &str, events: &str, secret: &Path) {
    let text = format!(
        "home = {:?}\nstate_dir = {:?}\n[outbound]\npoll_ms = 200\n[inbound]\npoll_ms = 300\nfindings_every_s = 0\n\
         [webhook]\nlisten = {listen:?}\nevent_url = {events:?}\nsecret_file = {:?}\nwait_ms = 30000\n",
        home.display().to_string(),
        state.display().to_string(),
        secret.display().to_string()
    );
    std::fs::write(path, text).unwrap();
}

/// POSTs `body` (signed unless `signed` is false); returns (status, JSON body).
fn post(addr: &str, body: &str, signed: bool) -> (u16, serde_json::Value) {
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let sig = sign(&AnySuite::with_defaults(SuiteId::Sm), SECRET.as_bytes(), &ts, body.as_bytes());
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth =
        if signed { format!("{TIMESTAMP_HEADER}: {ts}\r\n{SIGNATURE_HEADER}: {sig}\r\n") } else { String::new() };
    write!(
        s,
        "POST /v1/records HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status: u16 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let json = out.split("\r\n\r\n").nth(1).and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
    (status, json)
}

fn record(source_id: &str, doc_type: &str, text: &str) -> String {
    serde_json::json!({
        "source_id": source_id,
        "doc_type": doc_type,
        "case_number": "（2026）测刑初77号",
        "recipients": ["justice"],
        "file_name": "letter.txt",
        "document_base64": base64::engine::general_purpose::STANDARD.encode(text),
    })
    .to_string()
}

#[test]
fn webhook_records_get_their_transaction_and_events_arrive_signed() {
    let net = start_net(22000);
    let runtime = rt();
    let (events, got) = receiver(&runtime);
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let (court_listen, justice_listen) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let court_cfg = tmp.path().join("court.toml");
    config(
        &court_cfg,
        &net.dir.join("court"),
        &tmp.path().join("cs"),
        &court_listen,
        &format!("{events}/court"),
        &secret,
    );
    let justice_cfg = tmp.path().join("justice.toml");
    config(
        &justice_cfg,
        &net.dir.join("justice"),
        &tmp.path().join("js"),
        &justice_listen,
        &format!("{events}/justice"),
        &secret,
    );
    let _court = spawn_adapter(&court_cfg, &tmp.path().join("court.log"));
    let _justice = spawn_adapter(&justice_cfg, &tmp.path().join("justice.log"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(&court_listen).is_err() {
        assert!(Instant::now() < deadline, "the court's webhook did not start");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Signed, valid: anchored, and the answer carries the transaction.
    let body = record("WS-1", "LETTER", "Letter by webhook");
    let (status, v) = post(&court_listen, &body, true);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "done");
    let tx = v["tx_id"].as_str().unwrap().to_string();
    assert_eq!(tx.len(), 64);
    assert!(v["height"].as_u64().unwrap() > 0);
    // The same record again: the same transaction, nothing new anchored.
    let (status, again) = post(&court_listen, &body, true);
    assert_eq!((status, again["tx_id"].as_str()), (200, Some(tx.as_str())));
    // The same key with other content, no signature, an unknown type: refused.
    assert_eq!(post(&court_listen, &record("WS-1", "LETTER", "other"), true).0, 409);
    assert_eq!(post(&court_listen, &record("WS-2", "LETTER", "x"), false).0, 401);
    let (status, v) = post(&court_listen, &record("WS-3", "MEMO", "x"), true);
    assert_eq!(status, 422, "{v}");
    assert!(v["error"].as_str().unwrap().contains("unknown document type"), "{v}");

    // The justice bureau's system gets the document (decrypted, base64) as a signed event; the
    // court's system gets the receipt.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        {
            let g = got.lock().unwrap();
            let doc = g.iter().find(|e| e.0 == "justice" && e.3["kind"] == "document");
            let receipt = g.iter().find(|e| e.0 == "court" && e.3["kind"] == "receipt");
            if let (Some(d), Some(r)) = (doc, receipt) {
                assert_eq!(d.2, "ok", "the event's signature must verify");
                assert!(d.1.starts_with("document/"), "{}", d.1);
                let text =
                    base64::engine::general_purpose::STANDARD.decode(d.3["document_base64"].as_str().unwrap()).unwrap();
                assert_eq!(text, b"Letter by webhook");
                assert_eq!(d.3["tx_id"].as_str(), Some(tx.as_str()));
                assert_eq!(r.2, "ok");
                assert_eq!(r.3["from"], "justice");
                break;
            }
        }
        assert!(Instant::now() < deadline, "events so far: {:?}", got.lock().unwrap());
        std::thread::sleep(Duration::from_millis(300));
    }

    // Reconciliation over the spool: the one record is anchored as recorded.
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + 8 * 3600;
    let today = custos_contracts::call::Date((secs / 86_400) as i32).to_string();
    let o = adapter(&["reconcile", "--config", court_cfg.to_str().unwrap(), "--since", &today, "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert_eq!(o.status.code(), Some(0), "{r} {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(r["anchored"], 1, "{r}");
}
