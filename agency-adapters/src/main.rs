//! `custos-adapter`: syncs an agency's own system with its Custos node.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use custos_adapters::Config;

const ABOUT: &str = "Sync an agency's own case system with its Custos node.\n\n\
The adapter sends the system's documents as e-dossiers anchored on the ledger (each record \
exactly once, by its key: agency, source id, version) and delivers what the ledger addresses \
to the agency (documents, receipts, grants, supervision findings) back into the system. One \
configuration file names the agency home, the node, a state folder and one adapter kind: \
[postgres] (outbox/inbox tables), [folder] (a watched exchange folder) or [webhook] (HTTP). \
See docs/operator-guide.md, \"Agency adapters\".";

#[derive(Parser, Debug)]
#[command(name = "custos-adapter", version, about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the adapter until SIGTERM or Ctrl-C (a crash or kill loses nothing: it resumes).
    Run {
        /// The configuration file.
        #[arg(long, short = 'c', env = "CUSTOS_ADAPTER_CONFIG")]
        config: PathBuf,
    },
    /// Compare the agency system's records since DATE with the ledger: records not anchored,
    /// anchors no record explains, mismatched hashes. Exits 0 when they agree (records still
    /// pending aside), 3 when they do not.
    Reconcile {
        /// The configuration file.
        #[arg(long, short = 'c', env = "CUSTOS_ADAPTER_CONFIG")]
        config: PathBuf,
        /// First day (YYYY-MM-DD, China Standard Time) of records and anchors to compare.
        #[arg(long, value_name = "DATE")]
        since: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create or upgrade the PostgreSQL schema (custos_outbox, custos_inbox, …) and exit.
    Migrate {
        /// The configuration file.
        #[arg(long, short = 'c', env = "CUSTOS_ADAPTER_CONFIG")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    match cli.command {
        Command::Run { config } => {
            let cfg = Config::load(&config)?;
            rt.block_on(async move {
                let stop = async {
                    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
                    match term {
                        Ok(mut t) => {
                            tokio::select! {
                                _ = t.recv() => {}
                                _ = tokio::signal::ctrl_c() => {}
                            }
                        }
                        Err(_) => {
                            let _ = tokio::signal::ctrl_c().await;
                        }
                    }
                    tracing::info!("stopping");
                };
                custos_adapters::run::run(cfg, stop).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile { config, since, json } => {
            let cfg = Config::load(&config)?;
            let date = custos_contracts::call::Date::parse(&since)
                .map_err(|e| anyhow::anyhow!("--since {since:?}: {e} (expected YYYY-MM-DD)"))?;
            let report = rt.block_on(custos_adapters::run::reconcile(cfg, date))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            Ok(if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(3) })
        }
        Command::Migrate { config } => {
            let cfg = Config::load(&config)?;
            let pg = cfg.postgres.as_ref().context("migrate needs a [postgres] section")?;
            rt.block_on(custos_adapters::postgres::PgStore::open(&pg.url, pg.inline_max))?;
            println!("schema is at version {}", custos_adapters::postgres::MIGRATIONS.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_report(r: &custos_adapters::reconcile::Report) {
    println!(
        "since {} (heights {}..={}): {} records, {} anchored as recorded",
        r.since, r.from_height, r.to_height, r.records, r.anchored
    );
    println!("not anchored: {}", r.not_anchored.len());
    for n in &r.not_anchored {
        println!("  {:<10} {:<9} {}: {}", n.id, n.status, n.key, n.reason);
    }
    println!("anchors no record explains: {}", r.unexplained.len());
    for u in &r.unexplained {
        println!("  height {:<7} {} {} (transaction {})", u.height, u.doc_type, u.doc_hash, u.tx_id);
    }
    println!("mismatched: {}", r.mismatched.len());
    for m in &r.mismatched {
        println!("  {:<10} {}: {}", m.id, m.key, m.reason);
    }
}
