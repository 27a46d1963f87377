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
            system_prompt: OPENCODE_SYSTEM_PROMPT.to_string(),
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
                system_prompt: OPENCODE_TITLE_PROMPT.to_string(),
                instruction: "Generate a title for this conversation:\n".to_string(),
            }),
        }
    }

    /// A plain chat client: short system prompt, no tools, questions with
    /// follow-ups.
    pub fn chat() -> Profile {
        Profile {
            name: "chat".to_string(),
            system_prompt: CHAT_SYSTEM_PROMPT.to_string(),
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

const README_CONFIG_LONG: &str = "## Configuration\n\nquill reads `quill.toml` from the working directory, or the file given with `--config`. Every key is optional; keys are matched after normalisation, so `cache-ttl-s`, `cache_ttl_s` and `Cache TTL S` are the same key.\n\n| Key | Type | Default | Meaning |\n|-----|------|---------|---------|\n| `listen` | string | `127.0.0.1:7878` | Address the server listens on. |\n| `cache_ttl_s` | integer | `300` | Seconds a cached result stays valid. |\n| `plugin_dirs` | array of strings | `[]` | Extra directories searched for plugins. |\n\nSee `tests/fixtures/sample.toml` for a complete example.\n\n";

const README_CONFIG_SHORT: &str = "## Configuration\n\n`quill.toml` keys (all optional): `listen` (default `127.0.0.1:7878`), `cache_ttl_s` (default `300`), `plugin_dirs` (default `[]`).\n\n";

const RETRY_TEST: &str = "use std::cell::Cell;\nuse std::time::Duration;\n\nuse quill::net::retry::{with_retry, RetryPolicy};\n\nfn policy(attempts: u32) -> RetryPolicy {\n    RetryPolicy {\n        attempts,\n        base_delay: Duration::from_millis(1),\n        max_delay: Duration::from_millis(4),\n    }\n}\n\n#[test]\nfn retries_until_success() {\n    let calls = Cell::new(0);\n    let result: Result<u32, &str> = with_retry(&policy(5), || {\n        calls.set(calls.get() + 1);\n        if calls.get() < 3 { Err(\"busy\") } else { Ok(7) }\n    });\n    assert_eq!(result, Ok(7));\n    assert_eq!(calls.get(), 3);\n}\n\n#[test]\nfn gives_up_after_the_last_attempt() {\n    let calls = Cell::new(0);\n    let result: Result<u32, &str> = with_retry(&policy(2), || {\n        calls.set(calls.get() + 1);\n        Err(\"down\")\n    });\n    assert_eq!(result, Err(\"down\"));\n    assert_eq!(calls.get(), 2);\n}\n";

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
                tool("edit", json!({"filePath": p("README.md"), "oldString": "## License\n", "newString": format!("{README_CONFIG_LONG}## License\n")})),
                user("That's too long. Just list the keys and their defaults."),
                tool("edit", json!({"filePath": p("README.md"), "oldString": README_CONFIG_LONG, "newString": README_CONFIG_SHORT})),
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
                tool("write", json!({"filePath": p("tests/retry_test.rs"), "content": RETRY_TEST})),
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

const CHAT_SYSTEM_PROMPT: &str = "You are a helpful assistant. Answer clearly and accurately. Keep answers short unless the user asks for detail, use markdown for lists and code, and say so when you are not sure.";

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

/// Our own system prompt, the size and structure of OpenCode 1.18.33's
/// (identity, tone with examples, conventions, tasks, tool policy, `<env>`).
/// The title request's system prompt (OpenCode's is 2,096 characters; this
/// one is our own text of about that size).
const OPENCODE_TITLE_PROMPT: &str = r##"You name conversations. Read the user's first message and write a short title for the conversation that it starts. Output only the title: a single line, no quotes, no markdown, no trailing punctuation, and no preamble such as "Title:" or "Here is a title".

How to write the title:
- Keep it under fifty characters. Shorter is better when it stays clear.
- Use the same language the user wrote in.
- Describe the task or the question, not the person asking. Prefer the concrete thing being changed or asked about: a file, a function, a command, an error, a feature.
- Start with a verb when the user asks for an action ("Fix flaky parser test", "Add retry to HTTP client"), and with a noun phrase when the user asks a question ("Lifetime errors in iterator adapter").
- Keep technical names exactly as the user wrote them: file paths, identifiers, flags, crate and package names, error codes. Do not translate or re-case them.
- Drop filler words such as "please", "can you", "I want to", "help me".
- Do not invent details the message does not contain. If the message is vague, the title can be general ("Questions about the build").
- If the message is only a greeting or is empty, answer with a neutral title such as "New conversation".
- Never answer the user's question, never ask a question back, never explain your choice.

Examples of the style (user message, then title):
- "the tests in tests/parser_test.rs fail since yesterday, can you look?" -> Fix failing parser tests
- "how do I make cargo build faster on CI?" -> Faster cargo builds on CI
- "add a --verbose flag to the cli and print the config when it is set" -> Add --verbose flag to CLI
- "why does this lifetime not live long enough in src/cache.rs" -> Lifetime error in src/cache.rs
- "hey" -> New conversation

Formatting rules again, because they matter most: one line, at most fifty characters, no surrounding quotes, no period at the end, nothing before or after the title. The title is shown in a narrow list of conversations, so every character counts; it is never read by a model, so it needs no context or explanation. Titles that break these rules are cut off or discarded by the interface.
"##;

const OPENCODE_SYSTEM_PROMPT: &str = r##"You are a terminal-based coding assistant. You help developers with software engineering work in their own repository: reading and changing code, running commands, and answering questions about the project. Follow the guidance below and use the tools you are given to get the work done.

IMPORTANT: Do not invent or guess web addresses. Only use a URL when the user gave it to you, when it appears in a file of the project, or when you are certain it points to documentation that helps with the programming task at hand.

When the user asks how to use this assistant or wants to report a problem, tell them:
- /help: show the built-in help and the list of commands
- Problems and suggestions can be filed in the project's issue tracker

When the user asks about this assistant itself (for example "can you do ...", "is there a way to ...", "do you support ..."), look the answer up in the assistant's documentation with the WebFetch tool before you reply, instead of answering from memory.

# Tone and style
Be brief, plain and precise. Before you run a shell command that is not trivial, say in one sentence what it does and why you are running it, so the user can follow along; this matters most for commands that change files, install packages or touch anything outside the repository.
Your replies are shown in a terminal. You may use GitHub-flavored markdown; it is rendered in a fixed-width font following the CommonMark rules.
Everything you write outside of tool calls is shown to the user, so use text only to talk to the user. Use tools only to do the work. Never use a shell command, a code comment or a file as a way of sending a message to the user.
If you cannot or should not help with a request, do not lecture the user about it; offer a useful alternative when there is one, and otherwise answer in one or two sentences.
Do not use emojis unless the user asks for them. Keep all communication free of emojis by default.
IMPORTANT: Spend as few output tokens as you can while staying correct and helpful. Address only the question or task you were given and leave out side remarks unless they are essential to finishing the request. When a sentence or two answers the question, stop there.
IMPORTANT: Do not open with a preamble or close with a recap (such as restating what you changed or explaining code you just wrote) unless the user asks for it.
IMPORTANT: Replies are read in a terminal, so keep them short. Use at most four lines of prose (tool calls and generated code do not count) unless the user asks for more detail. Answer directly, with no lead-in and no wrap-up. A single word is often the best answer. Avoid phrases like "The answer is ...", "Here is the file you asked for ..." or "Next I am going to ...". Some examples of the expected length:
<example>
user: what is 7 * 6?
assistant: 42
</example>

<example>
user: is 97 prime?
assistant: Yes
</example>

<example>
user: which command shows the files in this directory?
assistant: ls
</example>

<example>
user: which command rebuilds the project whenever a file changes?
assistant: [lists the repository root, then reads the build configuration to find the watch target]
cargo watch -x build
</example>

<example>
user: how many integration test files are there?
assistant: [runs glob for tests/*.rs and counts the matches]
7
</example>

<example>
user: what is in the src/ directory?
assistant: [lists src/ and sees lexer.rs, parser.rs, eval.rs]
user: where is the tokenizer implemented?
assistant: src/lexer.rs
</example>

<example>
user: add tests for the new option
assistant: [searches with grep and glob for the existing tests of similar options, reads the matching test files together in one batch of tool calls, then uses the edit tool to add the new tests next to them]
</example>

# Taking initiative
Take action when the user asks you to do something, and not before. Aim for a balance between:
1. Doing what was asked, including the obvious follow-up steps that the request implies
2. Not surprising the user with changes they did not ask for
For example, when the user asks how something could be done, answer the question first instead of immediately starting to change files.
3. Do not add an explanation or summary of your code unless the user asks for one. When you are done with a file, stop; do not narrate what you did.

# Respecting the project's conventions
Before you change a file, learn how it is written. Match its style, reuse the libraries and helpers it already has, and follow the patterns you find around it.
- NEVER assume that a library is available just because it is popular. Before you write code that depends on a library or framework, confirm that the project already uses it, for example by looking at neighbouring files or at the manifest (package.json, Cargo.toml, pyproject.toml and so on).
- When you add a new module or component, look at existing ones first and copy their structure: framework, naming, types and layout.
- When you change a piece of code, read what surrounds it, especially its imports, to see which frameworks and libraries it relies on, and make the change in the way that fits best.
- Follow security best practices at all times. Never write code that prints, logs or leaks secrets and keys, and never add secrets or keys to the repository.
- Handle errors the way the surrounding code does: if it returns errors to the caller, return them; if it logs them and carries on, do the same.

# Code style
- IMPORTANT: do NOT add comments to code unless the user asks for them

# Working on tasks
Most requests are software engineering tasks: fixing bugs, adding features, refactoring, explaining code and similar. For these, the recommended approach is:
- Use the search tools to understand the code and the request. Search broadly, and run independent searches in parallel as well as one after another.
- Make the change using whichever tools fit the job.
- Keep the change focused on the request; do not reformat or reorganise code you were not asked to touch.
- Check the result with the project's tests where you can. NEVER assume a particular test framework or test command; find out from the README or from the code how this project runs its tests.
- VERY IMPORTANT: after finishing a task, run the project's lint and type-check commands (for example npm run lint, cargo clippy, ruff or mypy) with Bash if you know them, to make sure your change is correct. If you cannot find the right command, ask the user for it, and once they tell you, suggest recording it in AGENTS.md so it is known next time.
NEVER create a commit unless the user explicitly asks for one. Committing only on request is VERY IMPORTANT; otherwise the user will feel that you are overstepping.

- Tool results and user messages may contain <system-reminder> tags. These carry useful context and reminders from the system; they are NOT part of what the user typed or of what the tool returned.

# Using tools
- For open-ended searches across the codebase, prefer the Task tool, which keeps your own context small.
- You can call several tools in one response. When you need several independent pieces of information, request them together so they run at the same time. When you want to run more than one bash command, send them as several tool calls in a single message so they run in parallel; for example, to see both "git status" and "git diff", make two tool calls in the same message.
- Prefer the dedicated file tools (Read, Edit, Write, Glob, Grep) over shell commands such as cat, sed or find; they are faster and their output is easier for you to work with.

Unless the user asks for detail, answer in fewer than four lines of text (tool calls and generated code not included).

IMPORTANT: Before you start, think about what the code you are about to change is meant to do, judging by the file names and the directory layout.

# Pointing at code

When you mention a particular function or piece of code, give its location as `file_path:line_number` so the user can jump straight to it.

<example>
user: Where do we handle a failed connection?
assistant: Failed connections are retried and then reported in `connect_with_backoff` in src/net/client.rs:214.
</example>

You are running as the model that the user selected for this session.
Details about the environment you are working in:
<env>
  Working directory: /home/dev/quill
  Workspace root folder: /home/dev/quill
  Is directory a git repo: yes
  Platform: linux
  Today's date: Mon Mar 02 2026
</env>
Project notes describe conventions and workflows that apply to this repository.
Read the matching note before you start a task that it covers.
<project_notes>
  <note>
    <name>testing</name>
    <description>Use when running or writing tests: unit tests live next to the code in src/, integration tests in tests/, fixtures in tests/fixtures/. Run the Rust tests with cargo test and the Python client's tests with pytest from tools/py. Never delete a failing test to make the suite pass.</description>
    <location>docs/contributing.md</location>
  </note>
  <note>
    <name>release</name>
    <description>Use ONLY when preparing a release or editing CHANGELOG.md, Cargo.toml versions or scripts/release.sh: bump the version in every manifest, add a dated CHANGELOG entry, and run scripts/check.sh before tagging. Do not use for ordinary feature work.</description>
    <location>docs/contributing.md</location>
  </note>
</project_notes>"##;

const BASH_DESCRIPTION: &str = r##"Runs a bash command in a shell session that persists between calls, with an optional timeout, taking care to handle quoting, output and safety correctly.

Note: OS: linux, Shell: bash

Commands start in the workspace's working directory unless you say otherwise. If a command must run somewhere else, set the `workdir` parameter rather than prefixing the command with `cd <directory> &&`.

Scratch files that do not belong in the workspace can go in `/tmp/agent`. That directory already exists and may be used without asking for permission.

IMPORTANT: This tool is meant for terminal work such as git, cargo, npm, make or docker. Do NOT use it to read, write, edit or search files or to find files by name; the dedicated tools do those jobs better.

Before you run a command, go through these steps:

1. Check the target directory:
   - If the command creates files or directories, first run `ls` to make sure the parent directory exists and is the one you mean
   - For example, before "mkdir build/cache", run `ls build` to confirm that "build" exists and is the right parent

2. Run the command:
   - Put double quotes around any path that contains spaces (e.g., rm "old notes/draft.txt")
   - Examples of correct and incorrect quoting:
     - cd "/home/user/My Projects" (correct)
     - cd /home/user/My Projects (incorrect - will fail)
     - node "/srv/app files/index.js" (correct)
     - node /srv/app files/index.js (incorrect - will fail)
   - Once the quoting is right, run the command.
   - Collect what the command prints.

Usage notes:
  - The command argument must be given.
  - The timeout is optional and in milliseconds. Without it, a command is stopped after 120000ms.
  - Output longer than 2000 lines or 51200 bytes is cut short and the complete output is saved to a file. Use Read with offset/limit on that file to look at particular parts, or Grep to search it. Do NOT pipe into `head`, `tail` or similar to shorten output yourself; the full output is kept anyway and can be searched precisely.

  - Do not use Bash to run `find`, `grep`, `cat`, `head`, `tail`, `sed`, `awk` or `echo` unless the user told you to or there is truly no alternative. Use the dedicated tools for these jobs instead:
    - Finding files: use Glob (NOT find or ls)
    - Searching contents: use Grep (NOT grep or rg)
    - Reading files: use Read (NOT cat/head/tail)
    - Changing files: use Edit (NOT sed/awk)
    - Creating files: use Write (NOT echo >/cat <<EOF)
    - Talking to the user: write plain text (NOT echo/printf)
  - When you need several commands:
    - If they are independent of each other and can run at the same time, issue several bash tool calls in one message. For example, to see both "git status" and "git log", send one message containing two bash tool calls.
    - If they depend on each other and must run in order, chain them with '&&' in a single Bash call (e.g., `cargo fmt && cargo clippy && cargo test`). Whenever one step has to finish before the next begins (mkdir before cp, Write before a git command that uses the file, git add before git commit), run them in sequence like this.
    - Use ';' only when the commands must run in order but a failure of an earlier one does not matter
    - Do NOT separate commands with newlines (newlines inside quoted strings are fine)
  - AVOID `cd <directory> && <command>`. Set the `workdir` parameter to change directory instead.
    <good-example>
    workdir="/srv/app" with command: npm test
    </good-example>
    <bad-example>
    cd /srv/app && npm test
    </bad-example>

# Git and GitHub
- Commit, amend, push or open pull requests only when the user explicitly asks.
- Before a commit, look at `git status`, `git diff` and `git log --oneline -10`; stage only the files you mean to, and never commit secrets.
- Keep commit messages short and in the style the repository already uses.
- Do not change git config, bypass hooks, use interactive flags such as `-i`, force-push or create empty commits unless explicitly asked.
- If a commit fails or a hook rejects it, fix the cause and make a new commit; do not amend the commit that failed.
- Before opening a pull request, check the status, the diff, the remote tracking branch, the recent commits and the diff against the base branch.
- Read every commit that will be part of the pull request, not only the most recent one.
- Use `gh` for GitHub work such as pull requests, issues, checks and releases, and give the user the pull request URL at the end.
"##;

const EDIT_DESCRIPTION: &str = r##"Replaces exact text in a file.

Usage:
- Read the file with the `Read` tool at least once in this conversation before you edit it. Editing a file you have not read is an error.
- When you copy text from Read output, keep the indentation (tabs or spaces) exactly as it appears AFTER the line-number prefix. That prefix is the line number, a colon and a space (e.g., `12: `); the file content starts right after the space. Never put any part of the prefix into oldString or newString.
- ALWAYS prefer changing files that already exist in the project. NEVER create new files unless that is clearly required.
- Do not add emojis to files unless the user asks for them.
- Keep each edit small and focused: change only the lines that need to change, and make several edits rather than one that rewrites a large block.
- The edit FAILS if `oldString` does not occur in the file, with the error "oldString not found in content".
- The edit FAILS if `oldString` occurs more than once, with the error "Found multiple matches for oldString. Provide more surrounding lines in oldString to identify the correct match." Either include more of the surrounding lines so that the text is unique, or set `replaceAll` to change every occurrence.
- Set `replaceAll` to change every occurrence in the file, for example when renaming a variable or function throughout it.
"##;

const GLOB_DESCRIPTION: &str = r##"- Quick file-name matching that works on repositories of any size
- Understands glob patterns such as "**/*.rs" or "src/**/*.py"
- Returns the paths of the matching files, sorted by path
- Use it whenever you are looking for files by name or extension
- For open-ended exploration that may take several rounds of globbing and grepping, use the Task tool instead
- You can make several tool calls in one response. It usually pays to run a batch of searches that might be useful at the same time.
"##;

const GREP_DESCRIPTION: &str = r##"- Quick search of file contents that works on repositories of any size
- Takes regular expressions as the search pattern
- Accepts the full regex syntax (e.g. "fn\s+parse_\w+", "TODO.*later", etc.)
- Narrow the files searched with the include parameter (e.g. "*.rs", "*.{py,pyi}")
- Returns the paths and line numbers of the matching lines
- Use it when you need to find which files contain some text or pattern
- If you need to count matches or list them per file, run `rg` (ripgrep) through the Bash tool. Do NOT use plain `grep`.
- For open-ended exploration that may take several rounds of globbing and grepping, use the Task tool instead
"##;

const LIST_DESCRIPTION: &str = r##"Shows the files and directories under a path as a tree. The path should be absolute; leave it out to list the workspace root. Pass glob patterns in `ignore` to hide entries you do not care about, such as build output or vendored code. When you already know which names or contents you are looking for, the Glob and Grep tools are usually the better choice. Directories are shown before files at each level.
"##;

const READ_DESCRIPTION: &str = r##"Reads a file or a directory from the local filesystem. Reading a path that does not exist returns an error.

Usage:
- Give an absolute path in filePath.
- By default the tool returns at most 2000 lines, starting at the top of the file.
- offset is the line to start at, counting from 1.
- To see later parts of a long file, call the tool again with a larger offset.
- Use the grep tool to locate particular content in very large files or in files with very long lines.
- If you are not sure of a file's exact path, look it up by name pattern with the glob tool first.
- Each returned line starts with its line number, as `<line>: <content>`. For example, a file containing "hello\n" comes back as "1: hello\n". For a directory, the entries are listed one per line (without numbers), with a trailing `/` on subdirectories.
- Lines longer than 2000 characters are cut off.
- When you already know that you need several files, read them in parallel.
- Do not page through a file in many small slices (30 lines at a time); read a bigger window when you need more context.
- Images and PDF files can be read too; they are returned as attachments.
"##;

const TASK_DESCRIPTION: &str = r##"Starts a sub-agent that works on a complex, multi-step task on its own.

When you use the Task tool you must pick the kind of agent with the subagent_type parameter.

When NOT to use the Task tool:
- To read a file whose path you already know, use the Read or Glob tool; it finds the file faster than a sub-agent
- To find a specific definition such as "struct Config", use the Grep tool; it is faster
- To look for code inside one known file or a handful of known files, use the Read tool instead
- If none of the available agents fits the job, do the work with the other tools yourself
- For a small change in a file you have already read, make the edit yourself; starting an agent costs more than it saves


Usage notes:
1. Start several agents at the same time whenever you can; to do that, put several tool calls in a single message
2. Once a piece of work has been handed to an agent, do not do it again yourself. Carry on with other work that does not overlap, or wait for the result. For agents running in the background you are told automatically when their result arrives.
3. When the agent finishes it sends back a single message. The user does not see that message; to share what the agent found, write the user a short summary yourself. The result includes a task_id that you can pass later to continue the same sub-agent session.
4. Every agent starts with an empty context unless you pass task_id to resume an earlier sub-agent session (which then keeps its earlier messages and tool results). For a fresh agent, write a detailed, self-contained description of the work so it can proceed on its own, and say exactly what it should report back in its final and only message to you.
5. The agent's results can generally be relied upon
6. Tell the agent plainly whether it is expected to change code or only to investigate (search, read files, fetch web pages and so on), because it does not know what the user wants. If you can, tell it how to check its work (for example, which test command to run).
7. If an agent's description says it should be used proactively, use it without waiting for the user to ask for it. Use your judgement.

Available agent types and the tools they can use:
- explore: A fast agent for finding your way around a codebase. Use it to find files by pattern (e.g. "tests/**/*_test.rs"), to search the code for terms (e.g. "retry policy"), or to answer questions about how the code works (e.g. "where are HTTP routes registered?"). When you call it, say how thorough it should be: "quick" for a simple lookup, "medium" for a moderate search, or "very thorough" for a complete sweep across many locations and naming styles.
- general: A general-purpose agent for researching difficult questions and carrying out multi-step work. Use it to run several independent pieces of work in parallel, or to hand off a self-contained job (such as updating every caller of a changed function) while you continue with something else."##;

const TODOWRITE_DESCRIPTION: &str = r##"Creates and updates a structured task list for this coding session. It keeps track of progress, organises work with several steps and shows the user where things stand.

## When to use it
Use it on your own initiative when:
- The work needs 3 or more separate steps or actions (not just 3 tool calls for one step)
- The task is non-trivial and benefits from a plan
- The user gives you several tasks at once (as a numbered or comma-separated list) or asks for a todo list
- New instructions come in: record them as todos
- You begin a task: mark it `in_progress` (only one at a time) before you start
- You finish a task: mark it `completed` and add any follow-up work you discovered along the way

## When NOT to use it
Skip it when:
- The work is a single, simple task (or fewer than 3 trivial steps)
- The request is only a question or a conversation
- A list would not help organise anything

## States
- `pending` - not started yet
- `in_progress` - being worked on (exactly ONE at a time)
- `completed` - done successfully
- `cancelled` - no longer needed

## Rules
- Update states as you go; do not mark several items done at once at the end
- Mark an item `completed` only once the work, including any verification it needs, is really done. Never because you intend to do it.
- Keep exactly one item `in_progress` while work remains
- If you are blocked or only partly done, leave the item `in_progress` and add a todo that describes what is blocking you
- Keep commands the user gave you exactly as written (flags, arguments, order)
- Make items specific and actionable; split large pieces of work into smaller steps

## Examples

Use it:
- "Add a --dry-run flag and update the docs" -> several steps + documentation
- "Rename load_cfg -> load_config everywhere" -> grep finds 12 uses in 6 files
- "Add login, a settings page and an export feature" -> several complex features

Skip it:
- "What does the ? operator do in Rust?" -> a question
- "Fix the typo in the README title" -> a single edit
- "Run cargo build and tell me what happens" -> one command

If unsure, use it.
"##;

const WEBFETCH_DESCRIPTION: &str = r##"- Downloads the content found at a given URL
- Takes a URL and, optionally, an output format
- Retrieves the page and converts it to the requested format (markdown unless told otherwise)
- Returns the converted content
- Use it when you need to read and work with content from the web

Usage notes:
  - IMPORTANT: if another available tool offers better web access, is better suited to the task or has fewer limitations, use that tool instead of this one.
  - The URL has to be complete and valid
  - HTTP addresses are upgraded to HTTPS automatically
  - Formats: "markdown" (the default), "text" or "html"
  - The tool only reads; it never changes any files
  - Very large pages may come back summarised
"##;

const WRITE_DESCRIPTION: &str = r##"Writes a file to the local filesystem.

Usage:
- If a file already exists at the given path, it is overwritten.
- If the file already exists, you MUST read it with the Read tool first. Writing an existing file you have not read is an error.
- ALWAYS prefer changing files that already exist in the project. NEVER create new files unless that is clearly required.
- NEVER create documentation files (*.md) or READMEs on your own initiative. Only write documentation when the user asks for it.
- Write the whole file: the content you pass replaces everything that was there before.
- Do not put emojis in files unless the user asks for them.
"##;

/// The ten tools, in the order OpenCode sends them, with OpenCode's names,
/// argument names and schema structure (JSON Schema 2020-12 via zod).
fn opencode_tools() -> Vec<Value> {
    const BIG: i64 = 9_007_199_254_740_991;
    let tool = |name: &str, description: &str, parameters: Value| json!({"type": "function", "function": {"name": name, "description": description, "parameters": parameters}});
    vec![
        tool(
            "bash",
            BASH_DESCRIPTION,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "command": {
                        "type": "string",
                        "description": "The shell command to run"
                    },
                    "timeout": {
                        "minimum": -BIG,
                        "exclusiveMinimum": 0,
                        "type": "integer",
                        "maximum": BIG,
                        "description": "Optional time limit in milliseconds"
                    },
                    "workdir": {
                        "type": "string",
                        "description": "Directory to run the command in. Defaults to the workspace directory. Set this instead of prefixing the command with 'cd'."
                    }
                },
                "required": [
                    "command"
                ]
            }),
        ),
        tool(
            "edit",
            EDIT_DESCRIPTION,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "filePath": {
                        "type": "string",
                        "description": "Absolute path of the file to change"
                    },
                    "oldString": {
                        "type": "string",
                        "description": "The exact text to replace"
                    },
                    "newString": {
                        "type": "string",
                        "description": "The text to put in its place (must differ from oldString)"
                    },
                    "replaceAll": {
                        "type": "boolean",
                        "description": "Replace every occurrence of oldString (default false)"
                    }
                },
                "required": [
                    "filePath",
                    "oldString",
                    "newString"
                ]
            }),
        ),
        tool(
            "glob",
            GLOB_DESCRIPTION,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "pattern": {
                        "type": "string",
                        "description": "The glob pattern that file paths must match"
                    },
                    "path": {
                        "type": "string",
                        "description": "The directory to search. When left out, the workspace directory is searched. IMPORTANT: leave this field out to get the default directory; do NOT pass \"undefined\" or \"null\" as a value. If you give it, it has to be an existing directory."
                    }
                },
                "required": [
                    "pattern"
                ]
            }),
        ),
        tool(
            "grep",
            GREP_DESCRIPTION,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "pattern": {
                        "type": "string",
                        "description": "Regular expression to look for in file contents"
                    },
                    "path": {
                        "type": "string",
                        "description": "The directory to search. Defaults to the workspace directory."
                    },
                    "include": {
                        "type": "string",
                        "description": "Only search files matching this pattern (e.g. \"*.rs\", \"*.{py,pyi}\")"
                    }
                },
                "required": [
                    "pattern"
                ]
            }),
        ),
        tool(
            "list",
            LIST_DESCRIPTION,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "path": {
                        "type": "string",
                        "description": "Absolute path of the directory to list (defaults to the workspace root)"
                    },
                    "ignore": {
                        "type": "array",
                        "items": {
                            "type": "string"
                        },
                        "description": "Glob patterns of entries to leave out"
                    }
                }
            }),
        ),
        tool(
            "read",
            READ_DESCRIPTION,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "filePath": {
                        "type": "string",
                        "description": "Absolute path of the file or directory to read"
                    },
                    "offset": {
                        "minimum": 0,
                        "type": "integer",
                        "maximum": BIG,
                        "description": "Line number to start reading at (counting from 1)"
                    },
                    "limit": {
                        "minimum": 0,
                        "type": "integer",
                        "maximum": BIG,
                        "description": "Most lines to return (2000 when not given)"
                    }
                },
                "required": [
                    "filePath"
                ]
            }),
        ),
        tool(
            "task",
            TASK_DESCRIPTION,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "description": {
                        "type": "string",
                        "description": "A short (3-5 word) summary of the task"
                    },
                    "prompt": {
                        "type": "string",
                        "description": "What the agent should do"
                    },
                    "subagent_type": {
                        "type": "string",
                        "description": "Which kind of specialised agent should do the task"
                    },
                    "task_id": {
                        "type": "string",
                        "description": "Set this only to resume an earlier task: pass the task_id it returned and the same sub-agent session continues with its previous context instead of starting over"
                    },
                    "command": {
                        "type": "string",
                        "description": "The command that started this task"
                    }
                },
                "required": [
                    "description",
                    "prompt",
                    "subagent_type"
                ]
            }),
        ),
        tool(
            "todowrite",
            TODOWRITE_DESCRIPTION,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "todos": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "content": {
                                    "type": "string",
                                    "description": "Short description of the item"
                                },
                                "status": {
                                    "type": "string",
                                    "description": "Where the item stands: pending, in_progress, completed, cancelled"
                                },
                                "priority": {
                                    "type": "string",
                                    "description": "How important the item is: high, medium, low"
                                }
                            },
                            "required": [
                                "content",
                                "status",
                                "priority"
                            ]
                        },
                        "description": "The complete, updated todo list"
                    }
                },
                "required": [
                    "todos"
                ]
            }),
        ),
        tool(
            "webfetch",
            WEBFETCH_DESCRIPTION,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "url": {
                        "type": "string",
                        "description": "The address to fetch"
                    },
                    "format": {
                        "type": "string",
                        "enum": [
                            "text",
                            "markdown",
                            "html"
                        ],
                        "description": "Format of the returned content (text, markdown or html). Markdown when not given.",
                        "default": "markdown"
                    },
                    "timeout": {
                        "type": "number",
                        "description": "Optional time limit in seconds (at most 120)"
                    }
                },
                "required": [
                    "url"
                ]
            }),
        ),
        tool(
            "write",
            WRITE_DESCRIPTION,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "content": {
                        "type": "string",
                        "description": "The text to write into the file"
                    },
                    "filePath": {
                        "type": "string",
                        "description": "Absolute path of the file to write (relative paths are not accepted)"
                    }
                },
                "required": [
                    "content",
                    "filePath"
                ]
            }),
        ),
    ]
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
