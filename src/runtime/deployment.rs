//! `weir.toml`: what `weir serve --config` deploys, for reproducible
//! deployments. The models to load (each its own engine) and the projects
//! and endpoints that must exist (applied to the store at start).
//!
//! ```toml
//! [[models]]
//! name = "coder"                 # the served name (`model`)
//! path = "/models/Qwen2.5-7B-Instruct"   # a Hugging Face directory
//! max_model_len = 8192
//!
//! [[models]]
//! name = "weir-demo"             # no path: the built-in demo model
//!
//! [[models]]
//! name = "sim"
//! backend = "sim"                # no arithmetic (load tests)
//!
//! [[projects]]
//! name = "acme"
//! id = "proj_acme01"             # optional: a fixed id keeps URLs stable
//! tpm = 200000
//! [[projects.endpoints]]
//! slug = "coder"
//! model = "coder"
//! rpm = 600
//! ```
//!
//! Unknown keys are errors (a typo must not pass silently). Every engine
//! setting a model does not give comes from the `weir serve` flags.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::backend::KvDtype;
use crate::quant::QuantFormat;
use crate::runner::sim::SimSpeed;
use crate::runtime::{EngineConfig, LoadOptions, RunnerKind};

/// Why `weir.toml` is unusable.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The file cannot be read.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// One `[[models]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// The served name.
    pub name: String,
    /// A Hugging Face directory; absent: the demo model (or the sim's).
    pub path: Option<PathBuf>,
    /// `cpu` (default) or `sim`.
    pub backend: Option<String>,
    /// Quantize the weights at load (`q8_0`, `q4_k`; as `--quantize`).
    pub quantize: Option<String>,
    /// KV cache element type (`auto`, `f32`, `bf16`; as `--kv-cache-dtype`).
    pub kv_cache_dtype: Option<String>,
    /// Context window.
    pub max_model_len: Option<usize>,
    /// KV cache size in GiB.
    pub kv_cache_gib: Option<f64>,
    /// KV cache size in blocks.
    pub num_kv_blocks: Option<usize>,
    /// Most sequences per step.
    pub max_num_seqs: Option<usize>,
    /// Most tokens per step.
    pub max_num_batched_tokens: Option<usize>,
    /// A chat template file replacing the model's.
    pub chat_template: Option<PathBuf>,
    /// Tool-call parser (as `--tool-call-parser`).
    pub tool_call_parser: Option<String>,
    /// Reasoning parser (as `--reasoning-parser`).
    pub reasoning_parser: Option<String>,
    /// sim: `echo`, `random` or `script`.
    pub sim_mode: Option<String>,
    /// sim: the rules file for `script`.
    pub sim_script: Option<PathBuf>,
    /// sim: microseconds per prompt token.
    pub sim_prefill_us_per_token: Option<f64>,
    /// sim: microseconds per decode step.
    pub sim_decode_step_us: Option<f64>,
    /// sim: microseconds per sequence in a decode step.
    pub sim_decode_us_per_seq: Option<f64>,
}

/// One `[[projects.endpoints]]` entry.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EndpointEntry {
    /// The path segment.
    pub slug: String,
    /// The served model it routes to (a `[[models]]` name).
    pub model: String,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Fair-share weight.
    pub weight: Option<u32>,
    /// Other names accepted under `strict_model_name`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Refuse a `model` that is neither the model nor an alias.
    #[serde(default)]
    pub strict_model_name: bool,
}

/// One `[[projects]]` entry.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProjectEntry {
    /// The project's name.
    pub name: String,
    /// A fixed id (`proj_...`); absent: made on first start and kept.
    pub id: Option<String>,
    /// Project-wide requests per minute.
    pub rpm: Option<u64>,
    /// Project-wide tokens per minute.
    pub tpm: Option<u64>,
    /// Prefix-cache sharing group (operator opt-in).
    pub cache_group: Option<String>,
    /// Its endpoints.
    #[serde(default)]
    pub endpoints: Vec<EndpointEntry>,
}

/// Server-wide settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// Address to listen on.
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// The tenancy store.
    pub db: Option<PathBuf>,
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerEntry,
    /// `[[models]]`: at least one.
    #[serde(default)]
    pub models: Vec<ModelEntry>,
    /// `[[projects]]`.
    #[serde(default)]
    pub projects: Vec<ProjectEntry>,
}

impl Deployment {
    /// Read and check `path`.
    pub fn load(path: &Path) -> Result<Deployment, DeploymentError> {
        let text = std::fs::read_to_string(path).map_err(|e| DeploymentError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Deployment::parse(&text, &path.display().to_string())
    }

    /// Parse and check a file's text (`path` names it in errors).
    pub fn parse(text: &str, path: &str) -> Result<Deployment, DeploymentError> {
        let d: Deployment = toml::from_str(text).map_err(|e| DeploymentError::Parse {
            path: path.into(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let invalid = |message: String| DeploymentError::Invalid {
            path: path.into(),
            message,
        };
        if d.models.is_empty() {
            return Err(invalid("no [[models]]: list at least one model".into()));
        }
        let mut names = HashSet::new();
        for (i, m) in d.models.iter().enumerate() {
            if m.name.trim().is_empty() {
                return Err(invalid(format!("models[{i}].name is empty")));
            }
            if !names.insert(m.name.as_str()) {
                return Err(invalid(format!(
                    "models[{i}].name `{}` is listed twice",
                    m.name
                )));
            }
            if let Some(b) = &m.backend {
                if b != "cpu" && b != "sim" {
                    return Err(invalid(format!(
                        "models[{i}].backend `{b}`: expected `cpu` or `sim`"
                    )));
                }
            }
            if let Some(q) = &m.quantize {
                if QuantFormat::parse(q).is_none() {
                    return Err(invalid(format!(
                        "models[{i}].quantize `{q}`: expected `q8_0` or `q4_k`"
                    )));
                }
            }
            if let Some(t) = &m.kv_cache_dtype {
                if !t.eq_ignore_ascii_case("auto") && KvDtype::parse(t).is_none() {
                    return Err(invalid(format!(
                        "models[{i}].kv_cache_dtype `{t}`: expected `auto`, `f32` or `bf16`"
                    )));
                }
            }
        }
        for (i, p) in d.projects.iter().enumerate() {
            for (j, e) in p.endpoints.iter().enumerate() {
                if !names.contains(e.model.as_str()) {
                    return Err(invalid(format!(
                        "projects[{i}].endpoints[{j}].model `{}` is not a [[models]] name",
                        e.model
                    )));
                }
            }
        }
        Ok(d)
    }

    /// One engine configuration per model: the entry's settings over
    /// `base` (the `weir serve` flags).
    pub fn engine_configs(&self, base: &EngineConfig) -> Vec<EngineConfig> {
        self.models
            .iter()
            .map(|m| {
                let runner = match m.backend.as_deref() {
                    Some("sim") => {
                        let (mode, script, speed) = match &base.runner {
                            RunnerKind::Sim {
                                mode,
                                script,
                                speed,
                            } => (mode.clone(), script.clone(), *speed),
                            _ => ("echo".to_string(), None, SimSpeed::default()),
                        };
                        RunnerKind::Sim {
                            mode: m.sim_mode.clone().unwrap_or(mode),
                            script: m.sim_script.clone().or(script),
                            speed: SimSpeed {
                                prefill_us_per_token: m
                                    .sim_prefill_us_per_token
                                    .unwrap_or(speed.prefill_us_per_token),
                                decode_step_us: m
                                    .sim_decode_step_us
                                    .unwrap_or(speed.decode_step_us),
                                decode_us_per_seq: m
                                    .sim_decode_us_per_seq
                                    .unwrap_or(speed.decode_us_per_seq),
                            },
                        }
                    }
                    _ => {
                        let mut opts = match &base.runner {
                            RunnerKind::Cpu(opts) => opts.clone(),
                            _ => LoadOptions::default(),
                        };
                        if let Some(q) = m.quantize.as_deref().and_then(QuantFormat::parse) {
                            opts.quantize = Some(q);
                        }
                        if let Some(t) = &m.kv_cache_dtype {
                            opts.kv_cache_dtype = KvDtype::parse(t);
                        }
                        RunnerKind::Cpu(opts)
                    }
                };
                EngineConfig {
                    model: m.path.clone(),
                    served_model_name: Some(m.name.clone()),
                    runner,
                    kv_cache_gib: m.kv_cache_gib.or(base.kv_cache_gib),
                    num_kv_blocks: m.num_kv_blocks.or(base.num_kv_blocks),
                    block_size: base.block_size,
                    max_num_seqs: m.max_num_seqs.unwrap_or(base.max_num_seqs),
                    max_num_batched_tokens: m
                        .max_num_batched_tokens
                        .unwrap_or(base.max_num_batched_tokens),
                    max_model_len: m.max_model_len.or(base.max_model_len),
                    cache_dir: base.cache_dir.clone(),
                    prefix_caching: base.prefix_caching,
                    tool_call_parser: m
                        .tool_call_parser
                        .clone()
                        .unwrap_or_else(|| base.tool_call_parser.clone()),
                    reasoning_parser: m
                        .reasoning_parser
                        .clone()
                        .unwrap_or_else(|| base.reasoning_parser.clone()),
                    chat_template: m.chat_template.clone().or(base.chat_template.clone()),
                    limits: base.limits.clone(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[server]
port = 9000

[[models]]
name = "demo"

[[models]]
name = "fast"
backend = "sim"
sim_decode_step_us = 500.0

[[projects]]
name = "acme"
id = "proj_acme01"
tpm = 200000
[[projects.endpoints]]
slug = "coder"
model = "fast"
rpm = 600
weight = 2
"#;

    fn base() -> EngineConfig {
        EngineConfig {
            model: None,
            served_model_name: None,
            runner: RunnerKind::Cpu(Default::default()),
            kv_cache_gib: None,
            num_kv_blocks: Some(64),
            block_size: 16,
            max_num_seqs: 8,
            max_num_batched_tokens: 256,
            max_model_len: None,
            cache_dir: std::env::temp_dir(),
            prefix_caching: true,
            tool_call_parser: "auto".into(),
            reasoning_parser: "auto".into(),
            chat_template: None,
            limits: Default::default(),
        }
    }

    #[test]
    fn the_example_parses_into_engines_and_projects() {
        let d = Deployment::parse(EXAMPLE, "weir.toml").unwrap();
        assert_eq!(d.server.port, Some(9000));
        let engines = d.engine_configs(&base());
        assert_eq!(engines.len(), 2);
        assert_eq!(engines[0].served_model_name.as_deref(), Some("demo"));
        assert!(matches!(engines[0].runner, RunnerKind::Cpu(_)));
        match &engines[1].runner {
            RunnerKind::Sim { speed, .. } => assert_eq!(speed.decode_step_us, 500.0),
            _ => panic!("the second model runs on the sim"),
        }
        assert_eq!(d.projects[0].endpoints[0].weight, Some(2));
    }

    #[test]
    fn mistakes_name_the_key() {
        let typo = EXAMPLE.replace("rpm = 600", "rpn = 600");
        let e = Deployment::parse(&typo, "weir.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rpn"), "{e}");
        let unknown = EXAMPLE.replace("model = \"fast\"", "model = \"nope\"");
        let e = Deployment::parse(&unknown, "weir.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("projects[0].endpoints[0].model `nope`"), "{e}");
        let twice = "[[models]]\nname = \"a\"\n[[models]]\nname = \"a\"\n";
        let e = Deployment::parse(twice, "weir.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed twice"), "{e}");
        let e = Deployment::parse("", "weir.toml").unwrap_err().to_string();
        assert!(e.contains("no [[models]]"), "{e}");
        let fp8 = EXAMPLE.replace(
            "name = \"demo\"",
            "name = \"demo\"\nkv_cache_dtype = \"fp8\"",
        );
        let e = Deployment::parse(&fp8, "weir.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("models[0].kv_cache_dtype `fp8`"), "{e}");
    }

    #[test]
    fn a_model_s_kv_cache_dtype_overrides_the_flag() {
        let toml = EXAMPLE.replace(
            "name = \"demo\"",
            "name = \"demo\"\nkv_cache_dtype = \"bf16\"",
        );
        let d = Deployment::parse(&toml, "weir.toml").unwrap();
        let mut b = base();
        b.runner = RunnerKind::Cpu(LoadOptions {
            kv_cache_dtype: Some(KvDtype::F32),
            ..Default::default()
        });
        match &d.engine_configs(&b)[0].runner {
            RunnerKind::Cpu(o) => assert_eq!(o.kv_cache_dtype, Some(KvDtype::Bf16)),
            _ => panic!("the first model runs on the CPU"),
        }
    }
}
