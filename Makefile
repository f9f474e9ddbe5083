# The two commands that matter on a fresh Debian 12 machine with the Rust toolchain:
#   make demo   start the five-agency consortium demo (the main job)
#   make test   the whole test suite (what CI runs)
.PHONY: demo test deps bench clean-demo

deps:
	scripts/install-deps.sh

demo: deps
	scripts/demo.sh

test:
	scripts/test.sh

bench: deps
	cargo bench -p custos-primitives --bench suites

clean-demo:
	rm -rf demo-net
