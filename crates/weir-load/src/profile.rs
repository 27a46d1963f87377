//! Profiles: what a simulated user or agent sends. A fixed system prompt and
//! tool list (byte-identical on every turn, as real clients send them, so a
//! server's prefix cache sees what it would see in production), the request
//! options, and scripted tasks whose steps play the agent's side of the loop
//! against a synthetic [`Workspace`](super::workspace::Workspace).
//!
//! # What OpenCode 1.18.33 sends (measured)
//!
//! Recorded with `scripts/record_opencode_request.py` (a stub OpenAI server
//! that saves request bodies and answers with a one-chunk SSE stream), running
//! `opencode run` offline against a project-level `opencode.json` with an
//! `@ai-sdk/openai-compatible` provider, in a fresh git repository:
//!
//! - Each session opens with a **title request**: `[system (2096 chars, a
//!   title-generator prompt), user "Generate a title for this
//!   conversation:\n", user <prompt>]`, no `tools`, no `tool_choice`; then
//!   the agent's requests follow.
//! - **Agent request** top-level fields, in order: `model`, `max_tokens:
//!   32000`, `messages`, `tools`, `tool_choice: "auto"`, `stream: true`,
//!   `stream_options: {"include_usage": true}`. No `temperature`, `top_p`
//!   or `parallel_tool_calls`. The first one is 30,698 bytes of JSON.
//! - Messages: `system` (9,536 chars: identity, tone rules with six
//!   `<example>` blocks, sections on proactiveness, conventions, code style,
//!   doing tasks, tool policy, code references, an `<env>` block and an
//!   `<available_skills>` block), then `user` (the prompt). A tool round adds
//!   `assistant` (`content: ""`, `tool_calls: [{id, type: "function",
//!   function: {name, arguments}}]`) and `tool` (`tool_call_id`, `content`).
//!   System prompt and tools are byte-identical across the session's turns.
//! - Ten tools, each `{"type": "function", "function": {name, description,
//!   parameters}}`; parameters are JSON Schema with `"$schema":
//!   "https://json-schema.org/draft/2020-12/schema"`, `type: object`,
//!   `properties`, `required` (no `additionalProperties`); integer limits
//!   carry `minimum`/`maximum` of ±9007199254740991. Description chars /
//!   compact parameters JSON chars:
//!
//!   | tool      | description | parameters |
//!   |-----------|------------:|-----------:|
//!   | bash      | 4628 | 492 |
//!   | edit      | 1369 | 498 |
//!   | glob      |  517 | 510 |
//!   | grep      |  657 | 431 |
//!   | read      | 1158 | 479 |
//!   | skill     |  399 | 194 |
//!   | task      | 3019 | 724 |
//!   | todowrite | 2012 | 536 |
//!   | webfetch  |  750 | 443 |
//!   | write     |  623 | 317 |
//!   | total     | 15132 | 4624 |
//!
//!   1.18.33 has no `list` tool (it has `skill`); our profile keeps `list` in
//!   that slot. Its `bash` takes `{command, timeout?, workdir?}` (no
//!   `description`), `todowrite` items are `{content, status, priority}` (no
//!   `id`), `webfetch` `{url, format?, timeout?}`, `task` also takes
//!   `task_id?` and `command?`.
//! - Headers: `Authorization: Bearer <key>`, `User-Agent: opencode/1.18.33
//!   ai-sdk/provider-utils/4.0.23 runtime/bun/1.3.14`, and `x-session-id` /
//!   `x-session-affinity` both set to the session id (`ses_...`).
//! - Tool results as OpenCode returns them: `read` gives `<path>…</path>
//!   <type>file</type><content>` with `N: text` lines and `(End of file -
//!   total N lines)`; `edit` "Edit applied successfully."; `write` "Wrote file
//!   successfully."; `todowrite` the list as pretty JSON.
//!
//! [`Profile::opencode`] matches these sizes with text of our own, the same
//! schema structure, `max_tokens` 32000 and no temperature (a test keeps
//! every size within 10%). Ours: system prompt 9,434 chars; description /
//! parameters: bash 4492/505, edit 1350/496, glob 495/482, grep 643/423,
//! list 407/308, read 1142/463, task 2957/682, todowrite 2085/540, webfetch
//! 706/438, write 640/313; total 14917/4650.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::workspace::ROOT;

/// What a simulated user/agent sends: fixed system prompt + tools (byte-identical on every turn), request options, and scripted tasks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    /// Short name, shown in reports (`opencode`, `chat`, or the file's choice).
    pub name: String,
    /// The system message, sent unchanged on every request.
    pub system_prompt: String,
    /// OpenAI `tools` array (may be empty: then no `tools` field is sent).
    #[serde(default)]
    pub tools: Vec<Value>,
    /// `max_tokens` as the real client sends it (OpenCode: 32000), None = not sent.
    pub max_tokens: Option<u32>,
    /// `temperature` as the real client sends it, None = not sent.
    pub temperature: Option<f64>,
    /// Requests per session unless --turns-per-session overrides.
    pub turns_per_session: usize,
    /// Scripted tasks; a session works through them in turn.
    pub tasks: Vec<Task>,
    /// Pause before answering a tool call (agent executing tools).
    pub tool_think: ThinkTime,
    /// Pause before a new user message (human reading/typing).
    pub user_think: ThinkTime,
    /// A side request at the start of each session that asks for the
    /// conversation's title (OpenCode sends one, alongside the first turn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<TitleRequest>,
}

/// The title request: its own system prompt, an instruction message, then
/// the session's first user message; no tools.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TitleRequest {
    /// System message of the title request.
    pub system_prompt: String,
    /// User message sent before the session's first request text.
    pub instruction: String,
}

/// One thing the user asks for, and how the conversation goes on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Task {
    /// The first user message.
    pub prompt: String,
    /// Scripted next steps, in order.
    pub steps: Vec<Step>,
}

/// A scripted next step, used when the model itself did not call a tool.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// The agent calls a tool (sent as an assistant `tool_calls` message
    /// followed by the tool's result from the workspace).
    Tool {
        /// A tool name from the profile's `tools`.
        name: String,
        /// The call's arguments (a JSON object).
        arguments: Value,
    },
    /// The user writes a follow-up message.
    User {
        /// The message text.
        text: String,
    },
}

/// A distribution of pauses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum ThinkTime {
    /// No pause.
    Zero,
    /// Always the same pause.
    Constant {
        /// The pause in seconds.
        seconds: f64,
    },
    /// Exponentially distributed pauses.
    Exponential {
        /// Mean pause in seconds.
        mean_s: f64,
    },
    /// Log-normally distributed pauses: `median_s * exp(sigma * z)`, z ~ N(0, 1).
    LogNormal {
        /// Median pause in seconds.
        median_s: f64,
        /// Standard deviation of the log of the pause.
        sigma: f64,
    },
}

/// The longest pause [`ThinkTime::sample`] returns (one day), so that a
/// wild parameter or an extreme draw cannot overflow a `Duration`.
const MAX_THINK_S: f64 = 86_400.0;

impl ThinkTime {
    /// Draw a pause from two independent uniforms in (0,1]; deterministic given them.
    pub fn sample(&self, u1: f64, u2: f64) -> Duration {
        // Out-of-range or NaN uniforms are pulled into (0, 1].
        let u1 = if u1 > 0.0 {
            u1.min(1.0)
        } else {
            f64::MIN_POSITIVE
        };
        let u2 = if u2 > 0.0 {
            u2.min(1.0)
        } else {
            f64::MIN_POSITIVE
        };
        let secs = match *self {
            ThinkTime::Zero => 0.0,
            ThinkTime::Constant { seconds } => seconds,
            ThinkTime::Exponential { mean_s } => -mean_s * u1.ln(),
            ThinkTime::LogNormal { median_s, sigma } => {
                // Box-Muller: one standard normal from two uniforms.
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                median_s * (sigma * z).exp()
            }
        };
        if secs.is_nan() || secs <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(secs.min(MAX_THINK_S))
    }

    /// Multiply all times by `k` (k=0 → no think time).
    pub fn scaled(&self, k: f64) -> ThinkTime {
        if k.is_nan() || k <= 0.0 {
            return ThinkTime::Zero;
        }
        match *self {
            ThinkTime::Zero => ThinkTime::Zero,
            ThinkTime::Constant { seconds } => ThinkTime::Constant {
                seconds: seconds * k,
            },
            ThinkTime::Exponential { mean_s } => ThinkTime::Exponential { mean_s: mean_s * k },
            ThinkTime::LogNormal { median_s, sigma } => ThinkTime::LogNormal {
                median_s: median_s * k,
                sigma,
            },
        }
    }

    /// The parameters, checked: finite and not negative.
    fn check(&self, what: &str) -> Result<(), String> {
        let params: &[(&str, f64)] = match self {
            ThinkTime::Zero => &[],
            ThinkTime::Constant { seconds } => &[("seconds", *seconds)],
            ThinkTime::Exponential { mean_s } => &[("mean_s", *mean_s)],
            ThinkTime::LogNormal { median_s, sigma } => {
                &[("median_s", *median_s), ("sigma", *sigma)]
            }
        };
        for (name, v) in params {
            if !v.is_finite() || *v < 0.0 {
                return Err(format!(
                    "{what}.{name} must be a finite number >= 0, not {v}"
                ));
            }
        }
        Ok(())
    }
}

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read profile {path}: {source} (built-in profiles: opencode, chat)")]
    Read {
        /// The path as given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not TOML, or not the shape of a [`Profile`].
    #[error("profile {path} is not a valid profile: {message}")]
    Parse {
        /// The path as given.
        path: String,
        /// What the TOML parser said.
        message: String,
    },
    /// The profile parsed but is unusable.
    #[error("profile {path}: {message}")]
    Invalid {
        /// The path (or built-in name).
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Profile {
    /// OpenCode 1.18's agent requests, in sizes and structure (see the module
    /// docs), with scripted coding tasks over the synthetic workspace.
    pub fn opencode() -> Profile {
        Profile {
            name: "opencode".to_string(),
            system_prompt: text(OPENCODE_SYSTEM_PROMPT).to_string(),
            tools: opencode_tools(),
            max_tokens: Some(32000),
            temperature: None,
            turns_per_session: 12,
            tasks: opencode_tasks(),
            tool_think: ThinkTime::LogNormal {
                median_s: 0.3,
                sigma: 0.8,
            },
            user_think: ThinkTime::LogNormal {
                median_s: 4.0,
                sigma: 0.6,
            },
            title: Some(TitleRequest {
                system_prompt: text(OPENCODE_TITLE_PROMPT).to_string(),
                instruction: "Generate a title for this conversation:\n".to_string(),
            }),
        }
    }

    /// A plain chat client: short system prompt, no tools, questions with
    /// follow-ups.
    pub fn chat() -> Profile {
        Profile {
            name: "chat".to_string(),
            system_prompt: text(CHAT_SYSTEM_PROMPT).to_string(),
            tools: Vec::new(),
            max_tokens: Some(1024),
            temperature: Some(0.7),
            turns_per_session: 6,
            tasks: chat_tasks(),
            tool_think: ThinkTime::Zero,
            user_think: ThinkTime::LogNormal {
                median_s: 6.0,
                sigma: 0.6,
            },
            title: None,
        }
    }

    /// `opencode`, `chat`, or a path to a TOML file with the Profile fields (tools written as TOML tables).
    pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
        let profile = match name_or_path {
            "opencode" => Profile::opencode(),
            "chat" => Profile::chat(),
            path => {
                let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
                    path: path.to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ProfileError::Parse {
                    path: path.to_string(),
                    message: e.to_string().trim_end().to_string(),
                })?
            }
        };
        profile.validate(name_or_path)?;
        Ok(profile)
    }

    /// Names of the tools in `tools` (those that have one).
    pub fn tool_names(&self) -> Vec<&str> {
        self.tools
            .iter()
            .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
            .collect()
    }

    /// Checks that the profile is usable: at least one task, each with a
    /// prompt; `turns_per_session` >= 1; every tool `{"type": "function",
    /// "function": {"name": ...}}` with unique names; scripted tool steps name
    /// one of the tools and pass an object; think-time parameters finite and
    /// non-negative. `origin` (file path or built-in name) goes into the error.
    pub fn validate(&self, origin: &str) -> Result<(), ProfileError> {
        self.check().map_err(|message| ProfileError::Invalid {
            path: origin.to_string(),
            message,
        })
    }

    fn check(&self) -> Result<(), String> {
        if self.tasks.is_empty() {
            return Err("`tasks` is empty: a profile needs at least one task".to_string());
        }
        if self.turns_per_session == 0 {
            return Err("`turns_per_session` must be at least 1".to_string());
        }
        if self.max_tokens == Some(0) {
            return Err("`max_tokens` must be at least 1 (or left out)".to_string());
        }
        if let Some(t) = self.temperature {
            if !t.is_finite() || t < 0.0 {
                return Err(format!(
                    "`temperature` must be a finite number >= 0, not {t}"
                ));
            }
        }
        self.tool_think.check("tool_think")?;
        self.user_think.check("user_think")?;
        let mut names: Vec<&str> = Vec::new();
        for (i, tool) in self.tools.iter().enumerate() {
            let n = i + 1;
            if tool.get("type").and_then(Value::as_str) != Some("function") {
                return Err(format!("tool {n}: `type` must be \"function\""));
            }
            let Some(function) = tool.get("function").filter(|f| f.is_object()) else {
                return Err(format!("tool {n}: missing the `function` table"));
            };
            let name = match function.get("name").and_then(Value::as_str) {
                Some(name) if !name.trim().is_empty() => name,
                _ => {
                    return Err(format!(
                        "tool {n}: `function.name` must be a non-empty string"
                    ))
                }
            };
            if names.contains(&name) {
                return Err(format!("tool {n}: the name `{name}` is used twice"));
            }
            names.push(name);
        }
        for (i, task) in self.tasks.iter().enumerate() {
            let t = i + 1;
            if task.prompt.trim().is_empty() {
                return Err(format!("task {t}: `prompt` is empty"));
            }
            for (j, step) in task.steps.iter().enumerate() {
                let s = j + 1;
                match step {
                    Step::Tool { name, arguments } => {
                        if !names.contains(&name.as_str()) {
                            let known = if names.is_empty() {
                                "the profile has no tools".to_string()
                            } else {
                                format!("tools: {}", names.join(", "))
                            };
                            return Err(format!(
                                "task {t} step {s} calls unknown tool `{name}` ({known})"
                            ));
                        }
                        if !arguments.is_object() {
                            return Err(format!(
                                "task {t} step {s}: `arguments` of `{name}` must be a table"
                            ));
                        }
                    }
                    Step::User { text } => {
                        if text.trim().is_empty() {
                            return Err(format!("task {t} step {s}: user `text` is empty"));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

// ---- scripted tasks ---------------------------------------------------------

fn tool(name: &str, arguments: Value) -> Step {
    Step::Tool {
        name: name.to_string(),
        arguments,
    }
}

fn user(text: &str) -> Step {
    Step::User {
        text: text.to_string(),
    }
}

/// An absolute workspace path, as OpenCode's tools take them.
fn p(rel: &str) -> String {
    format!("{ROOT}/{rel}")
}

fn task(prompt: &str, steps: Vec<Step>) -> Task {
    Task {
        prompt: prompt.to_string(),
        steps,
    }
}

/// Coding tasks over the synthetic workspace; every scripted edit matches
/// text that a fresh workspace holds exactly once (checked by tests).
fn opencode_tasks() -> Vec<Task> {
    vec![
        task(
            "Add a --verbose flag to the CLI in src/cli.rs. It should raise the log level to debug.",
            vec![
                tool("read", json!({"filePath": p("src/cli.rs")})),
                tool("grep", json!({"pattern": "LogLevel::", "include": "*.rs"})),
                tool("read", json!({"filePath": p("src/logging.rs")})),
                tool("edit", json!({"filePath": p("src/cli.rs"), "oldString": "    pub quiet: bool,\n}", "newString": "    pub quiet: bool,\n    pub verbose: bool,\n}"})),
                tool("edit", json!({"filePath": p("src/cli.rs"), "oldString": "                \"--quiet\" | \"-q\" => args.quiet = true,\n", "newString": "                \"--quiet\" | \"-q\" => args.quiet = true,\n                \"--verbose\" | \"-v\" => args.verbose = true,\n"})),
                tool("edit", json!({"filePath": p("src/cli.rs"), "oldString": "        if self.quiet {\n            LogLevel::Warn\n        } else {", "newString": "        if self.quiet {\n            LogLevel::Warn\n        } else if self.verbose {\n            LogLevel::Debug\n        } else {"})),
                tool("bash", json!({"command": "cargo build"})),
                user("Also document the new flag in docs/cli.md."),
                tool("edit", json!({"filePath": p("docs/cli.md"), "oldString": "| `--quiet`, `-q` | Only print warnings and errors. |\n", "newString": "| `--quiet`, `-q` | Only print warnings and errors. |\n| `--verbose`, `-v` | Also print debug messages. |\n"})),
                tool("bash", json!({"command": "cargo test"})),
            ],
        ),
        task(
            "The test parses_nested_groups in tests/parser_test.rs is failing. Find out why and fix it.",
            vec![
                tool("bash", json!({"command": "cargo test --test parser_test"})),
                tool("read", json!({"filePath": p("tests/parser_test.rs")})),
                tool("grep", json!({"pattern": "pub fn depth", "path": p("src")})),
                tool("read", json!({"filePath": p("src/parser/ast.rs")})),
                tool("edit", json!({"filePath": p("tests/parser_test.rs"), "oldString": "    assert_eq!(ast.depth(), 3);", "newString": "    assert_eq!(ast.depth(), 2);"})),
                tool("bash", json!({"command": "cargo test --test parser_test"})),
            ],
        ),
        task(
            "Expired entries are never evicted from the result cache in src/storage/cache.rs. Fix it and make sure the cache tests pass.",
            vec![
                tool("todowrite", json!({"todos": [
                    {"content": "Reproduce with the cache tests", "status": "in_progress", "priority": "high"},
                    {"content": "Fix evict_expired in src/storage/cache.rs", "status": "pending", "priority": "high"},
                    {"content": "Run the full test suite", "status": "pending", "priority": "medium"}
                ]})),
                tool("bash", json!({"command": "cargo test --test cache_test"})),
                tool("read", json!({"filePath": p("src/storage/cache.rs")})),
                tool("grep", json!({"pattern": "evict_expired"})),
                tool("read", json!({"filePath": p("tests/cache_test.rs")})),
                tool("edit", json!({"filePath": p("src/storage/cache.rs"), "oldString": "self.entries.retain(|_, entry| entry.expires_at < now);", "newString": "self.entries.retain(|_, entry| entry.expires_at > now);"})),
                tool("bash", json!({"command": "cargo test"})),
                tool("todowrite", json!({"todos": [
                    {"content": "Reproduce with the cache tests", "status": "completed", "priority": "high"},
                    {"content": "Fix evict_expired in src/storage/cache.rs", "status": "completed", "priority": "high"},
                    {"content": "Run the full test suite", "status": "completed", "priority": "medium"}
                ]})),
            ],
        ),
        task(
            "Document the configuration file format in README.md, based on what src/config.rs accepts.",
            vec![
                tool("list", json!({"path": ROOT})),
                tool("read", json!({"filePath": p("src/config.rs")})),
                tool("glob", json!({"pattern": "**/*.toml"})),
                tool("read", json!({"filePath": p("tests/fixtures/sample.toml")})),
                tool("read", json!({"filePath": p("README.md")})),
                tool("edit", json!({"filePath": p("README.md"), "oldString": "## License\n", "newString": format!("{}## License\n", text(README_CONFIG_LONG))})),
                user("That's too long. Just list the keys and their defaults."),
                tool("edit", json!({"filePath": p("README.md"), "oldString": text(README_CONFIG_LONG), "newString": text(README_CONFIG_SHORT)})),
            ],
        ),
        task(
            "Add retries with exponential backoff to the HTTP client in src/net/client.rs. There is a helper in src/net/retry.rs.",
            vec![
                tool("read", json!({"filePath": p("src/net/client.rs")})),
                tool("read", json!({"filePath": p("src/net/retry.rs")})),
                tool("grep", json!({"pattern": "send_request", "include": "*.rs"})),
                tool("edit", json!({"filePath": p("src/net/client.rs"), "oldString": "    agent: ureq::Agent,\n}", "newString": "    agent: ureq::Agent,\n    retry: RetryPolicy,\n}"})),
                tool("edit", json!({"filePath": p("src/net/client.rs"), "oldString": "        let response = self.send_request(&request)?;", "newString": "        let response = with_retry(&self.retry, || self.send_request(&request))?;"})),
                tool("write", json!({"filePath": p("tests/retry_test.rs"), "content": text(RETRY_TEST)})),
                tool("bash", json!({"command": "cargo test --test retry_test"})),
                tool("bash", json!({"command": "git diff"})),
            ],
        ),
        task(
            "How does an expression get from text to a result in this codebase? Give me an overview.",
            vec![
                tool("task", json!({"description": "Trace expression evaluation", "prompt": "Find where quill turns an expression string into a value: the lexer, the parser and the evaluator. Report the files and functions involved, in order, with file:line references. Do not change any code.", "subagent_type": "explore"})),
                tool("glob", json!({"pattern": "src/{parser,eval}/*.rs"})),
                tool("read", json!({"filePath": p("src/parser/mod.rs")})),
                tool("read", json!({"filePath": p("src/eval/mod.rs")})),
                tool("grep", json!({"pattern": "pub fn (parse|eval)\\b", "path": p("src")})),
                user("How would I add a new builtin function, say `sqrt`?"),
                tool("read", json!({"filePath": p("src/eval/builtins.rs"), "offset": 1, "limit": 120})),
            ],
        ),
        task(
            "Rename the function normalize_key to canonical_key everywhere.",
            vec![
                tool("grep", json!({"pattern": "normalize_key"})),
                tool("read", json!({"filePath": p("src/util/strings.rs")})),
                tool("edit", json!({"filePath": p("src/util/strings.rs"), "oldString": "normalize_key", "newString": "canonical_key", "replaceAll": true})),
                tool("edit", json!({"filePath": p("src/storage/index.rs"), "oldString": "normalize_key", "newString": "canonical_key", "replaceAll": true})),
                tool("edit", json!({"filePath": p("src/config.rs"), "oldString": "normalize_key", "newString": "canonical_key", "replaceAll": true})),
                tool("bash", json!({"command": "cargo check"})),
                tool("grep", json!({"pattern": "normalize_key"})),
                tool("bash", json!({"command": "git status"})),
            ],
        ),
        task(
            "Add a --csv option to scripts/bench.py that also writes the results to a CSV file.",
            vec![
                tool("read", json!({"filePath": p("scripts/bench.py")})),
                tool("grep", json!({"pattern": "add_argument", "include": "*.py"})),
                tool("webfetch", json!({"url": "https://docs.python.org/3/library/csv.html", "format": "markdown"})),
                tool("edit", json!({"filePath": p("scripts/bench.py"), "oldString": "    parser.add_argument(\"--json\", action=\"store_true\", help=\"print results as JSON\")\n", "newString": "    parser.add_argument(\"--json\", action=\"store_true\", help=\"print results as JSON\")\n    parser.add_argument(\"--csv\", metavar=\"PATH\", help=\"also write results as CSV to PATH\")\n"})),
                tool("edit", json!({"filePath": p("scripts/bench.py"), "oldString": "    if args.json:", "newString": "    if args.csv:\n        with open(args.csv, \"w\", newline=\"\") as f:\n            writer = csv.writer(f)\n            writer.writerow([\"expression\", \"median_ms\"])\n            for name, times in results.items():\n                writer.writerow([name, statistics.median(times) * 1000])\n    if args.json:"})),
                tool("bash", json!({"command": "python scripts/bench.py --help"})),
                user("Do the Python client tests still pass?"),
                tool("bash", json!({"command": "pytest -q", "workdir": p("tools/py")})),
            ],
        ),
        task(
            "Add a clippy job to the CI workflow that fails on warnings.",
            vec![
                tool("glob", json!({"pattern": ".github/**/*.{yml,yaml}"})),
                tool("read", json!({"filePath": p(".github/workflows/ci.yml")})),
                tool("edit", json!({"filePath": p(".github/workflows/ci.yml"), "oldString": "jobs:\n", "newString": "jobs:\n  clippy:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: dtolnay/rust-toolchain@stable\n        with:\n          components: clippy\n      - run: cargo clippy --all-targets -- -D warnings\n"})),
                tool("bash", json!({"command": "cargo clippy --all-targets -- -D warnings"})),
                tool("bash", json!({"command": "git diff"})),
            ],
        ),
    ]
}

fn chat_tasks() -> Vec<Task> {
    vec![
        task(
            "What is the difference between a process and a thread?",
            vec![
                user("Which one should I use for a web server that handles many slow clients?"),
                user("Can you show a tiny example in Python?"),
            ],
        ),
        task(
            "Explain how HTTPS keeps my password safe when I log in to a website.",
            vec![user("What happens if the certificate is expired?")],
        ),
        task(
            "Give me a simple weekly meal plan for a vegetarian on a budget.",
            vec![
                user("Can you turn that into a shopping list?"),
                user("Which of those items keep for more than a week?"),
            ],
        ),
        task(
            "How do I undo my last git commit but keep the changes?",
            vec![user("And if I already pushed it?")],
        ),
        task(
            "Summarise the causes of the French Revolution in a few paragraphs.",
            vec![
                user("What role did the weather play?"),
                user("Recommend two books if I want to read more."),
            ],
        ),
        task(
            "Write a polite email asking my landlord to fix a leaking tap.",
            vec![user(
                "Make it a bit firmer; this is the second time I am asking.",
            )],
        ),
        task(
            "What is big-O notation? Give examples for O(1), O(n) and O(n log n).",
            vec![user(
                "Why is quicksort usually fast even though its worst case is O(n^2)?",
            )],
        ),
        task(
            "I have a 30-minute layover in Frankfurt. Is that enough time to change planes?",
            vec![user("What if I have to go through passport control?")],
        ),
    ]
}

// ---- the OpenCode-sized text ------------------------------------------------
//
// The prompts, the tool descriptions and the longer scripted edits live in
// `crates/weir-load/data/` (see its README): text to read and edit as text,
// embedded at build time so the binary needs no data directory.

/// Our own system prompt, the size and structure of OpenCode 1.18.33's
/// (identity, tone with examples, conventions, tasks, tool policy, `<env>`).
const OPENCODE_SYSTEM_PROMPT: &str = include_str!("../data/opencode/system_prompt.txt");

/// The title request's system prompt (OpenCode's is 2,096 characters; this
/// one is our own text of about that size).
const OPENCODE_TITLE_PROMPT: &str = include_str!("../data/opencode/title_prompt.txt");

/// The chat profile's system prompt.
const CHAT_SYSTEM_PROMPT: &str = include_str!("../data/chat/system_prompt.txt");

/// The README section the documentation task first writes, then shortens.
const README_CONFIG_LONG: &str = include_str!("../data/opencode/edits/readme_config_long.md.txt");
/// The shorter README section the documentation task ends with.
const README_CONFIG_SHORT: &str = include_str!("../data/opencode/edits/readme_config_short.md.txt");
/// The test file the retry task writes (stored as `.txt`, so that no test
/// runner takes it for one of this crate's tests).
const RETRY_TEST: &str = include_str!("../data/opencode/edits/retry_test.rs.txt");

/// Each tool's description, in the order OpenCode sends the tools.
const TOOL_DESCRIPTIONS: &[(&str, &str)] = &[
    ("bash", include_str!("../data/opencode/tools/bash.txt")),
    ("edit", include_str!("../data/opencode/tools/edit.txt")),
    ("glob", include_str!("../data/opencode/tools/glob.txt")),
    ("grep", include_str!("../data/opencode/tools/grep.txt")),
    ("list", include_str!("../data/opencode/tools/list.txt")),
    ("read", include_str!("../data/opencode/tools/read.txt")),
    ("task", include_str!("../data/opencode/tools/task.txt")),
    (
        "todowrite",
        include_str!("../data/opencode/tools/todowrite.txt"),
    ),
    (
        "webfetch",
        include_str!("../data/opencode/tools/webfetch.txt"),
    ),
    ("write", include_str!("../data/opencode/tools/write.txt")),
];

/// Each tool's `parameters` (JSON Schema 2020-12, as OpenCode's zod
/// schemas come out), keyed by tool name.
const TOOL_PARAMETERS: &str = include_str!("../data/opencode/tool_parameters.json");

/// A data file's text: every file under `data/` ends with one newline that
/// is not part of the text (so editors and `git diff` stay quiet about it).
fn text(file: &'static str) -> &'static str {
    file.strip_suffix('\n').unwrap_or(file)
}

/// The ten tools, in the order OpenCode sends them, with OpenCode's names,
/// argument names and schema structure (JSON Schema 2020-12 via zod).
fn opencode_tools() -> Vec<Value> {
    // The file is part of the binary and checked by the tests: it parses.
    let mut parameters: serde_json::Map<String, Value> =
        serde_json::from_str(TOOL_PARAMETERS).expect("tool_parameters.json is a JSON object");
    TOOL_DESCRIPTIONS
        .iter()
        .map(|(name, description)| {
            let parameters = parameters.remove(*name).unwrap_or(Value::Null);
            json!({"type": "function", "function": {"name": name, "description": text(description), "parameters": parameters}})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::Workspace;

    /// (tool, description chars, compact parameters chars) as OpenCode 1.18.33
    /// sends them; `list` is measured against the `skill` slot it replaces for
    /// the description only (OpenCode has no `list` schema to compare with).
    const MEASURED: &[(&str, usize, Option<usize>)] = &[
        ("bash", 4628, Some(492)),
        ("edit", 1369, Some(498)),
        ("glob", 517, Some(510)),
        ("grep", 657, Some(431)),
        ("list", 399, None),
        ("read", 1158, Some(479)),
        ("task", 3019, Some(724)),
        ("todowrite", 2012, Some(536)),
        ("webfetch", 750, Some(443)),
        ("write", 623, Some(317)),
    ];
    const MEASURED_SYSTEM: usize = 9536;

    fn within(ours: usize, theirs: usize, pct: usize) -> bool {
        ours * 100 >= theirs * (100 - pct) && ours * 100 <= theirs * (100 + pct)
    }

    #[test]
    fn opencode_sizes_match_measured_within_ten_percent() {
        let profile = Profile::opencode();
        let n = profile.system_prompt.chars().count();
        assert!(within(n, MEASURED_SYSTEM, 10), "system prompt {n}");
        assert_eq!(profile.tools.len(), MEASURED.len());
        for (tool, (name, desc, params)) in profile.tools.iter().zip(MEASURED) {
            let f = &tool["function"];
            assert_eq!(f["name"], *name);
            assert_eq!(tool["type"], "function");
            let d = f["description"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .count();
            assert!(within(d, *desc, 10), "{name} description {d} vs {desc}");
            let schema = serde_json::to_string(&f["parameters"]).unwrap_or_default();
            if let Some(params) = params {
                assert!(
                    within(schema.len(), *params, 10),
                    "{name} parameters {} vs {params}",
                    schema.len()
                );
            }
            assert_eq!(
                f["parameters"]["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            assert_eq!(f["parameters"]["type"], "object");
        }
        assert_eq!(profile.max_tokens, Some(32000));
        assert_eq!(profile.temperature, None);
    }

    #[test]
    fn every_tool_has_a_description_and_parameters_from_the_data_files() {
        let parameters: serde_json::Map<String, Value> =
            serde_json::from_str(TOOL_PARAMETERS).unwrap();
        let described: Vec<&str> = TOOL_DESCRIPTIONS.iter().map(|(name, _)| *name).collect();
        let with_parameters: Vec<&str> = parameters.keys().map(String::as_str).collect();
        assert_eq!(described, with_parameters);
        for (name, description) in TOOL_DESCRIPTIONS {
            assert!(
                description.ends_with('\n'),
                "{name}.txt lacks its final newline"
            );
            assert!(!text(description).trim().is_empty(), "{name}");
        }
        for file in [
            OPENCODE_SYSTEM_PROMPT,
            OPENCODE_TITLE_PROMPT,
            CHAT_SYSTEM_PROMPT,
            README_CONFIG_LONG,
            README_CONFIG_SHORT,
            RETRY_TEST,
        ] {
            assert!(file.ends_with('\n'), "{file}");
        }
    }

    #[test]
    fn built_in_profiles_validate() {
        for name in ["opencode", "chat"] {
            let profile = Profile::load(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(profile.name, name);
        }
        let oc = Profile::opencode();
        assert!((8..=10).contains(&oc.tasks.len()));
        for task in &oc.tasks {
            assert!((4..=10).contains(&task.steps.len()), "{}", task.prompt);
        }
        let chat = Profile::chat();
        assert!(
            chat.tools.is_empty() && chat.max_tokens == Some(1024) && chat.turns_per_session == 6
        );
        assert!(chat
            .tasks
            .iter()
            .all(|t| t.steps.iter().all(|s| matches!(s, Step::User { .. }))));
    }

    fn run_steps(ws: &mut Workspace, task: &Task, what: &str) {
        for (i, step) in task.steps.iter().enumerate() {
            if let Step::Tool { name, arguments } = step {
                let out = ws.run_tool(name, &arguments.to_string());
                assert!(
                    !out.starts_with("Error"),
                    "{what}: task {:?} step {} ({name}): {out}",
                    task.prompt,
                    i + 1
                );
                assert!(!out.is_empty());
            }
        }
    }

    #[test]
    fn scripted_tool_steps_run_without_errors() {
        for profile in [Profile::opencode(), Profile::chat()] {
            for seed in 0..12 {
                // Each task on a fresh workspace, and all of them in a row on one.
                for task in &profile.tasks {
                    run_steps(&mut Workspace::new(seed), task, "fresh");
                }
                let mut ws = Workspace::new(seed);
                for task in &profile.tasks {
                    run_steps(&mut ws, task, "in a row");
                }
            }
        }
    }

    #[test]
    fn scripted_fixes_make_the_tests_pass() {
        let mut ws = Workspace::new(4);
        let before = ws.run_tool("bash", r#"{"command": "cargo test"}"#);
        assert!(before.contains("FAILED"), "{before}");
        for task in &Profile::opencode().tasks {
            run_steps(&mut ws, task, "in a row");
        }
        for bin in ["parser_test", "cache_test", "retry_test"] {
            let out = ws.run_tool(
                "bash",
                &json!({"command": format!("cargo test --test {bin}")}).to_string(),
            );
            assert!(
                out.contains("test result: ok.") && !out.contains("FAILED"),
                "{bin}: {out}"
            );
        }
        let status = ws.run_tool("bash", r#"{"command": "git status"}"#);
        for path in [
            "src/cli.rs",
            "README.md",
            "src/config.rs",
            ".github/workflows/ci.yml",
        ] {
            assert!(status.contains(&format!("modified:   {path}")), "{status}");
        }
        assert!(status.contains("\ttests/retry_test.rs"), "{status}");
        assert_eq!(
            ws.run_tool("grep", r#"{"pattern": "normalize_key"}"#),
            "No files found"
        );
    }

    /// A fixed splitmix64 stream of uniforms in (0, 1].
    fn uniforms(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
        }
    }

    fn median_of(think: &ThinkTime, n: usize) -> f64 {
        let mut u = uniforms(42);
        let mut v: Vec<f64> = (0..n)
            .map(|_| think.sample(u(), u()).as_secs_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        v[n / 2]
    }

    #[test]
    fn think_time_sampling() {
        assert_eq!(ThinkTime::Zero.sample(0.3, 0.7), Duration::ZERO);
        assert_eq!(
            ThinkTime::Constant { seconds: 1.5 }.sample(0.1, 0.9),
            Duration::from_millis(1500)
        );
        let ln = ThinkTime::LogNormal {
            median_s: 4.0,
            sigma: 0.6,
        };
        assert_eq!(ln.sample(0.25, 0.5), ln.sample(0.25, 0.5));
        let m = median_of(&ln, 20_001);
        assert!((3.7..4.3).contains(&m), "lognormal median {m}");
        let m = median_of(
            &ThinkTime::LogNormal {
                median_s: 0.3,
                sigma: 0.8,
            },
            20_001,
        );
        assert!((0.27..0.33).contains(&m), "lognormal median {m}");
        // Exponential: median = mean * ln 2.
        let m = median_of(&ThinkTime::Exponential { mean_s: 2.0 }, 20_001);
        assert!((1.3..1.47).contains(&m), "exponential median {m}");
        // Edge uniforms never panic.
        for think in [ln.clone(), ThinkTime::Exponential { mean_s: 1.0 }] {
            for (a, b) in [(0.0, 0.0), (1.0, 1.0), (f64::NAN, -1.0), (1e-300, 0.5)] {
                let _ = think.sample(a, b);
            }
        }
        assert_eq!(ln.scaled(0.0), ThinkTime::Zero);
        assert_eq!(ln.scaled(0.0).sample(0.5, 0.5), Duration::ZERO);
        assert_eq!(
            ln.scaled(2.0),
            ThinkTime::LogNormal {
                median_s: 8.0,
                sigma: 0.6
            }
        );
        assert_eq!(
            ThinkTime::Constant { seconds: 2.0 }.scaled(0.5),
            ThinkTime::Constant { seconds: 1.0 }
        );
        assert_eq!(
            ThinkTime::Exponential { mean_s: 2.0 }.scaled(3.0),
            ThinkTime::Exponential { mean_s: 6.0 }
        );
    }

    fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("weir-profile-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    #[test]
    fn toml_round_trip() {
        for profile in [Profile::opencode(), Profile::chat()] {
            let text = toml::to_string(&profile).unwrap_or_else(|e| panic!("{e}"));
            let path = temp_file(&format!("{}.toml", profile.name), &text);
            let back = Profile::load(&path.to_string_lossy()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back.system_prompt, profile.system_prompt);
            assert_eq!(back.tools, profile.tools);
            assert_eq!(back.max_tokens, profile.max_tokens);
            assert_eq!(back.temperature, profile.temperature);
            assert_eq!(back.turns_per_session, profile.turns_per_session);
            assert_eq!(back.user_think, profile.user_think);
            assert_eq!(
                serde_json::to_value(&back.tasks).ok(),
                serde_json::to_value(&profile.tasks).ok()
            );
            // Same tools; note that the TOML parser hands table keys back
            // sorted, so a loaded profile's tools serialize with sorted keys
            // (still the same bytes on every turn).
        }
    }

    #[test]
    fn hand_written_toml_profile() {
        let text = r#"
name = "mini"
system_prompt = "You are terse."
max_tokens = 256
turns_per_session = 3
tool_think = { dist = "constant", seconds = 0.5 }
user_think = { dist = "exponential", mean_s = 2.0 }

[[tools]]
type = "function"
[tools.function]
name = "read"
description = "Read a file."
parameters = { type = "object", properties = { filePath = { type = "string" } }, required = ["filePath"] }

[[tasks]]
prompt = "Look at the CLI."
steps = [
  { kind = "tool", name = "read", arguments = { filePath = "src/cli.rs" } },
  { kind = "user", text = "Thanks." },
]
"#;
        let path = temp_file("mini.toml", text);
        let profile = Profile::load(&path.to_string_lossy()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(profile.temperature, None);
        assert_eq!(profile.tool_names(), vec!["read"]);
        assert_eq!(
            profile.tool_think.sample(0.5, 0.5),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn profile_errors_name_the_file_and_the_problem() {
        let mut profile = Profile::opencode();
        profile.tasks[1].steps.push(Step::Tool {
            name: "frobnicate".into(),
            arguments: json!({}),
        });
        let text = toml::to_string(&profile).unwrap_or_else(|e| panic!("{e}"));
        let path = temp_file("bad-tool.toml", &text);
        let shown = path.to_string_lossy().to_string();
        let err = Profile::load(&shown)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains(&shown) && err.contains("task 2 step 7 calls unknown tool `frobnicate`"),
            "{err}"
        );

        let missing = format!("{shown}.does-not-exist");
        let err = Profile::load(&missing).err();
        assert!(matches!(err, Some(ProfileError::Read { .. })));
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains(&missing) && msg.contains("opencode, chat"),
            "{msg}"
        );

        let path = temp_file("garbage.toml", "name = [");
        let msg = Profile::load(&path.to_string_lossy())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("garbage.toml") && msg.contains("not a valid profile"),
            "{msg}"
        );

        let check = |edit: &dyn Fn(&mut Profile), want: &str| {
            let mut p = Profile::chat();
            edit(&mut p);
            let msg = p
                .validate("x.toml")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                msg.starts_with("profile x.toml: ") && msg.contains(want),
                "{msg}"
            );
        };
        check(&|p| p.tasks.clear(), "`tasks` is empty");
        check(&|p| p.turns_per_session = 0, "turns_per_session");
        check(
            &|p| {
                p.tools
                    .push(json!({"type": "function", "function": {"description": "x"}}))
            },
            "function.name",
        );
        check(
            &|p| {
                p.tools
                    .push(json!({"type": "custom", "function": {"name": "x"}}))
            },
            "\"function\"",
        );
        check(
            &|p| {
                p.tasks[0].steps.push(Step::Tool {
                    name: "read".into(),
                    arguments: json!({}),
                })
            },
            "the profile has no tools",
        );
        check(
            &|p| p.user_think = ThinkTime::Constant { seconds: -1.0 },
            "user_think.seconds",
        );
    }
}
