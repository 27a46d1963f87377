//! `weir serve`: flags -> [`EngineConfig`], start the engine, serve HTTP
//! until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use weir::api::responses::retention::{self, Retention};
use weir::api::AppState;
use weir::backend::KvDtype;
use weir::quant::QuantFormat;
use weir::runner::sim::SimSpeed;
use weir::runtime::deployment::Deployment;
use weir::runtime::{EngineConfig, LoadOptions, RunnerKind, ServingLimits};
use weir::tenancy::service::Tenancy;

use crate::{async_runtime, default_cache_dir};

#[derive(Args)]
pub struct ServeArgs {
    /// A `weir.toml` listing the models to load (each its own engine) and
    /// the projects and endpoints to declare (docs/tenancy.md). Flags give
    /// the defaults of every engine setting a model does not set.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The tenancy store (SQLite; made by `weir admin init`). Auth is on as
    /// soon as it holds a key; without one the server is open.
    #[arg(long, env = "WEIR_DB", value_name = "PATH")]
    db: Option<PathBuf>,
    /// A Hugging Face model directory (config.json, *.safetensors, tokenizer.json).
    /// Without it, weir serves its built-in demo model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The name clients send as `model` (default: the directory's name, or `weir-demo`).
    #[arg(long)]
    served_model_name: Option<String>,
    /// Address to listen on (default 127.0.0.1, or the config's).
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on (default 8000, or the config's).
    #[arg(long)]
    port: Option<u16>,
    /// `cpu` (real arithmetic) or `sim` (no arithmetic; for load and client tests).
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Quantize the weights at load: `q8_0` (8.5 bits a weight) or `q4_k`
    /// (4.5; matrices whose width is not a multiple of 256 get q8_0, as
    /// llama.cpp falls back). Decode reads half or a quarter of bf16's bytes.
    #[arg(long, value_name = "FORMAT")]
    quantize: Option<String>,
    /// KV cache element type: `f32`, `bf16` (half the memory: twice the
    /// tokens fit) or `auto` (bf16 for quantized weights, f32 otherwise).
    #[arg(long, default_value = "auto", value_name = "DTYPE")]
    kv_cache_dtype: String,
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
    /// `qwen3_coder` (Qwen3-Coder `<function=...>` XML calls),
    /// `deepseek_v3` / `deepseek_v31` (DeepSeek V3, R1, V3.1
    /// `<｜tool▁calls▁begin｜>`), `openai` (gpt-oss harmony
    /// `to=functions.NAME` messages), `kimi_k2` (Kimi K2
    /// `<|tool_calls_section_begin|>`) or `glm45` (GLM-4.5 / 4.6
    /// `<tool_call>NAME<arg_key>...`).
    #[arg(long, default_value = "auto")]
    tool_call_parser: String,
    /// Reasoning format: `auto` (detected from the chat template), `none`,
    /// `think` (`<think>...</think>`, DeepSeek-R1 / Qwen3 / QwQ / GLM /
    /// Kimi K2 Thinking; also `glm45`, `kimi_k2`) or `openai_gptoss`
    /// (gpt-oss harmony `analysis` messages).
    #[arg(long, default_value = "auto")]
    reasoning_parser: String,
    /// A Jinja chat template file that replaces the model's own (vLLM's
    /// flag); the `auto` parsers are then detected from it.
    #[arg(long, value_name = "FILE")]
    chat_template: Option<PathBuf>,
    /// Requests accepted but not yet running (rendering, tokenizing or
    /// queued for the scheduler) before one more is refused with 503 and
    /// `retry-after`.
    #[arg(long, default_value_t = ServingLimits::default().max_waiting_requests)]
    max_waiting_requests: usize,
    /// Seconds a request may wait to start before it is refused with 503
    /// (0: wait for ever).
    #[arg(long, default_value_t = 600.0)]
    queue_timeout: f64,
    /// Seconds a stream's client may read nothing before it is
    /// disconnected and its sequence freed.
    #[arg(long, default_value_t = 60.0)]
    stream_stall_timeout: f64,
    /// How long the Responses API keeps a stored response (90d, 24h, 30m,
    /// 45s).
    #[arg(long, default_value = "30d")]
    responses_max_age: String,
    /// Most stored responses a project keeps (its newest).
    #[arg(long, default_value_t = Retention::default().max_per_project)]
    responses_max_per_project: usize,
    /// How often stored responses past retention are deleted (a duration).
    #[arg(long, default_value = "60s")]
    responses_sweep_every: String,
}

/// Seconds from a flag as a duration; `name` for the error.
fn seconds(name: &str, s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("{name}: {s} is not a number of seconds"))
}

/// The `--quantize` flag's format.
pub(crate) fn quantize_flag(v: Option<&str>) -> Result<Option<QuantFormat>, String> {
    v.map(|s| {
        QuantFormat::parse(s)
            .ok_or_else(|| format!("--quantize: unknown format `{s}` (q8_0, q4_k)"))
    })
    .transpose()
}

/// The `--kv-cache-dtype` flag: `None` for `auto`.
pub(crate) fn kv_cache_dtype_flag(v: &str) -> Result<Option<KvDtype>, String> {
    if v.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    KvDtype::parse(v)
        .map(Some)
        .ok_or_else(|| format!("--kv-cache-dtype: unknown type `{v}` (auto, f32, bf16)"))
}

/// Runs `weir serve` to completion.
pub fn run(args: ServeArgs) -> Result<(), String> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| format!("--threads: {e}"))?;
    }
    let runner = match args.backend.as_str() {
        "cpu" => RunnerKind::Cpu(LoadOptions {
            quantize: quantize_flag(args.quantize.as_deref())?,
            kv_cache_dtype: kv_cache_dtype_flag(&args.kv_cache_dtype)?,
        }),
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
    let deployment = match &args.config {
        Some(path) => Some(Deployment::load(path).map_err(|e| e.to_string())?),
        None => None,
    };
    if deployment.is_some() && (args.model.is_some() || args.served_model_name.is_some()) {
        return Err("--config lists the models: drop --model / --served-model-name".into());
    }
    let server = deployment
        .as_ref()
        .map(|d| d.server.clone())
        .unwrap_or_default();
    let host = args
        .host
        .clone()
        .or(server.host)
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = args.port.or(server.port).unwrap_or(8000);
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(|e| format!("--host/--port: {e}"))?;
    let db = args
        .db
        .clone()
        .or(server.db)
        .unwrap_or_else(weir::tenancy::store::default_db_path);
    if args.max_waiting_requests == 0 {
        return Err("--max-waiting-requests must be at least 1".into());
    }
    let queue_timeout = seconds("--queue-timeout", args.queue_timeout)?;
    let duration = |flag: &str, text: &str| {
        weir::tenancy::admin::parse_duration(text)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("{flag}: {text:?} is not a duration like 30d, 24h, 30m or 45s"))
    };
    let retention = Retention {
        max_age: duration("--responses-max-age", &args.responses_max_age)?,
        max_per_project: args.responses_max_per_project,
        sweep_every: duration("--responses-sweep-every", &args.responses_sweep_every)?,
    };
    let limits = ServingLimits {
        max_waiting_requests: args.max_waiting_requests,
        queue_timeout: (!queue_timeout.is_zero()).then_some(queue_timeout),
        stream_stall_timeout: seconds("--stream-stall-timeout", args.stream_stall_timeout)?,
        ..ServingLimits::default()
    };
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
        chat_template: args.chat_template,
        limits,
    };
    let configs = match &deployment {
        Some(d) => {
            declare(d, &db)?;
            d.engine_configs(&cfg)
        }
        None => vec![cfg],
    };
    let rt = async_runtime()?;
    rt.block_on(async move {
        let mut engines = Vec::with_capacity(configs.len());
        for cfg in configs {
            engines.push(weir::runtime::start(cfg).await.map_err(|e| e.to_string())?);
        }
        let tenancy = Tenancy::watch(db.clone());
        tracing::info!(db = %db.display(), "tenancy store (auth is on once it holds a key)");
        let state = AppState::new(engines, tenancy);
        tokio::spawn(retention::sweep_forever(state.clone(), retention));
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        };
        tracing::info!(%addr, "listening");
        weir::api::serve(state, addr, shutdown)
            .await
            .map_err(|e| format!("server on {addr}: {e}"))
    })
}

/// Apply the config's `[[projects]]` to the store at `db` (made if
/// missing), so the declared projects and endpoints exist before the first
/// request. What exists already is kept as it is (`weir admin` changes it).
fn declare(d: &Deployment, db: &std::path::Path) -> Result<(), String> {
    use std::sync::Arc;
    use weir::tenancy::admin::{self, Admin, EndpointSpec};
    use weir::tenancy::{Project, ProjectId, RateLimits};
    if d.projects.is_empty() {
        return Ok(());
    }
    let err = |e: &dyn std::fmt::Display| {
        format!("declaring the config's projects in {}: {e}", db.display())
    };
    let store = Arc::new(weir::tenancy::store::Store::open(db).map_err(|e| err(&e))?);
    let admin = Admin::new(store.clone(), weir::tenancy::keys::secret_path(db));
    for p in &d.projects {
        let existing = match &p.id {
            Some(id) => store.project(&ProjectId(id.clone())).map_err(|e| err(&e))?,
            None => store.project_by_name(&p.name).map_err(|e| err(&e))?,
        };
        let project = match existing {
            Some(project) => project,
            None => {
                admin::validate_name("project name", &p.name).map_err(|e| err(&e))?;
                let id = match &p.id {
                    Some(id) => {
                        let ok = id.strip_prefix("proj_").is_some_and(|r| {
                            !r.is_empty()
                                && r.len() <= 32
                                && r.bytes().all(|b| b.is_ascii_alphanumeric())
                        });
                        if !ok {
                            return Err(err(&format!(
                                "project id `{id}`: expected proj_ and 1 to 32 letters or digits"
                            )));
                        }
                        ProjectId(id.clone())
                    }
                    None => weir::tenancy::keys::new_project_id().map_err(|e| err(&e))?,
                };
                let project = Project {
                    id,
                    name: p.name.clone(),
                    limits: RateLimits {
                        rpm: p.rpm,
                        tpm: p.tpm,
                    },
                    cache_group: p.cache_group.clone(),
                    created_at: chrono::Utc::now().timestamp(),
                };
                store.insert_project(&project).map_err(|e| err(&e))?;
                tracing::info!(project = %project.id, name = %project.name, "declared project created");
                project
            }
        };
        let have = store.endpoints(Some(&project.id)).map_err(|e| err(&e))?;
        for e in &p.endpoints {
            if have.iter().any(|h| h.slug == e.slug) {
                continue;
            }
            admin
                .create_endpoint(&EndpointSpec {
                    project: project.id.0.clone(),
                    slug: e.slug.clone(),
                    model: e.model.clone(),
                    aliases: e.aliases.clone(),
                    limits: RateLimits {
                        rpm: e.rpm,
                        tpm: e.tpm,
                    },
                    weight: e.weight.unwrap_or(1),
                    strict_model_name: e.strict_model_name,
                })
                .map_err(|e| err(&e))?;
        }
    }
    Ok(())
}
