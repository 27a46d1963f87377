//! `weir bench`: serving throughput measured in-process through the real
//! engine (request actor, scheduler, executor, stream actors; no HTTP), with
//! the limit beside each figure.
//!
//! - prefill: time to the first token of one long prompt (best of 3);
//! - decode at batch 1: inter-token time of one request after its first token;
//! - aggregate decode: total tokens / wall time of N concurrent requests.
//!
//! Prompts are random token ids (fixed seed); generation ignores eos, so each
//! request produces exactly `max_tokens`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use weir::engine::request::{GenerateRequest, Prompt, SamplingParams, StreamEvent, Tenant};
use weir::runtime::EngineHandle;

use clap::Args;
use weir::quant::QuantFormat;
use weir::runtime::{EngineConfig, LoadOptions, RunnerKind};

use crate::{async_runtime, default_cache_dir};

#[derive(Args)]
pub struct BenchArgs {
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
    /// Quantize the weights at load (`q8_0`, `q4_k`), as `weir serve --quantize`.
    #[arg(long, value_name = "FORMAT")]
    quantize: Option<String>,
    /// KV cache element type (`auto`, `f32`, `bf16`), as `weir serve --kv-cache-dtype`.
    #[arg(long, default_value = "auto", value_name = "DTYPE")]
    kv_cache_dtype: String,
    /// Where the generated model goes (default: $XDG_CACHE_HOME/weir or ~/.cache/weir).
    #[arg(long, env = "WEIR_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// Runs `weir bench`.
pub fn run(args: BenchArgs) -> Result<(), String> {
    let cache = args.cache_dir.unwrap_or_else(default_cache_dir);
    if args.workload == "agent" {
        let opts = LoadOptions {
            quantize: crate::serve::quantize_flag(args.quantize.as_deref())?,
            kv_cache_dtype: crate::serve::kv_cache_dtype_flag(&args.kv_cache_dtype)?,
        };
        return bench_agent(args.model, cache, args.sessions, args.turns, opts);
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
    let quantize = crate::serve::quantize_flag(args.quantize.as_deref())?;
    // Bytes a decode step streams: every weight once (tied embeddings are
    // read once, as the output projection).
    let weight_bytes: u64 = match quantize {
        None if weir::model::gguf::is_gguf(&dir) => std::fs::metadata(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .len(),
        None => std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum(),
        Some(format) => {
            let mc = weir::model::ModelConfig::from_path(&dir).map_err(|e| e.to_string())?;
            quantized_bytes(&mc, format)
        }
    };
    let cfg = EngineConfig {
        model: Some(dir.clone()),
        served_model_name: None,
        runner: RunnerKind::Cpu(LoadOptions {
            quantize,
            kv_cache_dtype: crate::serve::kv_cache_dtype_flag(&args.kv_cache_dtype)?,
        }),
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
        chat_template: None,
        limits: Default::default(),
    };
    let rt = async_runtime()?;
    rt.block_on(async move {
        let engine = weir::runtime::start(cfg).await.map_err(|e| e.to_string())?;
        println!(
            "model {} ({:.2} GB of weights), ISA {}, {} threads",
            dir.display(),
            weight_bytes as f64 / 1e9,
            weir::backend::cpu::CpuBackend::isa_name(),
            rayon::current_num_threads()
        );
        run_throughput(
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
    opts: LoadOptions,
) -> Result<(), String> {
    let rt = async_runtime()?;
    rt.block_on(async move {
        let mut results = Vec::new();
        for caching in [true, false] {
            let cfg = EngineConfig {
                model: model.clone(),
                served_model_name: None,
                runner: RunnerKind::Cpu(opts.clone()),
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
                chat_template: None,
                limits: Default::default(),
            };
            let engine = weir::runtime::start(cfg).await.map_err(|e| e.to_string())?;
            results.push(run_agent_sessions(&engine, sessions, turns).await?);
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

/// A greedy request that never stops at eos, so it produces exactly
/// `max_tokens` (what every figure here assumes).
fn greedy_request(prompt: Prompt, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        tenant: Tenant::default(),
        prompt,
        params: SamplingParams {
            temperature: 0.0,
            ignore_eos: true,
            ..Default::default()
        },
        max_tokens: Some(max_tokens),
        seed: Some(0),
        n: 1,
        stop: vec![],
        skip_special_tokens: true,
        cache_salt: None,
        parse_tool_calls: false,
        constraint: None,
        gate: None,
    }
}

/// What one streamed request took.
struct Timing {
    first: Duration,
    last: Duration,
    tokens: usize,
}

async fn run_one(
    engine: &EngineHandle,
    prompt: Vec<u32>,
    max_tokens: usize,
) -> Result<Timing, String> {
    let start = Instant::now();
    let req = greedy_request(Prompt::Tokens(prompt), max_tokens);
    let gen = engine.generate(req).await.map_err(|e| e.to_string())?;
    let (mut first, mut last, mut tokens) = (None, Duration::ZERO, 0);
    while let Ok(ev) = gen.events.recv_async().await {
        match ev {
            StreamEvent::Delta { token_ids, .. } if !token_ids.is_empty() => {
                let now = start.elapsed();
                first.get_or_insert(now);
                last = now;
                tokens += token_ids.len();
            }
            StreamEvent::Delta { .. } => {}
            StreamEvent::Finished { .. } => break,
            StreamEvent::Failed { message } => return Err(message),
            StreamEvent::QueueTimedOut { waited, .. } => {
                return Err(format!("waited {waited:?} in the queue and was dropped"))
            }
        }
    }
    Ok(Timing {
        first: first.ok_or("no token generated")?,
        last,
        tokens,
    })
}

/// Multi-threaded read bandwidth over `bytes` of memory, in GB/s (best of 3).
pub fn read_bandwidth_gbs(bytes: usize) -> f64 {
    use rayon::prelude::*;
    let data = vec![1u64; bytes / 8];
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        let sum: u64 = data
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
            .reduce(|| 0, u64::wrapping_add);
        let dt = t.elapsed().as_secs_f64();
        std::hint::black_box(sum);
        best = best.max(bytes as f64 / dt / 1e9);
    }
    best
}

/// Bytes of a decode step's matrices once quantized to `format` (each
/// matrix in the format [`QuantFormat::for_cols`] gives its width).
fn quantized_bytes(mc: &weir::model::ModelConfig, format: QuantFormat) -> u64 {
    let (h, inter) = (mc.hidden_size, mc.intermediate_size);
    let (q, kv) = (mc.num_heads * mc.head_dim, mc.num_kv_heads * mc.head_dim);
    let bytes = |rows: usize, cols: usize| -> usize {
        match format.for_cols(cols) {
            Some(f) => rows * cols / f.block_len() * f.block_bytes(),
            None => rows * cols * 2,
        }
    };
    let layer = bytes(q + 2 * kv, h) + bytes(h, q) + bytes(2 * inter, h) + bytes(h, inter);
    (mc.num_layers * layer + bytes(mc.vocab_size, h)) as u64
}

/// Run the benchmark and print a report. `weight_bytes` is the bytes one
/// decode step reads (for the bandwidth fraction).
pub async fn run_throughput(
    engine: &EngineHandle,
    weight_bytes: usize,
    prefill_len: usize,
    concurrency: &[usize],
) -> Result<(), String> {
    let vocab = engine.tokenizer().vocab_size().min(16000) as u64;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut prompt = |n: usize| -> Vec<u32> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (1000 + state % (vocab - 1000)) as u32
            })
            .collect()
    };
    let bw = tokio::task::spawn_blocking(|| read_bandwidth_gbs(1 << 30))
        .await
        .map_err(|e| e.to_string())?;
    println!("memory read bandwidth (probe, 1 GiB): {bw:.1} GB/s");
    run_one(engine, prompt(16), 4).await?; // warm-up

    let mut best = Duration::MAX;
    for _ in 0..3 {
        best = best.min(run_one(engine, prompt(prefill_len), 1).await?.first);
    }
    println!(
        "prefill: {:.1} tok/s ({prefill_len} tokens in {:.0} ms)",
        prefill_len as f64 / best.as_secs_f64(),
        best.as_secs_f64() * 1e3
    );

    let t = run_one(engine, prompt(16), 129).await?;
    let per_tok = (t.last - t.first).as_secs_f64() / (t.tokens - 1) as f64;
    let gbs = weight_bytes as f64 / per_tok / 1e9;
    println!(
        "decode, batch 1: {:.1} tok/s ({:.1} ms/token; {:.1} GB/s of weights = {:.0}% of the probe)",
        1.0 / per_tok,
        per_tok * 1e3,
        gbs,
        100.0 * gbs / bw
    );

    for &n in concurrency {
        let start = Instant::now();
        let runs = futures::future::join_all((0..n).map(|_| run_one(engine, prompt(16), 64))).await;
        let wall = start.elapsed().as_secs_f64();
        let mut tokens = 0;
        for r in runs {
            tokens += r?.tokens;
        }
        println!(
            "aggregate decode, {n} concurrent (16-token prompts, 64 tokens each): {:.1} tok/s ({tokens} tokens in {wall:.1} s)",
            tokens as f64 / wall
        );
    }
    Ok(())
}

/// A coding agent's first message: a long system prompt, identical across
/// sessions (our own text, of the size and shape agents send).
fn agent_system_prompt() -> String {
    let mut s = String::from(
        "You are a coding agent working in the user's repository. Read files before \
         editing them, keep changes small, run the tests after every change, and explain \
         what you did in one short paragraph.\n\n# Conventions\n",
    );
    for i in 0..60 {
        s.push_str(&format!(
            "- Convention {i}: prefer explicit error types over strings; name functions for \
             what they return; keep modules under fifteen hundred lines; document why, not what.\n"
        ));
    }
    s
}

/// Ten tool definitions in OpenAI's shape (bash, read, write, edit, glob,
/// grep, list, todo, webfetch, task).
fn agent_tools() -> serde_json::Value {
    let tool = |name: &str, desc: &str, params: serde_json::Value| {
        serde_json::json!({"type": "function", "function": {
            "name": name, "description": desc,
            "parameters": {"type": "object", "properties": params,
                           "required": params.as_object().map(|o| o.keys().take(1).cloned().collect::<Vec<_>>()).unwrap_or_default()}}})
    };
    let s = |d: &str| serde_json::json!({"type": "string", "description": d});
    serde_json::json!([
        tool(
            "bash",
            "Run a shell command in the repository and return its output.",
            serde_json::json!({"command": s("The command line to run."), "timeout": {"type": "integer", "description": "Seconds before the command is stopped."}})
        ),
        tool(
            "read",
            "Read a file, optionally a range of lines.",
            serde_json::json!({"path": s("File path relative to the repository root."), "offset": {"type": "integer"}, "limit": {"type": "integer"}})
        ),
        tool(
            "write",
            "Create or overwrite a file with the given content.",
            serde_json::json!({"path": s("File path."), "content": s("The full new content.")})
        ),
        tool(
            "edit",
            "Replace one exact string in a file with another.",
            serde_json::json!({"path": s("File path."), "old": s("Text to find, exactly once."), "new": s("Replacement text.")})
        ),
        tool(
            "glob",
            "List files matching a glob pattern.",
            serde_json::json!({"pattern": s("Glob such as src/**/*.rs.")})
        ),
        tool(
            "grep",
            "Search file contents with a regular expression.",
            serde_json::json!({"pattern": s("Regular expression."), "path": s("Directory to search.")})
        ),
        tool(
            "list",
            "List a directory.",
            serde_json::json!({"path": s("Directory path.")})
        ),
        tool(
            "todo",
            "Update the task list shown to the user.",
            serde_json::json!({"items": {"type": "array", "items": {"type": "string"}}})
        ),
        tool(
            "webfetch",
            "Fetch a web page as text.",
            serde_json::json!({"url": s("The address.")})
        ),
        tool(
            "task",
            "Hand a sub-task to a helper agent and wait for its report.",
            serde_json::json!({"prompt": s("What the helper should do."), "description": s("Three to five words.")})
        ),
    ])
}

/// One turn's outcome.
struct TurnResult {
    ttft: Duration,
    prompt_tokens: usize,
    cached_tokens: usize,
    reply: String,
}

async fn agent_turn(
    engine: &EngineHandle,
    messages: &serde_json::Value,
    tools: &serde_json::Value,
) -> Result<TurnResult, String> {
    let start = Instant::now();
    let req = greedy_request(
        Prompt::Chat {
            messages: messages.clone(),
            tools: Some(tools.clone()),
            add_generation_prompt: true,
            template_kwargs: Default::default(),
        },
        48,
    );
    let gen = engine.generate(req).await.map_err(|e| e.to_string())?;
    let (mut ttft, mut reply, mut cached) = (None, String::new(), 0);
    while let Ok(ev) = gen.events.recv_async().await {
        match ev {
            StreamEvent::Delta {
                text, token_ids, ..
            } => {
                if !token_ids.is_empty() {
                    ttft.get_or_insert(start.elapsed());
                }
                reply.push_str(&text);
            }
            StreamEvent::Finished { cached_tokens, .. } => {
                cached = cached_tokens;
                break;
            }
            StreamEvent::Failed { message } => return Err(message),
            StreamEvent::QueueTimedOut { waited, .. } => {
                return Err(format!("waited {waited:?} in the queue and was dropped"))
            }
        }
    }
    Ok(TurnResult {
        ttft: ttft.ok_or("no token generated")?,
        prompt_tokens: gen.prompt_tokens,
        cached_tokens: cached,
        reply,
    })
}

/// Per-turn averages over sessions: (mean TTFT, prompt tokens, cached tokens).
pub type TurnStats = Vec<(Duration, usize, usize)>;

/// Simulated coding-agent sessions: each resends its whole conversation
/// every turn (system prompt, tools, earlier turns). Sessions run one
/// after another so TTFT measures prefill, not queueing.
pub async fn run_agent_sessions(
    engine: &EngineHandle,
    sessions: usize,
    turns: usize,
) -> Result<TurnStats, String> {
    let system = agent_system_prompt();
    let tools = agent_tools();
    let mut sums = vec![(Duration::ZERO, 0usize, 0usize); turns];
    for s in 0..sessions {
        let mut messages = vec![serde_json::json!({"role": "system", "content": system})];
        for (t, sum) in sums.iter_mut().enumerate() {
            messages.push(serde_json::json!({"role": "user",
                "content": format!("Session {s}, step {t}: look at src/module_{t}.rs and tell me what the function on line {} does.", 10 * t + s)}));
            let r = agent_turn(engine, &serde_json::Value::Array(messages.clone()), &tools).await?;
            messages.push(serde_json::json!({"role": "assistant", "content": r.reply}));
            sum.0 += r.ttft;
            sum.1 += r.prompt_tokens;
            sum.2 += r.cached_tokens;
        }
    }
    Ok(sums
        .into_iter()
        .map(|(d, p, c)| (d / sessions as u32, p / sessions, c / sessions))
        .collect())
}
