#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target for FUZZ_SECS seconds (default 60) on the stable
# toolchain, without sanitizer (`-s none`: libFuzzer's coverage instrumentation works on
# stable; AddressSanitizer would need nightly, and the code under test forbids `unsafe`).
#   FUZZ_SECS=300 make fuzz              longer runs
#   FUZZ_TARGETS="block manifest" make fuzz   some targets only
# New inputs go to a scratch corpus outside the clone (FUZZ_CORPUS_DIR); the committed seeds in
# fuzz/corpus/<target>/ are read, not written. A crash stops the run with its input saved in
# fuzz/artifacts/<target>/: add it under fuzz-targets/tests/regressions/<target>/ once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CUSTOS_FUZZ_TARGET_DIR:-/var/tmp/custos-fuzz-target}"
secs="${FUZZ_SECS:-60}"
scratch="${FUZZ_CORPUS_DIR:-/var/tmp/custos-fuzz-corpus}"
targets="${FUZZ_TARGETS:-transaction block commit_certificate x509_certificate manifest evidence_bundle state_proof merkle_proof call_dispatch consensus_message}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 2
fi
cargo +stable fuzz build -s none
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in $targets; do
    mkdir -p "$scratch/$t"
    echo "== $t: ${secs} s"
    status=0
    cargo +stable fuzz run -s none "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|Done )' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "fuzz target $t failed: its input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
