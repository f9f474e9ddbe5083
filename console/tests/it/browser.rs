//! Issue 11's scenario in a real browser: the demo's late-delivery case on five nodes; the
//! procuratorate signs in, opens the case, sees the findings with their evidence, downloads the
//! bundle (verified with `custos verify --bundle`), filters and exports the findings, sends an
//! e-dossier; the prison signs in and is refused the case. A screenshot of every page is saved.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use custos_contracts::call::Date;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::support::{Net, custos_at, https_cert, ok, start_chromedriver, start_console, start_network};

/// The demo's second case (scripts/demo.sh): the probation judgment took effect 20 days ago but
/// is anchored only now, copied to the procuratorate and not to the police.
const CASE: &str = "(2026)黑0103刑初18号";
const BASE_PORT: u16 = 25100;
const PROCURATORATE_CONSOLE: u16 = 25450;
const PRISON_CONSOLE: u16 = 25451;
const DRIVER: u16 = 25460;

fn today_cst() -> Date {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    Date::from_unix_seconds_cst(now)
}

/// The demo's late delivery: judgment and execution notice of case 18.
fn late_delivery(net: &Net) -> (String, String, String) {
    let court = net.dir.join("court");
    let docs = net.dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let effective = today_cst().plus_days(-20).to_string();
    let end = today_cst().plus_days(345).to_string();
    let judgment = docs.join("judgment-2.txt");
    std::fs::write(&judgment, format!("刑事判决书：宣告缓刑\n案号 {CASE}\n(browser test)\n")).unwrap();
    let j = custos_at(
        &court,
        &[
            "anchor",
            judgment.to_str().unwrap(),
            "--case",
            CASE,
            "--type",
            "JUDGMENT",
            "--kind",
            "probation",
            "--to",
            "justice",
            "--copy",
            "procuratorate",
            "--effective",
            &effective,
            "--period-start",
            &effective,
            "--period-end",
            &end,
            "--json",
        ],
    );
    let j: serde_json::Value = serde_json::from_str(&ok(&j)).unwrap();
    let notice = docs.join("exec-notice-2.txt");
    std::fs::write(&notice, format!("执行通知书\n案号 {CASE}\n")).unwrap();
    let n = custos_at(
        &court,
        &[
            "anchor",
            notice.to_str().unwrap(),
            "--case",
            CASE,
            "--type",
            "EXEC_NOTICE",
            "--to",
            "justice",
            "--copy",
            "procuratorate",
            "--json",
        ],
    );
    let n: serde_json::Value = serde_json::from_str(&ok(&n)).unwrap();
    (
        j["doc_hash"].as_str().unwrap().to_string(),
        j["tx_id"].as_str().unwrap().to_string(),
        n["doc_hash"].as_str().unwrap().to_string(),
    )
}

async fn browser(downloads: &Path) -> Client {
    let caps = json!({
        "acceptInsecureCerts": true,
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1400,1000", "--lang=zh-CN",
            ],
            "prefs": {
                "download.default_directory": downloads.to_str().unwrap(),
                "download.prompt_for_download": false,
                "safebrowsing.enabled": false,
            }
        }
    });
    let serde_json::Value::Object(caps) = caps else { unreachable!() };
    let mut b = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    b.capabilities(caps);
    b.connect(&format!("http://127.0.0.1:{DRIVER}")).await.expect("a WebDriver session with headless Chromium")
}

struct Shots {
    dir: PathBuf,
    n: u32,
}

impl Shots {
    async fn take(&mut self, c: &Client, name: &str) {
        self.n += 1;
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "the screenshot of {name} is not a PNG");
        let path = self.dir.join(format!("{:02}-{name}.png", self.n));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot {}", path.display());
    }
}

async fn text(c: &Client, css: &str) -> String {
    match c.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => {
            let url = c.current_url().await.map(|u| u.to_string());
            let page = c.source().await.unwrap_or_default();
            panic!("no {css} on {url:?}: {e}\n{page}")
        }
    }
}

fn sign_in_link(home: &Path, port: u16) -> String {
    ok(&custos_at(home, &["console", "sign-in", "--url", &format!("https://127.0.0.1:{port}")])).trim().to_string()
}

/// Waits for a completed download in `dir` whose name starts with `prefix`.
fn downloaded(dir: &Path, prefix: &str) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(p) = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(prefix) && !n.ends_with(".crdownload")
        }) {
            return p;
        }
        assert!(Instant::now() < deadline, "no download {prefix}* in {} after 30 s", dir.display());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn audit(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn procuratorate_sees_the_late_delivery_case_and_the_prison_is_refused() {
    let net = start_network(BASE_PORT);
    let (judgment, judgment_tx, notice) = late_delivery(&net);
    let (cert, key) = https_cert(&net.dir);
    let _proc_console = start_console(&net, "procuratorate", PROCURATORATE_CONSOLE, &cert, &key, &[]);
    let _prison_console = start_console(&net, "prison", PRISON_CONSOLE, &cert, &key, &["--recheck", "1s"]);
    let _driver = start_chromedriver(DRIVER, &net.dir.join("chromedriver.log"));
    let shots_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&shots_dir);
    std::fs::create_dir_all(&shots_dir).unwrap();
    eprintln!("screenshots in {}", shots_dir.display());
    let mut shots = Shots { dir: shots_dir, n: 0 };
    let downloads = net.dir.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let c = browser(&downloads).await;
    let base = format!("https://127.0.0.1:{PROCURATORATE_CONSOLE}");

    // Not signed in: the sign-in page, which names the command.
    c.goto(&format!("{base}/case")).await.unwrap();
    assert!(text(&c, "#sign-in-command").await.contains("console sign-in --url"));
    shots.take(&c, "sign-in").await;

    // The procuratorate's clerk signs in with a link from the CLI.
    let link = sign_in_link(&net.dir.join("procuratorate"), PROCURATORATE_CONSOLE);
    c.goto(&link).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/status");
    assert!(text(&c, "#who").await.contains("procuratorate-clerk"));
    let height: u64 = text(&c, "#height").await.parse().unwrap();
    assert!(height >= 2);
    assert_eq!(c.find_all(Locator::Css("#validators tr")).await.unwrap().len(), 6, "a header and five validators");
    assert_eq!(text(&c, "h1").await, "网络状态");
    shots.take(&c, "status-zh").await;
    // The same link again is refused: tokens are single-use.
    c.goto(&link).await.unwrap();
    assert!(text(&c, "#error").await.contains("already used"));
    // A link made for another console (the audience) is refused here, and so is a member of
    // another agency.
    let other = sign_in_link(&net.dir.join("procuratorate"), PRISON_CONSOLE)
        .replace(&format!(":{PRISON_CONSOLE}/"), &format!(":{PROCURATORATE_CONSOLE}/"));
    c.goto(&other).await.unwrap();
    assert!(text(&c, "#error").await.contains("not this console"));
    c.goto(&sign_in_link(&net.dir.join("prison"), PROCURATORATE_CONSOLE)).await.unwrap();
    assert!(text(&c, "#error").await.contains("belongs to prison"));
    shots.take(&c, "sign-in-refused").await;
    // English, then back.
    c.goto(&format!("{base}/status")).await.unwrap();
    c.find(Locator::Css("#lang-switch")).await.unwrap().click().await.unwrap();
    assert_eq!(text(&c, "h1").await, "Network status");
    shots.take(&c, "status-en").await;
    c.find(Locator::Css("#lang-switch")).await.unwrap().click().await.unwrap();
    assert_eq!(text(&c, "h1").await, "网络状态");

    // The case: its timeline and the findings with their evidence.
    c.goto(&format!("{base}/case")).await.unwrap();
    c.find(Locator::Css("#case-input")).await.unwrap().send_keys(CASE).await.unwrap();
    c.find(Locator::Css("#case-open")).await.unwrap().click().await.unwrap();
    assert_eq!(text(&c, "#case-state").await, "decided");
    let timeline = text(&c, "#timeline").await;
    assert!(timeline.contains("JUDGMENT") && timeline.contains("EXEC_NOTICE"), "{timeline}");
    assert_eq!(c.find_all(Locator::Css("#timeline tr")).await.unwrap().len(), 3);
    let tx_cell = c.find(Locator::Css(&format!("#timeline td[title='{judgment_tx}']"))).await.unwrap();
    assert!(judgment_tx.starts_with(tx_cell.text().await.unwrap().trim_end_matches('…')));
    let findings = c.find_all(Locator::Css("#findings tr.finding")).await.unwrap();
    let mut rules = Vec::new();
    for f in &findings {
        rules.push(f.attr("data-rule").await.unwrap().unwrap());
    }
    for r in ["S01", "S02", "S03"] {
        assert!(rules.iter().any(|x| x == r), "finding {r} missing from {rules:?}");
    }
    let late = text(&c, "#findings tr.finding[data-rule='S02']").await;
    assert!(late.contains("court") && late.contains("10"), "S02 finding: {late}");
    shots.take(&c, "case").await;

    // The document and its evidence bundle, downloaded by the browser and verified offline.
    c.find(Locator::Css(&format!("#timeline a[href='/doc/{judgment}']"))).await.unwrap().click().await.unwrap();
    assert!(text(&c, "#document").await.contains(&judgment));
    assert!(text(&c, "#copies").await.contains("procuratorate"));
    let history = text(&c, "#history").await;
    assert!(history.contains(&judgment_tx) && history.contains("court"), "{history}");
    assert!(text(&c, "#not-received").await.contains("justice"));
    shots.take(&c, "document").await;
    c.find(Locator::Css("#bundle")).await.unwrap().click().await.unwrap();
    let bundle = downloaded(&downloads, &format!("doc-{judgment}"));
    let genesis = net.dir.join("genesis.json");
    let v = ok(&custos_at(
        &net.dir.join("police"),
        &["verify", "--bundle", bundle.to_str().unwrap(), "--genesis", genesis.to_str().unwrap()],
    ));
    assert!(v.contains(&judgment) && v.contains("JUDGMENT"), "{v}");
    // The absence of the justice bureau's receipt, as evidence.
    c.goto(&format!("{base}/doc/{judgment}/absent/justice")).await.unwrap();
    let absence = downloaded(&downloads, &format!("absent-{judgment}-justice"));
    let v = ok(&custos_at(
        &net.dir.join("court"),
        &["verify", "--bundle", absence.to_str().unwrap(), "--genesis", genesis.to_str().unwrap()],
    ));
    assert!(v.contains("no receipt from justice"), "{v}");

    // Supervision: filter by rule, export CSV.
    c.goto(&format!("{base}/supervision")).await.unwrap();
    c.find(Locator::Css("#rule option[value='S02']")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("#filter")).await.unwrap().click().await.unwrap();
    assert!(c.current_url().await.unwrap().query().unwrap_or("").contains("rule=S02"));
    let rows = c.find_all(Locator::Css("#findings tr.finding")).await.unwrap();
    assert!(rows.len() >= 2, "two late deliveries (judgment and notice)");
    for r in &rows {
        assert_eq!(r.attr("data-rule").await.unwrap().as_deref(), Some("S02"));
    }
    assert!(text(&c, "#scope").await.contains("所有机构"));
    shots.take(&c, "supervision").await;
    c.find(Locator::Css("#csv")).await.unwrap().click().await.unwrap();
    let csv_path = downloaded(&downloads, "supervision-");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].contains("rule,title,basis,agency,case_ref"), "{csv}");
    assert_eq!(lines.len(), rows.len() + 1, "{csv}");
    assert!(lines[1..].iter().all(|l| l.starts_with("S02,")), "{csv}");
    assert!(csv.contains(&notice));

    // An e-dossier sent from the browser: the correction opinion to the court.
    c.goto(&format!("{base}/upload")).await.unwrap();
    shots.take(&c, "upload").await;
    let opinion = net.dir.join("docs").join("correction-opinion-2.txt");
    std::fs::write(&opinion, "纠正意见：判决书未抄送公安机关，送达超期 (browser test)\n").unwrap();
    c.find(Locator::Css("#file")).await.unwrap().send_keys(opinion.to_str().unwrap()).await.unwrap();
    c.find(Locator::Css("#up-case")).await.unwrap().send_keys(CASE).await.unwrap();
    c.find(Locator::Css("#doc-type option[value='CORRECTION_OPINION']")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("#to")).await.unwrap().send_keys("court").await.unwrap();
    c.find(Locator::Css("#send")).await.unwrap().click().await.unwrap();
    let sent = text(&c, "#sent").await;
    shots.take(&c, "upload-sent").await;
    let doc_id = c.find(Locator::Css("#sent a")).await.unwrap().text().await.unwrap();
    assert!(sent.contains("court") && sent.contains("procuratorate"), "{sent}");
    // The court sees it on the ledger and fetches the e-dossier it can decrypt.
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&custos_at(&net.dir.join("court"), &["doc", "show", &doc_id, "--json"]))).unwrap();
    assert_eq!(shown["doc_type"], "CORRECTION_OPINION");
    assert_eq!(shown["issuer"], "procuratorate");
    let fetched = net.dir.join("docs").join("fetched-opinion.txt");
    ok(&custos_at(&net.dir.join("court"), &["dossier", "fetch", &doc_id, "-o", fetched.to_str().unwrap()]));
    assert_eq!(std::fs::read(&fetched).unwrap(), std::fs::read(&opinion).unwrap());

    // The console's audit log names the person behind each page and the upload.
    let lines = audit(&net.dir.join("procuratorate").join("console-audit.jsonl"));
    assert!(lines.iter().any(|l| l["op"] == "console_sign_in" && l["ok"] == true));
    assert!(lines.iter().any(|l| l["op"] == "console_sign_in" && l["ok"] == false));
    assert!(lines.iter().any(|l| l["op"] == "console_request"
        && l["path"] == "/case"
        && l["member_name"].as_str().unwrap_or("").contains("procuratorate-clerk")));
    assert!(lines.iter().any(|l| l["op"] == "console_upload" && l["doc_id"] == doc_id.as_str()));
    assert!(lines.iter().any(|l| l["op"] == "console_evidence" && l["doc"] == judgment.as_str()));

    // The node's own audit log has the supervision queries across agencies.
    let node_audit = audit(&net.dir.join("procuratorate").join("data/audit.log"));
    assert!(node_audit.iter().any(|l| l["op"] == "supervise" && l["cross_agency"] == true && l["rule"] == "S02"));

    // Sign out: the pages send the browser back to sign-in.
    c.goto(&format!("{base}/status")).await.unwrap();
    c.find(Locator::Css("#sign-out")).await.unwrap().click().await.unwrap();
    c.goto(&format!("{base}/case")).await.unwrap();
    assert!(text(&c, "#sign-in-command").await.contains("console sign-in"));

    // The prison: signed in at its own console, refused the case it is no party to.
    let prison = format!("https://127.0.0.1:{PRISON_CONSOLE}");
    c.goto(&sign_in_link(&net.dir.join("prison"), PRISON_CONSOLE)).await.unwrap();
    assert!(text(&c, "#who").await.contains("prison-clerk"));
    c.goto(&format!("{prison}/case?case=(2026)%E9%BB%910103%E5%88%91%E5%88%9D18%E5%8F%B7")).await.unwrap();
    let refused = c.wait().for_element(Locator::Css("#error")).await.unwrap();
    assert_eq!(refused.attr("data-status").await.unwrap().as_deref(), Some("403"), "{}", refused.text().await.unwrap());
    assert!(c.find_all(Locator::Css("#timeline")).await.unwrap().is_empty());
    shots.take(&c, "prison-refused").await;
    c.goto(&format!("{prison}/doc/{judgment}")).await.unwrap();
    let refused = c.wait().for_element(Locator::Css("#error")).await.unwrap();
    assert_eq!(refused.attr("data-status").await.unwrap().as_deref(), Some("403"));
    // The prison's node logged the refusals.
    let node_audit = audit(&net.dir.join("prison").join("data/audit.log"));
    assert!(node_audit.iter().any(|l| l["op"] == "read_case" && l["allowed"] == false));
    // Its supervision view is its own agency's only.
    c.goto(&format!("{prison}/supervision")).await.unwrap();
    assert!(text(&c, "#scope").await.contains("仅本机构"));
    assert!(c.find_all(Locator::Css("#findings tr.finding")).await.unwrap().is_empty());
    shots.take(&c, "prison-supervision").await;

    // The prison's admin revokes its clerk: the open session ends at the next page, and the
    // clerk cannot sign in again.
    let me: serde_json::Value =
        serde_json::from_str(&ok(&custos_at(&net.dir.join("prison"), &["whoami", "--json"]))).unwrap();
    let clerk = me["identities"].as_array().unwrap().iter().find(|i| i["role"] == "clerk").unwrap()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&custos_at(&net.dir.join("prison"), &["member", "revoke", &clerk]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.goto(&format!("{prison}/status")).await.unwrap();
    assert!(text(&c, "#sign-in-command").await.contains("console sign-in"));
    c.goto(&sign_in_link(&net.dir.join("prison"), PRISON_CONSOLE)).await.unwrap();
    assert!(text(&c, "#error").await.contains("revoked"));
    let lines = audit(&net.dir.join("prison").join("console-audit.jsonl"));
    assert!(lines.iter().any(|l| l["op"] == "console_session_ended" && l["member"] == clerk.as_str()));

    c.close().await.unwrap();
    assert!(shots.n >= 11);
}
