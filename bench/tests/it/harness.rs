//! `custos_bench::run` in its CI size, and the report it writes.

use custos_bench::{Options, report};
use custos_primitives::crypto::SuiteId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_run_of_every_benchmark_measures_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = Options::quick(&tmp.path().join("run"), 12000);
    opts.suites = vec![SuiteId::Sm];
    // What the progress callback saw: one partial report per benchmark, each judged, none
    // complete, each with at least as much as the one before.
    let mut partial: Vec<report::Report> = Vec::new();
    let report = custos_bench::run(&opts, &mut |r| {
        partial.push(r.clone());
        Ok(())
    })
    .await
    .unwrap();
    assert!(report.complete);
    // Anchoring, e-dossier, catch-up, the suite's end (engine), verify.
    assert_eq!(partial.len(), 5, "a partial report after each benchmark");
    assert!(partial.iter().all(|r| !r.complete));
    assert!(partial.windows(2).all(|w| w[0].goals.len() <= w[1].goals.len()));
    assert_eq!(partial[0].goals.len(), 2, "after the anchoring benchmark: saturation and latency judged");
    assert_eq!(partial.last().unwrap().goals.len(), report.goals.len() - 1, "all but supervision");

    let s = &report.suites[0];
    assert_eq!(s.suite, "sm");
    assert!(s.rates.verify_per_s > 0.0 && s.rates.hash_aead_mib_s > 0.0);
    assert!(s.ceiling_anchors_per_s > 0.0);
    let sat = s.saturation.as_ref().unwrap();
    assert!(sat.committed > 0, "anchors were committed under load: {sat:?}");
    assert_eq!(sat.failed, 0, "no anchor failed in the contracts: {sat:?}");
    assert!(s.saturation_vs_ceiling.unwrap().is_finite());
    let lat = s.latency.as_ref().unwrap();
    assert_eq!(lat.sent, 100, "50/s for 2 s");
    assert_eq!(lat.committed, lat.sent, "every open-loop anchor committed: {lat:?}");
    assert!(lat.p50_ms > 0.0 && lat.p50_ms <= lat.p99_ms && lat.p99_ms <= lat.max_ms);
    let d = s.dossier.as_ref().unwrap();
    assert_eq!(d.size_mib, 4.0);
    assert!(d.send_rss_mib > 0.0 && d.fetch_rss_mib > 0.0 && d.sender_node_rss_mib > 0.0);
    let c = s.catchup.as_ref().unwrap();
    assert!(c.blocks_behind >= 20, "{c:?}");
    assert!(c.blocks_per_s > 0.0);
    let e = s.engine.as_ref().unwrap();
    assert!(e.minimal.heights_per_s > 0.0 && e.custos.heights_per_s > 0.0, "{e:?}");
    assert!(e.ratio.is_finite() && e.ratio > 0.0);
    let v = report.verify.as_ref().unwrap();
    assert_eq!(v.events, 10, "the ten-event bundle");
    assert!(v.iterations >= 3 && v.ms_per_bundle > 0.0 && v.process_ms > 0.0);
    let sv = report.supervision.as_ref().unwrap();
    assert_eq!(sv.cases, 1000);
    assert!(sv.findings > 0);

    // Every measured figure is judged against its goal.
    assert_eq!(report.goals.len(), 7, "{:#?}", report.goals);
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["suites"][0]["suite"], "sm");
    assert_eq!(json["complete"], true);
    let saved = tmp.path().join("partial.json");
    report::write_json(&saved, &partial[0]).unwrap();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(json["complete"], false);
    assert!(json["suites"][0]["saturation"].is_object() && json["suites"][0]["dossier"].is_null());
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);

    // The Markdown section replaces itself in place and leaves the rest of the file alone.
    let md = report.to_markdown("custos-bench --quick");
    for heading in
        ["### Ceilings", "### Anchoring", "### E-dossier", "### Catch-up", "### Consensus-engine", "### Goals"]
    {
        assert!(md.contains(heading), "{heading} missing from\n{md}");
    }
    let doc = tmp.path().join("benchmarks.md");
    std::fs::write(&doc, "# Benchmarks\n\nHand-written text.\n").unwrap();
    report::update_markdown(&doc, &md).unwrap();
    report::update_markdown(&doc, "second\n").unwrap();
    let text = std::fs::read_to_string(&doc).unwrap();
    assert!(text.starts_with("# Benchmarks\n\nHand-written text.\n"));
    assert!(text.contains("second\n") && !text.contains("### Goals"), "{text}");
    assert_eq!(text.matches(report::BEGIN).count(), 1);
}
