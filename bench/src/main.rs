//! `custos-bench`: runs the benchmarks of issue 9 and writes their results.

fn main() -> anyhow::Result<()> {
    Ok(())
}
