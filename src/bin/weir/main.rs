//! The `weir` command line, one file per subcommand: `weir serve`
//! ([`serve`]) runs the server; `weir gen-model` ([`gen_model`]) writes a
//! random model of a given shape (benchmarks); `weir bench` ([`bench`])
//! measures the engine in-process; `weir load` ([`load`]) load-tests any
//! endpoint through the `weir-load` crate; `weir admin` ([`admin`])
//! manages projects, endpoints, keys and usage in the tenancy store.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;
mod bench;
mod gen_model;
mod load;
mod serve;

#[derive(Parser)]
#[command(
    name = "weir",
    version,
    about = "An OpenAI-compatible LLM inference server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a model over the OpenAI API (the built-in demo model by default).
    Serve(Box<serve::ServeArgs>),
    /// Write a random-weight Qwen2 model directory (for benchmarks).
    GenModel(gen_model::GenModelArgs),
    /// Measure prefill, batch-1 decode and aggregate decode throughput
    /// in-process (default: a random Qwen2-0.5B-shaped bf16 model).
    Bench(bench::BenchArgs),
    /// Load-test an OpenAI-compatible endpoint with simulated coding-agent
    /// sessions (`weir load compare A B` diffs two reports).
    Load(Box<load::LoadArgs>),
    /// Manage the tenancy store: projects, endpoints, API keys, usage.
    Admin(admin::AdminArgs),
}

/// The multi-threaded tokio runtime every subcommand that serves or
/// measures runs on.
fn async_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// The cache directory when `--cache-dir` / `WEIR_CACHE_DIR` is unset.
fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("weir");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("weir");
    }
    std::env::temp_dir().join("weir-cache")
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::GenModel(args) => gen_model::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Admin(args) => admin::run(args),
        Command::Load(args) => match load::run(*args) {
            Ok(status) => return ExitCode::from(status),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
