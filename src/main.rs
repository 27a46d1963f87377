//! The `weir` command line: `weir serve` runs the server; `weir gen-model`
//! writes a random model of a given shape (benchmarks); `weir bench`
//! measures the engine in-process; `weir load` load-tests any endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod load_cmd;

use weir::backend::sim::SimSpeed;
use weir::engine::{EngineConfig, RunnerKind};

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
    Serve(Box<ServeArgs>),
    /// Write a random-weight Qwen2 model directory (for benchmarks).
    GenModel(GenModelArgs),
    /// Measure prefill, batch-1 decode and aggregate decode throughput
    /// in-process (default: a random Qwen2-0.5B-shaped bf16 model).
    Bench(BenchArgs),
    /// Load-test an OpenAI-compatible endpoint with simulated coding-agent
    /// sessions (`weir load compare A B` diffs two reports).
    Load(Box<load_cmd::LoadArgs>),
}

#[derive(Args)]
struct BenchArgs {
    /// `throughput` (prefill, decode, aggregate) or `agent` (multi-turn
    /// coding-agent sessions, with and without prefix caching).
    #[arg(long, default_value = "throughput")]
    workload: String,
    /// Model directory (default: throughput generates the Qwen2-0.5B shape
    /// into the cache dir; agent uses the built-in demo model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// agent: sessions (run one after another).
    #[arg(long, default_value_t = 3)]
    sessions: usize,
    /// agent: turns per session.
    #[arg(long, default_value_t = 5)]
    turns: usize,
    /// Prompt length for the prefill figure.
    #[arg(long, default_value_t = 512)]
    prefill_len: usize,
    /// Concurrency levels for the aggregate figure.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    concurrency: Vec<usize>,
    /// Most tokens per step.
    #[arg(long, default_value_t = 512)]
    max_num_batched_tokens: usize,
    /// KV cache size in GiB.
    #[arg(long, default_value_t = 2.0)]
    kv_cache_gib: f64,
    /// Where the generated model goes (default: $XDG_CACHE_HOME/weir or ~/.cache/weir).
    #[arg(long, env = "WEIR_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    /// A Hugging Face model directory (config.json, *.safetensors, tokenizer.json).
    /// Without it, weir serves its built-in demo model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The name clients send as `model` (default: the directory's name, or `weir-demo`).
    #[arg(long)]
    served_model_name: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// `cpu` (real arithmetic) or `sim` (no arithmetic; for load and client tests).
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// KV cache size in GiB (default: a quarter of free memory, 256 MiB..8 GiB).
    #[arg(long)]
    kv_cache_gib: Option<f64>,
    /// KV cache size in blocks (overrides --kv-cache-gib).
    #[arg(long)]
    num_kv_blocks: Option<usize>,
    /// Tokens per KV block.
    #[arg(long, default_value_t = 16)]
    block_size: usize,
    /// Most sequences in one step.
    #[arg(long, default_value_t = 64)]
    max_num_seqs: usize,
    /// Most tokens computed in one step (decode tokens + prefill chunks).
    #[arg(long, default_value_t = 512)]
    max_num_batched_tokens: usize,
    /// Context window (default and upper bound: the model's).
    #[arg(long)]
    max_model_len: Option<usize>,
    /// Threads for the CPU kernels (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// sim: `echo`, `random` or `script`.
    #[arg(long, default_value = "echo")]
    sim_mode: String,
    /// sim: the JSON rules file for `--sim-mode script`.
    #[arg(long)]
    sim_script: Option<PathBuf>,
    /// sim: modelled prefill cost per prompt token, in microseconds.
    #[arg(long, default_value_t = 50.0)]
    sim_prefill_us_per_token: f64,
    /// sim: modelled fixed cost of a decode step, in microseconds.
    #[arg(long, default_value_t = 10000.0)]
    sim_decode_step_us: f64,
    /// sim: modelled extra cost per sequence in a decode step, in microseconds.
    #[arg(long, default_value_t = 100.0)]
    sim_decode_us_per_seq: f64,
    /// Where the demo model is generated (default: $XDG_CACHE_HOME/weir or ~/.cache/weir).
    #[arg(long, env = "WEIR_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Turn off automatic prefix caching (for comparisons). Prefixes are
    /// only ever shared within a tenant and a request's `cache_salt`.
    #[arg(long)]
    no_prefix_caching: bool,
    /// Tool-call format of the model's output: `auto` (detected from the
    /// chat template), `none`, `hermes` (Qwen2.5/Qwen3/Hermes `<tool_call>`),
    /// `llama3_json` (Llama 3.x JSON calls), `mistral` (`[TOOL_CALLS]`),
    /// `qwen3_coder` (Qwen3-Coder `<function=...>` XML calls) or
    /// `deepseek_v3` / `deepseek_v31` (DeepSeek V3, R1, V3.1
    /// `<｜tool▁calls▁begin｜>`).
    #[arg(long, default_value = "auto")]
    tool_call_parser: String,
    /// Reasoning format: `auto` (detected from the chat template), `none`,
    /// or `think` (`<think>...</think>`, DeepSeek-R1 / Qwen3 / QwQ).
    #[arg(long, default_value = "auto")]
    reasoning_parser: String,
}

#[derive(Args)]
struct GenModelArgs {
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// `demo` or `qwen2-0.5b`.
    #[arg(long, default_value = "qwen2-0.5b")]
    shape: String,
    /// Seed of the weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

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
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::GenModel(args) => gen_model(args),
        Command::Bench(args) => bench(args),
        Command::Load(args) => match load_cmd::run(*args) {
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

fn gen_model(args: GenModelArgs) -> Result<(), String> {
    let shape = match args.shape.as_str() {
        "demo" => weir::model::demo::Qwen2Shape::demo(),
        "qwen2-0.5b" => weir::model::demo::Qwen2Shape::qwen2_0_5b(),
        other => return Err(format!("unknown --shape `{other}` (demo, qwen2-0.5b)")),
    };
    weir::model::demo::write_random_qwen2(&args.out, &shape, args.seed)
        .map_err(|e| e.to_string())?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn bench(args: BenchArgs) -> Result<(), String> {
    let cache = args.cache_dir.unwrap_or_else(default_cache_dir);
    if args.workload == "agent" {
        return bench_agent(args.model, cache, args.sessions, args.turns);
    }
    if args.workload != "throughput" {
        return Err(format!(
            "unknown --workload `{}` (throughput, agent)",
            args.workload
        ));
    }
    let dir = match args.model {
        Some(d) => d,
        None => {
            let d = cache.join("bench-qwen2-0.5b");
            if !d.join("model.safetensors").exists() {
                eprintln!(
                    "generating a random Qwen2-0.5B-shaped model in {}",
                    d.display()
                );
                let shape = weir::model::demo::Qwen2Shape::qwen2_0_5b();
                weir::model::demo::write_random_qwen2(&d, &shape, 1).map_err(|e| e.to_string())?;
            }
            d
        }
    };
    // Bytes a decode step streams: every weight once (tied embeddings are
    // read once, as the output projection).
    let weight_bytes: u64 = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let cfg = EngineConfig {
        model: Some(dir.clone()),
        served_model_name: None,
        runner: RunnerKind::Cpu,
        kv_cache_gib: Some(args.kv_cache_gib),
        num_kv_blocks: None,
        block_size: 16,
        max_num_seqs: args.concurrency.iter().copied().max().unwrap_or(1).max(1),
        max_num_batched_tokens: args.max_num_batched_tokens,
        max_model_len: None,
        cache_dir: cache,
        prefix_caching: true,
        tool_call_parser: "auto".into(),
        reasoning_parser: "auto".into(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async move {
        let engine = weir::engine::start(cfg).await.map_err(|e| e.to_string())?;
        println!(
            "model {} ({:.2} GB of weights), ISA {}, {} threads",
            dir.display(),
            weight_bytes as f64 / 1e9,
            weir::backend::cpu::CpuBackend::isa_name(),
            rayon::current_num_threads()
        );
        weir::bench::run(
            &engine,
            weight_bytes as usize,
            args.prefill_len,
            &args.concurrency,
        )
        .await
    })
}

fn bench_agent(
    model: Option<PathBuf>,
    cache: PathBuf,
    sessions: usize,
    turns: usize,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async move {
        let mut results = Vec::new();
        for caching in [true, false] {
            let cfg = EngineConfig {
                model: model.clone(),
                served_model_name: None,
                runner: RunnerKind::Cpu,
                kv_cache_gib: Some(1.0),
                num_kv_blocks: None,
                block_size: 16,
                max_num_seqs: 16,
                max_num_batched_tokens: 512,
                max_model_len: None,
                cache_dir: cache.clone(),
                prefix_caching: caching,
                tool_call_parser: "auto".into(),
                reasoning_parser: "auto".into(),
            };
            let engine = weir::engine::start(cfg).await.map_err(|e| e.to_string())?;
            results.push(weir::bench::run_agent_sessions(&engine, sessions, turns).await?);
        }
        println!(
            "agent sessions: {sessions} sessions x {turns} turns, system prompt + 10 tools resent every turn"
        );
        println!("turn | prompt tokens | cached (share) | TTFT cached | TTFT uncached | speed-up");
        for (t, (&(on, p, c), &(off, _, _))) in results[0].iter().zip(&results[1]).enumerate() {
            println!(
                "{:>4} | {:>13} | {:>6} ({:>4.1}%) | {:>8.1} ms | {:>10.1} ms | {:>6.1}x",
                t + 1,
                p,
                c,
                100.0 * c as f64 / p.max(1) as f64,
                on.as_secs_f64() * 1e3,
                off.as_secs_f64() * 1e3,
                off.as_secs_f64() / on.as_secs_f64().max(1e-9)
            );
        }
        Ok(())
    })
}

fn serve(args: ServeArgs) -> Result<(), String> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| format!("--threads: {e}"))?;
    }
    let runner = match args.backend.as_str() {
        "cpu" => RunnerKind::Cpu,
        "sim" => RunnerKind::Sim {
            mode: args.sim_mode.clone(),
            script: args.sim_script.clone(),
            speed: SimSpeed {
                prefill_us_per_token: args.sim_prefill_us_per_token,
                decode_step_us: args.sim_decode_step_us,
                decode_us_per_seq: args.sim_decode_us_per_seq,
            },
        },
        other => return Err(format!("unknown --backend `{other}` (cpu, sim)")),
    };
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .map_err(|e| format!("--host/--port: {e}"))?;
    let cfg = EngineConfig {
        model: args.model,
        served_model_name: args.served_model_name,
        runner,
        kv_cache_gib: args.kv_cache_gib,
        num_kv_blocks: args.num_kv_blocks,
        block_size: args.block_size,
        max_num_seqs: args.max_num_seqs,
        max_num_batched_tokens: args.max_num_batched_tokens,
        max_model_len: args.max_model_len,
        cache_dir: args.cache_dir.unwrap_or_else(default_cache_dir),
        prefix_caching: !args.no_prefix_caching,
        tool_call_parser: args.tool_call_parser,
        reasoning_parser: args.reasoning_parser,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async move {
        let engine = weir::engine::start(cfg).await.map_err(|e| e.to_string())?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        };
        tracing::info!(%addr, "listening");
        weir::api::serve(engine, addr, shutdown)
            .await
            .map_err(|e| format!("server on {addr}: {e}"))
    })
}
