//! `weir load` on the command line: flags → [`weir_load::LoadConfig`],
//! then the report to the terminal, `--output` (JSON) and `--html`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use weir_load::report::Verdict;
use weir_load::stats::parse_duration;
use weir_load::StopLevel;
use weir_load::{self as load, LoadConfig};

/// `weir load`.
#[derive(Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Exit status: 0 when the run measured something (and a single run met its \
                  --slo), 3 when no request succeeded, 4 when a single run missed its --slo, \
                  130 when stopped by Ctrl-C (no request starts after it and the report \
                  follows once those in flight finish; a second Ctrl-C drops them, a third \
                  quits without a report); the summary and reports are written in all these \
                  cases. 1 when the run could not start, 2 for a malformed command line."
)]
pub struct LoadArgs {
    #[command(subcommand)]
    action: Option<LoadAction>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum LoadAction {
    /// Print the differences between two JSON reports.
    Compare {
        /// The first report (A).
        a: PathBuf,
        /// The second report (B).
        b: PathBuf,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The endpoint's base URL, `/v1` included (as the OpenAI SDKs take it);
    /// a URL with no path at all (`http://host:8000`) gets `/v1` added.
    #[arg(long, default_value = "http://127.0.0.1:8000/v1")]
    base_url: String,
    /// Bearer API key.
    #[arg(long, env = "WEIR_LOAD_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Model to request (default: the first of GET /models).
    #[arg(long)]
    model: Option<String>,
    /// Concurrent sessions (closed loop); a list (1,2,4,8) runs a sweep.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    sessions: Vec<usize>,
    /// Measured time per load level (e.g. 60s, 5m); without it each session runs once.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Requests per session (default: the profile's).
    #[arg(long)]
    turns_per_session: Option<usize>,
    /// Spread the sessions' starts over this long.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    ramp_up: Duration,
    /// Excluded from the statistics (default: a sixth of --duration).
    #[arg(long, value_parser = parse_duration)]
    warmup: Option<Duration>,
    /// `opencode`, `chat`, or a profile TOML file.
    #[arg(long, default_value = "opencode")]
    profile: String,
    /// Replay a Mooncake-style JSONL trace instead of sessions.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Tokens per trace hash block.
    #[arg(long, default_value_t = 512)]
    trace_block_size: usize,
    /// Replay the trace this many times faster.
    #[arg(long, default_value_t = 1.0)]
    trace_speedup: f64,
    /// Open loop: sessions arrive at this Poisson rate per second (needs --duration).
    #[arg(long)]
    rate: Option<f64>,
    /// Open loop: at most this many sessions at once; arrivals wait, and the wait counts.
    #[arg(long)]
    max_concurrency: Option<usize>,
    /// Seed of every random choice (tasks, think times, arrivals, workspace).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Override the profile's max_tokens.
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Override the profile's temperature.
    #[arg(long)]
    temperature: Option<f64>,
    /// Multiply think times (0: none).
    #[arg(long, default_value_t = 1.0)]
    think_scale: f64,
    /// The API the sessions speak: chat (completions), responses (chained
    /// with previous_response_id: each turn sends only what is new), or
    /// responses-stateless (store: false, the whole conversation every turn).
    #[arg(long, value_enum, default_value = "chat")]
    api: load::client::Api,
    /// Do not ask for stream_options.continuous_usage_stats (for servers that reject it).
    #[arg(long)]
    no_continuous_usage: bool,
    /// Send ignore_eos: true (vLLM, weir) so outputs run to max_tokens.
    #[arg(long)]
    ignore_eos: bool,
    /// tokenizer.json for exact ITL token counts when the server sends no running usage.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Service-level objective, e.g. ttft=2s,itl=100ms,session=10m,pct=90.
    #[arg(long)]
    slo: Option<String>,
    /// Search for the most concurrent sessions that meet --slo.
    #[arg(long)]
    find_max_sessions: bool,
    /// Upper bound of the search.
    #[arg(long, default_value_t = 1024)]
    max_sessions: usize,
    /// Per-request time limit.
    #[arg(long, value_parser = parse_duration, default_value = "600s")]
    request_timeout: Duration,
    /// Write the JSON report here.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// No live display.
    #[arg(long)]
    quiet: bool,
}

/// Runs `weir load`; `Ok` carries the exit status of a finished run (its
/// [`load::report::Verdict`]'s).
pub fn run(args: LoadArgs) -> Result<u8, String> {
    if let Some(LoadAction::Compare { a, b }) = args.action {
        let read = |p: &PathBuf| -> Result<load::report::Report, String> {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a weir load report: {e}", p.display()))
        };
        print!("{}", load::summary::compare(&read(&a)?, &read(&b)?));
        return Ok(0);
    }
    let a = args.run;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let base_url = normalize_base_url(&a.base_url)?;
    if base_url != a.base_url.trim_end_matches('/') && base_url != a.base_url {
        eprintln!("weir load: using --base-url {base_url} (the OpenAI API lives under /v1)");
    }
    rt.block_on(async move {
        let a = RunArgs { base_url, ..a };
        let model = match a.model {
            Some(m) => m,
            None => first_model(&a.base_url, a.api_key.as_deref()).await?,
        };
        let cfg = LoadConfig {
            base_url: a.base_url,
            api_key: a.api_key,
            model,
            sessions: a.sessions,
            rate: a.rate,
            max_concurrency: a.max_concurrency,
            duration: a.duration,
            turns_per_session: a.turns_per_session,
            ramp_up: a.ramp_up,
            warmup: a.warmup,
            profile: a.profile,
            trace: a.trace,
            trace_block_size: a.trace_block_size,
            trace_speedup: a.trace_speedup,
            seed: a.seed,
            max_tokens: a.max_tokens,
            temperature: a.temperature,
            think_scale: a.think_scale,
            api: a.api,
            continuous_usage: !a.no_continuous_usage,
            ignore_eos: a.ignore_eos,
            tokenizer: a.tokenizer,
            slo: a.slo,
            find_max_sessions: a.find_max_sessions,
            max_sessions: a.max_sessions,
            request_timeout: a.request_timeout,
            quiet: a.quiet,
        };
        // Ctrl-C: drain (no new requests; the report follows once those in
        // flight finish); again: drop those too; a third time: quit now.
        let (interrupt, stop) = load::Stop::new();
        tokio::spawn(async move {
            for (level, note) in [
                (StopLevel::Drain, "no new requests; the report follows once those in flight finish (Ctrl-C again to drop them)"),
                (StopLevel::Abort, "dropping the requests in flight (Ctrl-C again to quit without a report)"),
            ] {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                eprintln!("\nweir load: stopping: {note}");
                let _ = interrupt.send(level);
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
        let report = load::run(&cfg, stop).await.map_err(|e| e.to_string())?;
        print!("{}", load::summary::render(&report));
        if let Some(path) = &a.output {
            let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if let Some(path) = &a.html {
            std::fs::write(path, load::html::render(&report))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let verdict = report.verdict();
        match verdict {
            Verdict::Measured => {}
            Verdict::NothingSucceeded => eprintln!("weir load: no request succeeded"),
            Verdict::SloMissed => eprintln!("weir load: the run missed its --slo"),
            Verdict::Interrupted => {}
        }
        Ok(verdict.exit_status())
    })
}

/// The first model the endpoint lists.
/// Checks `--base-url` and adds `/v1` when it names only a host (the most
/// common slip: every request would otherwise be a 404). A URL with any path
/// is kept as given, since providers mount the API under their own paths.
fn normalize_base_url(raw: &str) -> Result<String, String> {
    let mut url = reqwest::Url::parse(raw).map_err(|e| format!("--base-url {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "--base-url {raw:?}: the scheme must be http or https"
        ));
    }
    if url.path() == "/" || url.path().is_empty() {
        url.set_path("/v1");
    }
    let mut s = url.to_string();
    if url.query().is_none() && url.fragment().is_none() {
        s.truncate(s.trim_end_matches('/').len());
    }
    Ok(s)
}

async fn first_model(base: &str, key: Option<&str>) -> Result<String, String> {
    let url = load::endpoint_url(base, "models");
    let mut req = reqwest::Client::new().get(&url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let body: serde_json::Value = req
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| {
            format!(
                "GET {url} (to pick a model; or pass --model): {}",
                load::client::error_chain(&e.without_url())
            )
        })?
        .json()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    body.pointer("/data/0/id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("GET {url} listed no model; pass --model"))
}

#[cfg(test)]
mod tests {
    use super::normalize_base_url;

    #[test]
    fn base_url_gets_v1_only_when_it_names_just_a_host() {
        let n = |s: &str| normalize_base_url(s).unwrap();
        assert_eq!(n("http://127.0.0.1:8000"), "http://127.0.0.1:8000/v1");
        assert_eq!(n("http://127.0.0.1:8000/"), "http://127.0.0.1:8000/v1");
        assert_eq!(n("http://127.0.0.1:8000/v1/"), "http://127.0.0.1:8000/v1");
        assert_eq!(
            n("https://example.com/openai/v1"),
            "https://example.com/openai/v1"
        );
        assert_eq!(n("https://example.com/api"), "https://example.com/api");
        assert_eq!(
            n("http://h:8000?api-version=1"),
            "http://h:8000/v1?api-version=1"
        );
        assert_eq!(
            n("https://h/openai/d?api-version=1"),
            "https://h/openai/d?api-version=1"
        );
        assert!(normalize_base_url("127.0.0.1:8000").is_err());
        assert!(normalize_base_url("ftp://example.com").is_err());
        assert!(normalize_base_url("not a url").is_err());
    }
}
