//! Every committed corpus entry and every regression input, through every entry point (an
//! input found for one decoder must not crash another either).

use custos_fuzz_targets::{TARGETS, World, parse_calls, world};

use crate::support::{corpus_dir, inputs};

#[test]
fn the_fixture_world_builds() {
    if let Err(e) = World::build() {
        panic!("fuzz-targets/fixtures/world.scale is unusable: {e} (regenerate it: see docs/fuzzing.md)");
    }
    let w = world().unwrap();
    assert_eq!(w.members.len(), 10, "a clerk and an admin of each of the five agencies");
}

#[test]
fn every_target_has_a_committed_corpus() {
    for (name, _) in TARGETS {
        let n = std::fs::read_dir(corpus_dir(name)).map(|d| d.count()).unwrap_or(0);
        assert!(n > 0, "fuzz/corpus/{name}/ is empty: run the corpus generator (docs/fuzzing.md)");
    }
}

#[test]
fn corpus_and_regressions_through_every_target() {
    let mut all = Vec::new();
    for (name, _) in TARGETS {
        all.extend(inputs(name).into_iter().map(|(n, b)| (format!("{name}/{n}"), b)));
    }
    for (input_name, bytes) in &all {
        for (target_name, target) in TARGETS {
            let r = std::panic::catch_unwind(|| target(bytes));
            assert!(r.is_ok(), "target {target_name} panicked on {input_name}");
        }
    }
}

#[test]
fn the_call_dispatch_corpus_reaches_the_modules() {
    // The seeds are call sequences that decode; a seed that no longer parses (the call
    // format changed) would silently stop exercising the contracts.
    for (name, bytes) in inputs("call_dispatch") {
        if name.starts_with("regression") {
            continue;
        }
        let records = parse_calls(&bytes);
        assert!(!records.is_empty(), "call_dispatch seed {name} no longer parses");
        let t = world().unwrap().run(&records);
        println!("{name}: {} records, {} ok, {} failed", records.len(), t.calls_ok, t.calls_failed);
        assert!(t.calls_ok > 0, "call_dispatch seed {name}: no call succeeded ({t:?})");
    }
}
