//! `custos-bench`: runs the benchmarks of a Custos network against the machine's own ceilings
//! and writes the results (JSON, and the Markdown section of `docs/benchmarks.md`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

use custos_bench::{Options, Which, report};
use custos_primitives::crypto::SuiteId;

/// Benchmarks of a five-agency Custos network on this machine, each beside a ceiling measured
/// in the same run: anchoring throughput at saturation (÷ the suite's single-signature
/// verification rate ÷ 5 nodes × cores) and open-loop commit latency, a large e-dossier sent
/// and fetched (÷ the suite's hash+AEAD rate, with each process's peak memory), offline bundle
/// verification, the supervision rules over synthetic cases, and a stopped node's catch-up.
///
/// The networks are real `custos-node` processes on loopback; the `custos-node` and `custos`
/// binaries are taken from beside this one (or CUSTOS_NODE_BIN, CUSTOS_BIN). Build them in
/// release first: `cargo build --release --bins`. A full run takes about 45 minutes (the catch-up
/// waits for 10,000 blocks, for the sm suite by default); `--quick` takes about a minute and is
/// what the test suite runs.
#[derive(Debug, Parser)]
#[command(name = "custos-bench", version)]
struct Cli {
    /// CI-sized run: seconds and small numbers. Exercises the harness; the figures mean little.
    #[arg(long)]
    quick: bool,
    /// Suites of the network benchmarks.
    #[arg(long, value_delimiter = ',', default_value = "sm,intl")]
    suites: Vec<String>,
    /// Run only these benchmarks (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<Which>,
    /// Working folder for the networks and files (must be empty or absent; kept afterwards for
    /// the node logs). Default: a new folder under the system's temporary folder, removed at
    /// the end.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// First loopback port; each network takes 300 ports from here, one after the other.
    #[arg(long, default_value_t = 38000)]
    base_port: u16,
    /// Saturation: seconds counted (after the warm-up).
    #[arg(long)]
    duration: Option<u64>,
    /// Latency: offered anchors per second.
    #[arg(long)]
    rate: Option<u32>,
    /// E-dossier size in MiB.
    #[arg(long)]
    dossier_mib: Option<u64>,
    /// Catch-up: blocks the stopped node falls behind.
    #[arg(long)]
    catchup_blocks: Option<u64>,
    /// Catch-up: the suites it runs for.
    #[arg(long, value_delimiter = ',', default_value = "sm")]
    catchup_suites: Vec<String>,
    /// Supervision: synthetic cases.
    #[arg(long)]
    cases: Option<usize>,
    /// Write the JSON result here.
    #[arg(long, default_value = "bench-results.json")]
    json: PathBuf,
    /// Replace the generated section of this Markdown file (e.g. docs/benchmarks.md).
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let command = std::env::args().map(|a| a.to_string()).collect::<Vec<_>>().join(" ");
    let (dir, _tmp) = match &cli.dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d).map(|mut r| r.next().is_some()).unwrap_or(true) {
                anyhow::bail!("{} is not empty: choose a new folder", d.display());
            }
            (d.clone(), None)
        }
        None => {
            let t = std::env::temp_dir().join(format!("custos-bench-{}", std::process::id()));
            (t.clone(), Some(RemoveOnDrop(t)))
        }
    };
    let mut opts = if cli.quick { Options::quick(&dir, cli.base_port) } else { Options::full(&dir, cli.base_port) };
    opts.suites = cli
        .suites
        .iter()
        .map(|s| s.parse::<SuiteId>().map_err(|e| anyhow::anyhow!("--suites {s:?}: {e}")))
        .collect::<anyhow::Result<_>>()?;
    opts.catchup_suites = cli
        .catchup_suites
        .iter()
        .map(|s| s.parse::<SuiteId>().map_err(|e| anyhow::anyhow!("--catchup-suites {s:?}: {e}")))
        .collect::<anyhow::Result<_>>()?;
    if !cli.only.is_empty() {
        opts.only = cli.only.iter().copied().collect();
    }
    if let Some(d) = cli.duration {
        opts.saturation = std::time::Duration::from_secs(d);
        opts.latency = std::time::Duration::from_secs(d);
    }
    if let Some(r) = cli.rate {
        opts.rate = r;
    }
    if let Some(m) = cli.dossier_mib {
        opts.dossier_bytes = m << 20;
    }
    if let Some(b) = cli.catchup_blocks {
        opts.catchup_blocks = b;
    }
    if let Some(c) = cli.cases {
        opts.cases = c;
    }
    let mut save = |partial: &report::Report| -> custos_bench::Result<()> {
        report::write_json(&cli.json, partial)?;
        eprintln!("saved the results so far to {}", cli.json.display());
        Ok(())
    };
    let report = custos_bench::run(&opts, &mut save).await.context("benchmark failed")?;
    report::write_json(&cli.json, &report)?;
    let md = report.to_markdown(&command);
    if let Some(path) = &cli.markdown {
        report::update_markdown(path, &md)?;
        eprintln!("updated {}", path.display());
    }
    println!("{md}");
    eprintln!("wrote {}", cli.json.display());
    Ok(())
}

/// Removes the default working folder at the end.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
