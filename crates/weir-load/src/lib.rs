//! `weir load`: how many concurrent coding-agent sessions does an endpoint
//! hold? A load generator that speaks only HTTP (streamed OpenAI chat
//! completions), so it measures weir, vLLM, SGLang, llama.cpp's server or a
//! hosted endpoint alike.
//!
//! - [`profile`]: what a session sends (OpenCode-shaped system prompt and
//!   tools, scripted tasks, think times); [`workspace`]: the synthetic
//!   repository that answers tool calls.
//! - [`session`]: one agent session, turn by turn; [`client`]: one streamed
//!   request, timed from its intended send time.
//! - [`driver`]: closed loop, open loop, live display; [`trace`]: Mooncake
//!   trace replay.
//! - [`stats`]: HDR histograms into a [`report::RunReport`]; [`selfcheck`]:
//!   is the client the bottleneck?
//! - [`report`], [`summary`], [`html`] (+ [`chart`]: plotters SVG): the results as
//!   JSON, text and offline HTML;
//!   `weir load compare` diffs two JSON reports.

pub mod body;
pub mod chart;
pub mod client;
pub mod driver;
pub mod html;
pub mod interrupt;
pub mod profile;
pub mod report;
pub mod selfcheck;
pub mod session;
pub mod stats;
pub mod summary;
pub mod trace;
pub mod workspace;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use client::{Endpoint, TokenCounter};
use driver::Timing;
pub use interrupt::{Stop, StopLevel};
use profile::Profile;
use report::{Report, RunReport, SearchReport};
use session::{RequestOptions, SessionContext};
use stats::{Recorder, Slo};
use workspace::Workspace;

/// Everything a `weir load` run is told (the CLI's flags after defaults).
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Base URL including `/v1` (as OpenAI SDKs take it).
    pub base_url: String,
    /// Bearer key (never written to reports or logs).
    pub api_key: Option<String>,
    /// `model` to request.
    pub model: String,
    /// Closed loop: concurrent sessions; several values make a sweep.
    pub sessions: Vec<usize>,
    /// Open loop: session arrivals per second.
    pub rate: Option<f64>,
    /// Open loop: most sessions at once (arrivals wait; the wait counts).
    pub max_concurrency: Option<usize>,
    /// Measured time per level; None: each session runs once.
    pub duration: Option<Duration>,
    /// Requests per session (default: the profile's).
    pub turns_per_session: Option<usize>,
    /// Spread session starts over this long.
    pub ramp_up: Duration,
    /// Warm-up excluded from statistics (default: a sixth of `duration`).
    pub warmup: Option<Duration>,
    /// `opencode`, `chat` or a TOML file.
    pub profile: String,
    /// Replay this Mooncake JSONL trace instead of sessions.
    pub trace: Option<PathBuf>,
    /// Tokens per trace hash block.
    pub trace_block_size: usize,
    /// Trace time divisor (2 = twice as fast).
    pub trace_speedup: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Override the profile's `max_tokens`.
    pub max_tokens: Option<u32>,
    /// Override the profile's temperature.
    pub temperature: Option<f64>,
    /// Think-time multiplier (0: none).
    pub think_scale: f64,
    /// Chat completions, or the Responses API (chained or stateless).
    pub api: client::Api,
    /// Ask for `stream_options.continuous_usage_stats` (chat only).
    pub continuous_usage: bool,
    /// Send `ignore_eos: true`.
    pub ignore_eos: bool,
    /// `tokenizer.json` to count tokens when the server sends no running usage.
    pub tokenizer: Option<PathBuf>,
    /// `--slo` text.
    pub slo: Option<String>,
    /// Search for the most sessions meeting the SLO.
    pub find_max_sessions: bool,
    /// Upper bound for the search.
    pub max_sessions: usize,
    /// Per-request limit.
    pub request_timeout: Duration,
    /// No live display.
    pub quiet: bool,
}

impl LoadConfig {
    /// The configuration as the report records it (no API key).
    pub fn to_json(&self) -> serde_json::Value {
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        json!({
            "base_url": self.base_url,
            "api_key": self.api_key.as_ref().map(|_| "(set, not recorded)"),
            "model": self.model,
            "sessions": self.sessions,
            "rate": self.rate,
            "max_concurrency": self.max_concurrency,
            "duration_s": secs(self.duration),
            "turns_per_session": self.turns_per_session,
            "ramp_up_s": self.ramp_up.as_secs_f64(),
            "warmup_s": secs(self.warmup),
            "profile": self.profile,
            "trace": self.trace,
            "trace_block_size": self.trace_block_size,
            "trace_speedup": self.trace_speedup,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "think_scale": self.think_scale,
            "api": self.api.as_str(),
            "continuous_usage_stats": self.continuous_usage,
            "ignore_eos": self.ignore_eos,
            "tokenizer": self.tokenizer,
            "slo": self.slo,
            "find_max_sessions": self.find_max_sessions,
            "max_sessions": self.max_sessions,
            "request_timeout_s": self.request_timeout.as_secs_f64(),
        })
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A flag or file is wrong.
    #[error("{0}")]
    Config(String),
    /// The profile could not be loaded.
    #[error(transparent)]
    Profile(#[from] profile::ProfileError),
    /// The trace could not be read.
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
}

/// Everything the levels of one invocation share.
struct Setup {
    endpoint: Endpoint,
    options: RequestOptions,
    profile: Arc<Profile>,
    workspace: Arc<Workspace>,
    counter: Option<Arc<TokenCounter>>,
    seed: u64,
    timing: Timing,
    slo: Option<Slo>,
    quiet: bool,
    stop: Stop,
}

impl Setup {
    fn context(&self, recorder: Arc<Recorder>, deadline: Option<Instant>) -> SessionContext {
        SessionContext {
            endpoint: self.endpoint.clone(),
            options: self.options.clone(),
            profile: self.profile.clone(),
            workspace: self.workspace.clone(),
            recorder,
            counter: self.counter.clone(),
            seed: self.seed,
            deadline,
            stop: self.stop.clone(),
        }
    }

    async fn closed(&self, sessions: usize) -> RunReport {
        driver::closed_loop(
            |r, d| self.context(r, d),
            sessions,
            self.timing,
            self.slo.clone(),
            self.quiet,
            &self.stop,
        )
        .await
    }
}

/// Runs what the configuration asks and returns the report; `stop` ends it
/// early with what was measured so far (see [`Stop`]).
pub async fn run(cfg: &LoadConfig, stop: Stop) -> Result<Report, LoadError> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let profile = Profile::load(&cfg.profile)?;
    let slo = cfg
        .slo
        .as_deref()
        .map(Slo::parse)
        .transpose()
        .map_err(LoadError::Config)?;
    if cfg.find_max_sessions && slo.is_none() {
        return Err(LoadError::Config("--find-max-sessions needs --slo".into()));
    }
    if cfg.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(LoadError::Config(
            "--rate must be a positive number of sessions per second".into(),
        ));
    }
    if cfg.rate.is_some() && cfg.duration.is_none() {
        return Err(LoadError::Config(
            "--rate (open loop) needs --duration".into(),
        ));
    }
    if cfg.sessions.contains(&0) {
        return Err(LoadError::Config("--sessions must be at least 1".into()));
    }
    let counter = match &cfg.tokenizer {
        None => None,
        Some(path) => {
            let tok = tokenizers::Tokenizer::from_file(path)
                .map_err(|e| LoadError::Config(format!("--tokenizer {}: {e}", path.display())))?;
            let count = move |s: &str| tok.encode(s, false).map_or(1, |e| e.len());
            Some(Arc::new(count) as Arc<TokenCounter>)
        }
    };
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .map_err(|e| LoadError::Config(format!("HTTP client: {e}")))?;
    let turns = cfg
        .turns_per_session
        .unwrap_or(profile.turns_per_session)
        .max(1);
    let warmup = cfg
        .warmup
        .unwrap_or_else(|| cfg.duration.map_or(Duration::ZERO, |d| d / 6));
    let setup = Setup {
        endpoint: Endpoint {
            http,
            api: cfg.api,
            url: endpoint_url(&cfg.base_url, cfg.api.path()),
            api_key: cfg.api_key.clone(),
            timeout: cfg.request_timeout,
        },
        options: RequestOptions {
            model: cfg.model.clone(),
            max_tokens: cfg.max_tokens,
            temperature: cfg.temperature.or(profile.temperature),
            continuous_usage: cfg.continuous_usage,
            ignore_eos: cfg.ignore_eos,
            think_scale: cfg.think_scale,
        },
        workspace: Arc::new(Workspace::new(cfg.seed)),
        profile: Arc::new(profile),
        counter,
        seed: cfg.seed,
        timing: Timing {
            duration: cfg.duration,
            warmup,
            ramp_up: cfg.ramp_up,
            turns,
        },
        slo: slo.clone(),
        quiet: cfg.quiet,
        stop: stop.clone(),
    };
    let mut runs = Vec::new();
    let mut search = None;
    if let Some(path) = &cfg.trace {
        let records = trace::read(path)?;
        runs.push(
            trace::replay(
                records,
                setup.endpoint.clone(),
                setup.options.clone(),
                setup.counter.clone(),
                cfg.trace_block_size.max(1),
                cfg.trace_speedup,
                slo,
                cfg.quiet,
                &stop,
            )
            .await,
        );
    } else if let Some(rate) = cfg.rate {
        runs.push(
            driver::open_loop(
                |r, d| setup.context(r, d),
                rate,
                cfg.max_concurrency,
                setup.timing,
                slo,
                cfg.quiet,
                &stop,
            )
            .await,
        );
    } else if cfg.find_max_sessions {
        let slo_text = cfg.slo.clone().unwrap_or_default();
        let (max_sessions, steps) = find_max(&setup, cfg.max_sessions.max(1), &mut runs).await;
        search = Some(SearchReport {
            slo: slo_text,
            steps,
            max_sessions,
        });
    } else {
        for &n in &cfg.sessions {
            if stop.is_draining() {
                break;
            }
            let r = setup.closed(n).await;
            if !cfg.quiet {
                eprintln!("{}", summary::one_line(&r));
            }
            runs.push(r);
        }
    }
    Ok(Report {
        tool: "weir load".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at,
        config: cfg.to_json(),
        runs,
        search,
        interrupted: Some(stop.level()).filter(|l| *l != StopLevel::Running),
    })
}

/// Doubles the session count until the SLO fails (or `limit`), then
/// bisects between the last pass and the first failure to within 10%.
async fn find_max(
    setup: &Setup,
    limit: usize,
    runs: &mut Vec<RunReport>,
) -> (usize, Vec<(usize, bool)>) {
    let mut steps = Vec::new();
    let (mut pass, mut fail) = (0usize, None::<usize>);
    let mut n = 1usize;
    loop {
        let r = setup.closed(n).await;
        let met = r.goodput.as_ref().is_some_and(|g| g.met);
        if !setup.quiet {
            eprintln!(
                "{} -> {}",
                summary::one_line(&r),
                if met { "SLO met" } else { "SLO missed" }
            );
        }
        runs.push(r);
        if setup.stop.is_draining() {
            // An interrupted level says nothing about the objective.
            break;
        }
        steps.push((n, met));
        if met {
            pass = n;
        } else {
            fail = Some(n);
        }
        n = match fail {
            None if n >= limit => break,
            None => (n * 2).min(limit),
            Some(f) => {
                if f - pass <= (pass / 10).max(1) {
                    break;
                }
                pass + (f - pass) / 2
            }
        };
    }
    (pass, steps)
}

/// `base` (the API root, e.g. `http://host:8000/v1`) with `path` appended to
/// its path, keeping any query string where it belongs: some hosted
/// endpoints carry one (`...?api-version=...`), and plain string joining
/// would put the path after it.
pub fn endpoint_url(base: &str, path: &str) -> String {
    match reqwest::Url::parse(base) {
        Ok(mut url) => {
            let joined = format!("{}/{}", url.path().trim_end_matches('/'), path);
            url.set_path(&joined);
            url.to_string()
        }
        Err(_) => format!("{}/{path}", base.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoint_url_appends_to_the_path_and_keeps_the_query() {
        assert_eq!(
            super::endpoint_url("http://127.0.0.1:8000/v1", "chat/completions"),
            "http://127.0.0.1:8000/v1/chat/completions"
        );
        assert_eq!(
            super::endpoint_url("http://127.0.0.1:8000/v1/", "models"),
            "http://127.0.0.1:8000/v1/models"
        );
        assert_eq!(
            super::endpoint_url(
                "https://h.example/openai/d?api-version=2024-10-21",
                "chat/completions"
            ),
            "https://h.example/openai/d/chat/completions?api-version=2024-10-21"
        );
    }
}
