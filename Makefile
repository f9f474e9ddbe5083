# The two commands that matter on a fresh Debian 12 machine with the Rust toolchain:
#   make demo   start the five-agency consortium demo (the main job)
#   make test   the whole test suite (what CI runs)
.PHONY: demo test deps bench fuzz clean-demo

deps:
	scripts/install-deps.sh

demo: deps
	scripts/demo.sh

test:
	scripts/test.sh

# Benchmarks against the machine's own ceilings (docs/benchmarks.md; about 45 minutes).
bench: deps
	cargo build --release --bins
	cargo run --release --bin custos-bench -- --markdown docs/benchmarks.md --json docs/benchmarks.json

# Every cargo-fuzz target for FUZZ_SECS seconds (default 60) on stable (docs/fuzzing.md).
fuzz:
	scripts/fuzz.sh

clean-demo:
	rm -rf demo-net
