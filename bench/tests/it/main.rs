//! Integration tests of the benchmark harness: a CI-sized run of every benchmark.

mod engine;
