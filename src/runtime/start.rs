//! Start-up: resolve the model directory (the built-in demo when none is
//! given), load the tokenizer and the runner, size the KV cache, and spawn
//! the scheduler actor. What comes out is an [`EngineHandle`].

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::backend::cpu::CpuBackend;
use crate::backend::KvDtype;
use crate::engine::sched::SchedulerConfig;
use crate::metrics::Metrics;
use crate::model::decoder::kv_bytes_per_block;
pub use crate::model::decoder::LoadOptions;
use crate::model::{Decoder, ModelConfig, ModelError};
use crate::parse::{OutputFormats, ReasoningFormat, ToolFormat};
use crate::runner::sim::{SimMode, SimRunner, SimScript, SimSpeed};
use crate::runner::ModelRunner;
use crate::runtime::handle::{EngineHandle, EngineShared};
use crate::runtime::scheduler_actor::{SchedulerActor, SchedulerArgs};
use crate::tokenize::Tokenizer;

/// Which runner computes the steps.
#[derive(Clone, Debug, PartialEq)]
pub enum RunnerKind {
    /// Real arithmetic on the CPU.
    Cpu(LoadOptions),
    /// No arithmetic: scripted, echoed or random tokens at a modelled speed.
    Sim {
        /// `echo`, `random` or `script`.
        mode: String,
        /// The rules file for `script`.
        script: Option<PathBuf>,
        /// The modelled speed.
        speed: SimSpeed,
    },
    /// A runner the caller builds (a test's fault-injecting backend; later a
    /// runner that forwards steps to a remote worker).
    Custom(RunnerFactory),
}

/// What a [`RunnerFactory`] is told: the model and the KV cache's size.
pub struct RunnerSpec<'a> {
    /// The model directory.
    pub dir: &'a Path,
    /// Its parsed `config.json`.
    pub model: &'a ModelConfig,
    /// KV blocks to allocate.
    pub num_blocks: usize,
    /// Tokens per block.
    pub block_size: usize,
}

/// Builds a caller's own [`ModelRunner`] at start-up (called once, on a
/// blocking thread).
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct RunnerFactory(
    pub Arc<dyn Fn(RunnerSpec<'_>) -> Result<Box<dyn ModelRunner>, String> + Send + Sync>,
);

impl std::fmt::Debug for RunnerFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunnerFactory")
    }
}

impl PartialEq for RunnerFactory {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Everything start-up needs (the `serve` flags).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// A Hugging Face model directory; None serves the built-in demo model.
    pub model: Option<PathBuf>,
    /// Name clients must send as `model` (default: the directory's name).
    pub served_model_name: Option<String>,
    /// Runner.
    pub runner: RunnerKind,
    /// KV cache size in GiB (default: a share of free memory).
    pub kv_cache_gib: Option<f64>,
    /// KV cache size in blocks (wins over `kv_cache_gib`).
    pub num_kv_blocks: Option<usize>,
    /// Tokens per KV block.
    pub block_size: usize,
    /// Most sequences per step.
    pub max_num_seqs: usize,
    /// Most tokens per step.
    pub max_num_batched_tokens: usize,
    /// Context window override (never above the model's).
    pub max_model_len: Option<usize>,
    /// Where the demo model is written.
    pub cache_dir: PathBuf,
    /// Automatic prefix caching (on by default; `--no-prefix-caching`).
    pub prefix_caching: bool,
    /// `auto` (from the chat template), `none` or `hermes`.
    pub tool_call_parser: String,
    /// `auto` (from the chat template), `none` or `think`.
    pub reasoning_parser: String,
    /// A Jinja file that replaces the model's chat template(s)
    /// (`--chat-template`); the output parsers are then detected from it.
    pub chat_template: Option<PathBuf>,
    /// Admission and backpressure limits.
    pub limits: crate::runtime::ServingLimits,
}

/// Why the engine could not start (the `serve` command prints it and exits non-zero).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The model directory is unusable.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The tokenizer files are unusable.
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenize::TokenizeError),
    /// A flag is out of range.
    #[error("{0}")]
    Config(String),
    /// The `--chat-template` file cannot be read or does not compile.
    #[error("--chat-template {}: {reason}", path.display())]
    ChatTemplate {
        /// The file as given.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The actors could not start.
    #[error("cannot start the engine: {0}")]
    Runtime(String),
}

/// Bytes of memory the OS reports as available (Linux), if known.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Blocks for the KV cache: from the flags, else a quarter of free memory
/// (between 256 MiB and 8 GiB).
fn kv_blocks(cfg: &EngineConfig, bytes_per_block: usize) -> usize {
    if let Some(n) = cfg.num_kv_blocks {
        return n;
    }
    let bytes = match cfg.kv_cache_gib {
        Some(g) => (g * (1u64 << 30) as f64) as u64,
        None => {
            let avail = mem_available().unwrap_or(4 << 30);
            (avail / 4).clamp(256 << 20, 8 << 30)
        }
    };
    (bytes / bytes_per_block.max(1) as u64) as usize
}

/// Start an engine.
pub async fn start(cfg: EngineConfig) -> Result<EngineHandle, StartError> {
    if cfg.block_size == 0 || cfg.max_num_seqs == 0 || cfg.max_num_batched_tokens == 0 {
        return Err(StartError::Config(
            "--block-size, --max-num-seqs and --max-num-batched-tokens must be positive".into(),
        ));
    }
    // Read before the demo model is generated, so a wrong path fails at once.
    let chat_template = match &cfg.chat_template {
        Some(path) => Some((path, read_chat_template(path)?)),
        None => None,
    };
    let dir = match &cfg.model {
        Some(d) => d.clone(),
        None => {
            let cache = cfg.cache_dir.clone();
            tokio::task::spawn_blocking(move || crate::model::demo::ensure_demo_model(&cache))
                .await
                .map_err(|e| StartError::Runtime(e.to_string()))??
        }
    };
    let name = cfg.served_model_name.clone().unwrap_or_else(|| {
        if cfg.model.is_none() {
            crate::model::demo::DEMO_MODEL_NAME.to_string()
        } else {
            // A GGUF file is named without its extension.
            let n = if crate::model::gguf::is_gguf(&dir) {
                dir.file_stem()
            } else {
                dir.file_name()
            };
            n.map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into())
        }
    });
    let model_cfg = ModelConfig::from_path(&dir)?;
    let mut tokenizer = load_tokenizer(&dir)?;
    if let Some((path, source)) = chat_template {
        tokenizer
            .replace_chat_template(&source)
            .map_err(|e| StartError::ChatTemplate {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        tracing::info!(path = %path.display(), "chat template replaced");
    }
    let tokenizer = Arc::new(tokenizer);
    // The sim and custom runners hold no cache of their own: size theirs
    // as an f32 one.
    let kv_dtype = match &cfg.runner {
        RunnerKind::Cpu(opts) => opts.kv_dtype(&model_cfg),
        _ => KvDtype::F32,
    };
    let bytes_per_block = kv_bytes_per_block(&model_cfg, cfg.block_size, kv_dtype);
    let num_blocks = kv_blocks(&cfg, bytes_per_block);
    let mut max_model_len = cfg
        .max_model_len
        .unwrap_or(model_cfg.max_position_embeddings)
        .min(model_cfg.max_position_embeddings);
    let capacity = num_blocks * cfg.block_size;
    if capacity < max_model_len {
        tracing::warn!(
            capacity,
            max_model_len,
            "the KV cache holds fewer tokens than the context window; lowering max_model_len"
        );
        max_model_len = capacity;
    }
    if max_model_len < 2 {
        return Err(StartError::Config(format!(
            "the KV cache ({num_blocks} blocks of {}) is too small for any request",
            cfg.block_size
        )));
    }
    let runner = build_runner(&cfg, &dir, &model_cfg, &tokenizer, num_blocks).await?;
    tracing::info!(
        model = %name,
        dir = %dir.display(),
        runner = ?cfg.runner,
        num_blocks,
        block_size = cfg.block_size,
        kv_cache_mib = (num_blocks * bytes_per_block) >> 20,
        kv_cache_dtype = kv_dtype.name(),
        max_model_len,
        isa = CpuBackend::isa_name(),
        "engine ready"
    );
    let output_formats = output_formats(&cfg, &tokenizer)?;
    let metrics = Arc::new(Metrics::new(&name));
    let scheduler = SchedulerActor::spawn_dedicated(SchedulerArgs {
        config: SchedulerConfig {
            max_num_seqs: cfg.max_num_seqs,
            max_num_batched_tokens: cfg.max_num_batched_tokens,
            max_model_len,
        },
        num_blocks,
        block_size: cfg.block_size,
        prefix_caching: cfg.prefix_caching,
        runner,
        metrics: metrics.clone(),
    })
    .await
    .map_err(|e| StartError::Runtime(e.to_string()))?;
    let handle = EngineHandle {
        inner: Arc::new(EngineShared {
            model_name: name,
            max_model_len,
            guidance: crate::engine::guided::Guidance::new(tokenizer.clone()),
            tokenizer,
            metrics,
            scheduler,
            next_request_id: AtomicU64::new(1),
            output_formats,
            admission: crate::runtime::admission::Admission::new(&cfg.limits),
            limits: cfg.limits.clone(),
        }),
    };
    // The grammar compiler's token trie, built before the first constrained
    // request needs it.
    let warm = handle.clone();
    tokio::task::spawn_blocking(move || warm.inner.guidance.warm());
    Ok(handle)
}

/// The tokenizer of a model path. For a GGUF file: the Hugging Face
/// tokenizer files beside it when they are there (as vLLM's `--tokenizer`),
/// with the file's chat template when they carry none; else the tokenizer
/// the file's own metadata describes (`tokenize::gguf_vocab`).
fn load_tokenizer(path: &Path) -> Result<Tokenizer, StartError> {
    if !crate::model::gguf::is_gguf(path) {
        return Ok(Tokenizer::from_dir(path)?);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let open = || crate::model::gguf::GgufFile::open(path);
    if !dir.join("tokenizer.json").exists() {
        return Tokenizer::from_gguf(&open()?).map_err(|e| {
            StartError::Config(format!(
                "{e}; put the model's tokenizer.json and tokenizer_config.json (from its \
                 Hugging Face repository) beside the file instead"
            ))
        });
    }
    let mut tokenizer = Tokenizer::from_dir(dir)?;
    if tokenizer.chat_template().is_none() {
        let g = open()?;
        if let Some(t) = g.get("tokenizer.chat_template").and_then(|v| v.as_str()) {
            tokenizer
                .replace_chat_template(t)
                .map_err(|e| StartError::ChatTemplate {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
        }
    }
    Ok(tokenizer)
}

/// The text of a `--chat-template` file.
fn read_chat_template(path: &Path) -> Result<String, StartError> {
    std::fs::read_to_string(path).map_err(|e| StartError::ChatTemplate {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The tool-call and reasoning formats: detected from the chat template
/// unless the flags name one.
fn output_formats(cfg: &EngineConfig, tokenizer: &Tokenizer) -> Result<OutputFormats, StartError> {
    let detected = tokenizer
        .chat_template()
        .map(|t| crate::parse::detect(t.source()))
        .unwrap_or(OutputFormats::NONE);
    let tools = match cfg.tool_call_parser.as_str() {
        "auto" => detected.tools,
        "none" => ToolFormat::None,
        "hermes" | "qwen" => ToolFormat::Hermes,
        "llama3_json" | "llama3" => ToolFormat::Llama3,
        "mistral" => ToolFormat::Mistral,
        "qwen3_coder" => ToolFormat::Qwen3Coder,
        "deepseek_v3" | "deepseek_v31" | "deepseek" => ToolFormat::DeepSeek,
        "openai" | "harmony" => ToolFormat::Harmony,
        "kimi_k2" => ToolFormat::KimiK2,
        "glm45" | "glm4_moe" => ToolFormat::Glm,
        other => {
            return Err(StartError::Config(format!(
                "unknown --tool-call-parser `{other}` (auto, none, hermes, llama3_json, mistral, qwen3_coder, deepseek_v3, deepseek_v31, openai, kimi_k2, glm45)"
            )))
        }
    };
    let reasoning = match cfg.reasoning_parser.as_str() {
        "auto" => detected.reasoning,
        "none" => ReasoningFormat::None,
        "think" | "deepseek_r1" | "qwen3" | "glm45" | "kimi_k2" => ReasoningFormat::Think,
        "openai_gptoss" | "openai" | "harmony" => ReasoningFormat::Harmony,
        other => {
            return Err(StartError::Config(format!(
                "unknown --reasoning-parser `{other}` (auto, none, think, openai_gptoss)"
            )))
        }
    };
    Ok(OutputFormats { tools, reasoning })
}

async fn build_runner(
    cfg: &EngineConfig,
    dir: &Path,
    model_cfg: &ModelConfig,
    tokenizer: &Arc<Tokenizer>,
    num_blocks: usize,
) -> Result<Box<dyn ModelRunner>, StartError> {
    match &cfg.runner {
        RunnerKind::Cpu(opts) => {
            let dir = dir.to_path_buf();
            let mc = model_cfg.clone();
            let block_size = cfg.block_size;
            let opts = opts.clone();
            let dec = tokio::task::spawn_blocking(move || {
                Decoder::load_with(CpuBackend, &dir, mc, num_blocks, block_size, &opts)
            })
            .await
            .map_err(|e| StartError::Runtime(e.to_string()))??;
            Ok(Box::new(dec))
        }
        RunnerKind::Custom(factory) => {
            let (factory, dir, mc, block_size) = (
                factory.clone(),
                dir.to_path_buf(),
                model_cfg.clone(),
                cfg.block_size,
            );
            tokio::task::spawn_blocking(move || {
                (factory.0)(RunnerSpec {
                    dir: &dir,
                    model: &mc,
                    num_blocks,
                    block_size,
                })
            })
            .await
            .map_err(|e| StartError::Runtime(e.to_string()))?
            .map_err(StartError::Config)
        }
        RunnerKind::Sim {
            mode,
            script,
            speed,
        } => {
            let mode = match mode.as_str() {
                "echo" => SimMode::Echo,
                "random" => SimMode::Random,
                "script" => {
                    let path = script.as_ref().ok_or_else(|| {
                        StartError::Config("--sim-mode script needs --sim-script FILE".into())
                    })?;
                    SimMode::Script(
                        SimScript::from_file(path)
                            .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?,
                    )
                }
                other => {
                    return Err(StartError::Config(format!(
                        "unknown --sim-mode `{other}` (echo, random, script)"
                    )))
                }
            };
            let eos =
                tokenizer.eos_token_ids().first().copied().ok_or_else(|| {
                    StartError::Config("the sim runner needs an eos token".into())
                })?;
            let tok = tokenizer.clone();
            let encode = Box::new(move |s: &str| tok.encode(s, false).unwrap_or_default());
            // Ordinary tokens for random text: skip special and added ids.
            let vocab = model_cfg.vocab_size.min(tokenizer.vocab_size());
            let random_ids: Vec<u32> = (0..vocab as u32)
                .filter(|&id| {
                    tokenizer
                        .id_to_token(id)
                        .map(|t| !t.starts_with("<|") && !t.starts_with('<'))
                        .unwrap_or(false)
                })
                .collect();
            Ok(Box::new(SimRunner::new(
                mode,
                *speed,
                model_cfg.vocab_size,
                eos,
                encode,
                random_ids,
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim_config(chat_template: Option<PathBuf>) -> EngineConfig {
        EngineConfig {
            model: None,
            served_model_name: None,
            runner: RunnerKind::Sim {
                mode: "echo".into(),
                script: None,
                speed: SimSpeed {
                    prefill_us_per_token: 0.0,
                    decode_step_us: 100.0,
                    decode_us_per_seq: 0.0,
                },
            },
            kv_cache_gib: None,
            num_kv_blocks: Some(64),
            block_size: 16,
            max_num_seqs: 8,
            max_num_batched_tokens: 256,
            max_model_len: None,
            cache_dir: std::env::temp_dir().join("weir-test-cache"),
            prefix_caching: true,
            tool_call_parser: "auto".into(),
            reasoning_parser: "auto".into(),
            chat_template,
            limits: Default::default(),
        }
    }

    fn template_file(name: &str, source: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "weir-chat-template-{name}-{}.jinja",
            std::process::id()
        ));
        std::fs::write(&path, source).expect("write the template");
        path
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chat_template_file_replaces_the_models_and_sets_the_parsers() {
        let source = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/templates/Qwen3-Coder.jinja"),
        )
        .expect("the Qwen3-Coder template is checked in");
        let path = template_file("coder", &source);
        let engine = start(sim_config(Some(path))).await.expect("engine starts");
        let messages = serde_json::json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "read", "arguments": {"filePath": "/tmp/a.txt"}}}]},
        ]);
        let prompt = engine
            .render_chat(&messages, None, false, &serde_json::Map::new())
            .expect("renders");
        // The demo model's own template writes Hermes JSON calls; this one
        // writes Qwen3-Coder's XML.
        assert!(
            prompt.contains("<function=read>\n<parameter=filePath>\n/tmp/a.txt\n</parameter>"),
            "{prompt}"
        );
        assert_eq!(engine.inner.output_formats.tools, ToolFormat::Qwen3Coder);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missing_or_broken_chat_template_is_a_start_error_naming_the_file() {
        let missing = std::env::temp_dir().join("weir-no-such-template.jinja");
        let err = start(sim_config(Some(missing.clone())))
            .await
            .err()
            .expect("a missing file fails start-up");
        assert!(matches!(err, StartError::ChatTemplate { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("--chat-template {}: ", missing.display())),
            "{text}"
        );

        let broken = template_file("broken", "{% for m in messages %}{{ m.content }}");
        let err = start(sim_config(Some(broken.clone())))
            .await
            .err()
            .expect("a template that does not compile fails start-up");
        assert!(
            err.to_string()
                .starts_with(&format!("--chat-template {}: ", broken.display())),
            "{err}"
        );
    }
}
