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
        Command::Migrate { config } => {
            let cfg = Config::load(&config)?;
            let pg = cfg.postgres.as_ref().context("migrate needs a [postgres] section")?;
            rt.block_on(custos_adapters::postgres::PgStore::open(&pg.url, pg.inline_max))?;
            println!("schema is at version {}", custos_adapters::postgres::MIGRATIONS.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}
