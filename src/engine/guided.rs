//! Constrained decoding (structured outputs) with the `llguidance` crate.
//!
//! A request's [`Constraint`] (from `response_format` or a forced
//! `tool_choice`) becomes a Lark grammar with embedded `%json{...}` schemas
//! ([`grammar`]), which llguidance compiles against the model's vocabulary
//! ([`Guidance::compile`]). The result, a [`CompiledConstraint`], travels
//! with each of the request's sequences to the executor, where every choice
//! gets its own [`SeqConstraint`]: before each sampled token it computes the
//! set of allowed tokens and masks every other logit to `-inf`; after, it
//! advances by the token that was chosen. When the grammar is complete only
//! the model's end-of-sequence tokens are allowed, so the choice ends with
//! `stop` (or `tool_calls`).
//!
//! Tool calls are constrained to exactly the markup the model family's
//! output parser ([`crate::parse`]) reads back, so a forced call always
//! parses: Hermes `<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>`
//! blocks, Llama 3 `{"name": ..., "parameters": ...}` objects joined by
//! `; `, Mistral `[TOOL_CALLS][{"name": ..., "arguments": ...}]`, and the
//! Qwen3-Coder, DeepSeek, Kimi K2, GLM and gpt-oss harmony markups (see
//! each family's grammar function).
//!
//! JSON is compact with `", "` and `": "` separators (what `json.dumps`
//! writes, and what models mostly saw): flexible whitespace would let a
//! model pad its output without end.
//!
//! The token environment (every token's bytes in a trie) is built once per
//! engine (in the background at start, see [`Guidance::warm`]) from the
//! tokenizer's own `tokenizer.json` form.

use std::sync::{Arc, OnceLock};

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{SimpleVob, TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};
use serde_json::{json, Value};

use crate::engine::request::{Constraint, ToolSpec};
use crate::parse::ToolFormat;
use crate::tokenize::Tokenizer;

/// Why a constraint could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuidedError {
    /// The grammar library rejected part of the request (a client error).
    #[error("{message}")]
    Rejected {
        /// The request field at fault (`response_format.json_schema.schema`,
        /// `tools[1].function.parameters`, ...).
        param: String,
        /// What the library said, prefixed with the field.
        message: String,
    },
    /// This model's tokenizer cannot drive the grammar library.
    #[error("constrained decoding is not available for this model: {0}")]
    Unavailable(String),
}

/// How the output may begin before the constrained part, for models that
/// reason in `<think>` blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReasoningPrefix {
    /// The constrained output starts at the first token.
    None,
    /// An optional `<think>...</think>` block may come first.
    Optional,
    /// The prompt opened a `<think>` block: free text up to `</think>` comes first.
    Open,
    /// gpt-oss harmony: an optional `analysis` message may come first, and
    /// a JSON answer is framed as the `final` message.
    Harmony,
}

/// The engine's grammar compiler: the tokenizer's token trie and
/// llguidance's parser factory, built on first use.
pub struct Guidance {
    tokenizer: Arc<Tokenizer>,
    factory: OnceLock<Result<ParserFactory, String>>,
}

impl std::fmt::Debug for Guidance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guidance")
            .field("ready", &self.factory.get().is_some())
            .finish_non_exhaustive()
    }
}

/// The tokenizer as llguidance sees it: each token's bytes, plus a way to
/// tokenize text (used for literal strings in grammars).
struct WeirTokEnv {
    trie: TokTrie,
    /// `None` only in measurements over synthetic vocabularies.
    tokenizer: Option<Arc<Tokenizer>>,
}

impl TokenizerEnv for WeirTokEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        self.trie.tokenize_with_greedy_fallback(s, |text| {
            // Text the tokenizer cannot encode falls back to the trie's
            // greedy tokenization (never a panic).
            self.tokenizer
                .as_ref()
                .and_then(|t| t.encode(text, false).ok())
                .unwrap_or_else(|| self.trie.greedy_tokenize(text.as_bytes()))
        })
    }
}

impl Guidance {
    /// A compiler for this tokenizer; nothing is built until the first
    /// constrained request.
    pub fn new(tokenizer: Arc<Tokenizer>) -> Self {
        Self {
            tokenizer,
            factory: OnceLock::new(),
        }
    }

    /// Build the token trie and parser factory now (the engine does this in
    /// the background at start, so the first constrained request does not
    /// wait: about half a second for a 152k vocabulary). Idempotent.
    pub fn warm(&self) {
        if let Err(e) = self.factory() {
            tracing::warn!(error = %e, "constrained decoding is unavailable for this model");
        }
    }

    fn factory(&self) -> Result<&ParserFactory, GuidedError> {
        self.factory
            .get_or_init(|| build_factory(&self.tokenizer))
            .as_ref()
            .map_err(|e| GuidedError::Unavailable(e.clone()))
    }

    /// Compile `constraint` for a model whose tool calls are in `tools`
    /// markup. CPU work (milliseconds to tens of milliseconds for large
    /// schemas, more the first time): call it off the async reactor.
    pub fn compile(
        &self,
        constraint: &Constraint,
        tools: ToolFormat,
        reasoning: ReasoningPrefix,
    ) -> Result<CompiledConstraint, GuidedError> {
        compile_with(self.factory()?, constraint, tools, reasoning)
    }
}

/// [`Guidance::compile`] with a given factory.
fn compile_with(
    factory: &ParserFactory,
    constraint: &Constraint,
    tools: ToolFormat,
    reasoning: ReasoningPrefix,
) -> Result<CompiledConstraint, GuidedError> {
    let trie = factory.tok_env().tok_trie();
    let lark = grammar(constraint, tools, reasoning, &|m| marker(trie, m));
    let parser = factory
        .create_parser(TopLevelGrammar::from_lark(lark))
        .map_err(|e| blame(factory, constraint, &e.to_string()))?;
    let matcher = Matcher::new(Ok(parser));
    if let Some(e) = matcher.get_error() {
        return Err(blame(factory, constraint, &e));
    }
    Ok(CompiledConstraint { matcher })
}

/// Name the field behind a compile error: the schema of `response_format`,
/// or the first tool whose schema fails alone.
fn blame(factory: &ParserFactory, constraint: &Constraint, error: &str) -> GuidedError {
    let param = match constraint {
        Constraint::JsonObject => "response_format".to_string(),
        Constraint::JsonSchema { .. } => "response_format.json_schema.schema".to_string(),
        Constraint::ToolCalls { tools, .. } => tools
            .iter()
            .find(|t| {
                let alone = format!("start: %json {}", schema_text(&t.parameters));
                factory
                    .create_parser(TopLevelGrammar::from_lark(alone))
                    .is_err()
            })
            .map(|t| format!("tools[{}].function.parameters", t.index))
            .unwrap_or_else(|| "tool_choice".to_string()),
    };
    let error = error.trim();
    GuidedError::Rejected {
        message: format!("{param} cannot be enforced: {error}"),
        param,
    }
}

/// Build the token trie and the parser factory from the tokenizer.
fn build_factory(tokenizer: &Arc<Tokenizer>) -> Result<ParserFactory, String> {
    let json = tokenizer
        .inner()
        .to_string(false)
        .map_err(|e| format!("cannot serialise the tokenizer: {e}"))?;
    let json: Value =
        serde_json::from_str(&json).map_err(|e| format!("cannot read the tokenizer: {e}"))?;
    // llguidance asserts on vocabularies it does not understand; a panic
    // there means "unsupported", not a dead worker.
    let bytes = std::panic::catch_unwind(|| llguidance::token_bytes_from_tokenizer_json(&json))
        .map_err(|_| "the tokenizer's vocabulary is not understood".to_string())?
        .map_err(|e| e.to_string())?;
    factory_from_words(
        bytes,
        tokenizer.vocab_size(),
        tokenizer.eos_token_ids(),
        Some(tokenizer.clone()),
    )
}

/// The parser factory over a vocabulary given as each token's bytes
/// (special tokens prefixed with [`TokTrie::SPECIAL_TOKEN_MARKER`]).
fn factory_from_words(
    mut words: Vec<Vec<u8>>,
    vocab_size: usize,
    eos_ids: &[u32],
    tokenizer: Option<Arc<Tokenizer>>,
) -> Result<ParserFactory, String> {
    let vocab = vocab_size.max(words.len());
    while words.len() < vocab {
        // Ids without a token: unreachable placeholders (special, never text).
        let mut name = format!(".<[{}]>", words.len()).into_bytes();
        name[0] = TokTrie::SPECIAL_TOKEN_MARKER;
        words.push(name);
    }
    let eos: Vec<u32> = eos_ids
        .iter()
        .copied()
        .filter(|&id| (id as usize) < vocab)
        .collect();
    let Some(&first_eos) = eos.first() else {
        return Err("the model has no end-of-sequence token to end a constrained reply".into());
    };
    let info = TokRxInfo::new(vocab as u32, first_eos);
    let mut trie = TokTrie::from(&info, &words);
    if eos.len() > 1 {
        // Every id was checked against the vocabulary above.
        trie = trie.with_eos_tokens(&eos);
    }
    let env: TokEnv = Arc::new(WeirTokEnv { trie, tokenizer });
    let mut factory = ParserFactory::new_simple(&env).map_err(|e| e.to_string())?;
    factory.quiet();
    Ok(factory)
}

/// A marker of the tool-call markup as a grammar element: the special
/// token itself when the vocabulary has it as one (`<[id]>`), else the text.
fn marker(trie: &TokTrie, text: &str) -> String {
    let mut special = vec![TokTrie::SPECIAL_TOKEN_MARKER];
    special.extend_from_slice(text.as_bytes());
    match trie.token_id(&special) {
        Some(id) => format!("<[{id}]>"),
        None => lit(text),
    }
}

/// A Lark string literal for `text` (a JSON string is a valid one).
fn lit(text: &str) -> String {
    Value::from(text).to_string()
}

/// The JSON options every schema is compiled with (the client's own
/// `x-guidance` wins).
fn with_options(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(o) = &mut schema {
        o.entry("x-guidance").or_insert_with(
            || json!({"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "}),
        );
    }
    schema
}

/// A schema as the text after `%json`.
fn schema_text(schema: &Value) -> String {
    with_options(schema).to_string()
}

/// The Lark grammar for a constraint. `marker` spells a markup marker
/// (special token or text); see [`marker`].
pub fn grammar(
    constraint: &Constraint,
    tools: ToolFormat,
    reasoning: ReasoningPrefix,
    marker: &dyn Fn(&str) -> String,
) -> String {
    let mut g = String::new();
    match reasoning {
        ReasoningPrefix::None => g.push_str("start: body\n"),
        ReasoningPrefix::Optional => {
            g.push_str(&format!(
                "start: ({} thought)? body\n",
                marker(crate::parse::reasoning::OPEN)
            ));
        }
        ReasoningPrefix::Open => g.push_str("start: thought body\n"),
        ReasoningPrefix::Harmony => harmony_analysis(&mut g, marker),
    }
    if matches!(reasoning, ReasoningPrefix::Optional | ReasoningPrefix::Open) {
        // Free text up to the first `</think>`, then any blank lines.
        g.push_str("thought: thought_text BLANK?\n");
        let close = crate::parse::reasoning::CLOSE;
        text_until(&mut g, "thought_text", close, &marker(close));
        g.push_str("BLANK: /[ \\n]+/\n");
    }
    // A harmony answer is the `final` message.
    let answer = if reasoning == ReasoningPrefix::Harmony {
        use crate::parse::harmony::{CHANNEL, MESSAGE};
        format!("{} \"final\" {} ", marker(CHANNEL), marker(MESSAGE))
    } else {
        String::new()
    };
    match constraint {
        Constraint::JsonObject => {
            g.push_str(&format!(
                "body: {answer}%json {}\n",
                schema_text(&json!({"type": "object"}))
            ));
        }
        Constraint::JsonSchema { schema, .. } => {
            g.push_str(&format!("body: {answer}%json {}\n", schema_text(schema)));
        }
        Constraint::ToolCalls {
            tools: specs,
            one_or_more,
        } => tool_grammar(&mut g, specs, *one_or_more, tools, marker),
    }
    g
}

fn tool_grammar(
    g: &mut String,
    specs: &[ToolSpec],
    one_or_more: bool,
    format: ToolFormat,
    marker: &dyn Fn(&str) -> String,
) {
    // The key the format's parser reads the arguments from.
    let args_key = match format {
        ToolFormat::Llama3 => "parameters",
        _ => "arguments",
    };
    let alternatives: Vec<String> = (0..specs.len()).map(|i| format!("fn{i}")).collect();
    g.push_str(&format!("call: {}\n", alternatives.join(" | ")));
    let more = |sep: &str, item: &str| {
        if one_or_more {
            format!("{item} ({} {item})*", lit(sep))
        } else {
            item.to_string()
        }
    };
    match format {
        ToolFormat::Qwen3Coder => return qwen3_coder_grammar(g, specs, marker, &more),
        ToolFormat::DeepSeek => return deepseek_grammar(g, specs, marker, one_or_more),
        ToolFormat::Harmony => return harmony_grammar(g, specs, marker),
        ToolFormat::KimiK2 => return kimi_k2_grammar(g, specs, marker, one_or_more),
        ToolFormat::Glm => return glm_grammar(g, specs, marker, &more),
        _ => {}
    }
    for (i, spec) in specs.iter().enumerate() {
        let head = format!(
            "{{\"name\": {}, \"{args_key}\": ",
            Value::from(spec.name.as_str())
        );
        g.push_str(&format!(
            "fn{i}: {} %json {} \"}}\"\n",
            lit(&head),
            schema_text(&spec.parameters)
        ));
    }
    match format {
        // The Hermes markup, also used when the model's format is unknown
        // (the request actor then parses Hermes).
        ToolFormat::Hermes | ToolFormat::None => {
            let start = marker(crate::parse::hermes::START);
            let end = marker(crate::parse::hermes::END);
            g.push_str(&format!("block: {start} \"\\n\" call \"\\n\" {end}\n"));
            g.push_str(&format!("body: {}\n", more("\n", "block")));
        }
        ToolFormat::Llama3 => {
            g.push_str(&format!("body: {}\n", more("; ", "call")));
        }
        ToolFormat::Qwen3Coder
        | ToolFormat::DeepSeek
        | ToolFormat::Harmony
        | ToolFormat::KimiK2
        | ToolFormat::Glm => {}
        ToolFormat::Mistral => {
            let start = marker(crate::parse::mistral::MARKER);
            g.push_str(&format!(
                "body: {start} \"[\" {} \"]\"\n",
                more(", ", "call")
            ));
        }
    }
}

/// Qwen3-Coder's XML calls: `<tool_call>\n<function=NAME>\n` then one
/// `<parameter=KEY>\nVALUE\n</parameter>\n` per property (schema order;
/// optional ones may be left out), then `</function>\n</tool_call>`. String
/// values are raw text without `<`; other values are JSON for their subschema
/// (what the parser converts back by the schema's type).
fn qwen3_coder_grammar(
    g: &mut String,
    specs: &[ToolSpec],
    marker: &dyn Fn(&str) -> String,
    more: &dyn Fn(&str, &str) -> String,
) {
    use crate::parse::qwen3_coder::{FUNCTION, FUNCTION_END, PARAMETER, PARAMETER_END};
    for (i, spec) in specs.iter().enumerate() {
        let props = spec
            .parameters
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let required: Vec<&str> = spec
            .parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut items = Vec::new();
        for (j, (key, sub)) in props.iter().enumerate() {
            let is_string = sub.get("type").and_then(Value::as_str) == Some("string");
            let open = lit(&format!("{PARAMETER}{key}>\n"));
            if is_string {
                // Lazy: the text ends at the first `\n</parameter>\n`.
                g.push_str(&format!("p{i}_{j}: {open} s{i}_{j}\n"));
                g.push_str(&format!("s{i}_{j}[lazy]: /[^<]*\\n<\\/parameter>\\n/\n"));
            } else {
                g.push_str(&format!(
                    "p{i}_{j}: {open} %json {} {}\n",
                    schema_text(sub),
                    lit(&format!("\n{PARAMETER_END}\n"))
                ));
            }
            items.push(if required.contains(&key.as_str()) {
                format!("p{i}_{j}")
            } else {
                format!("p{i}_{j}?")
            });
        }
        g.push_str(&format!(
            "fn{i}: {} {} {}\n",
            lit(&format!("{FUNCTION}{}>\n", spec.name)),
            items.join(" "),
            lit(&format!("{FUNCTION_END}\n"))
        ));
    }
    let start = marker(crate::parse::hermes::START);
    let end = marker(crate::parse::hermes::END);
    g.push_str(&format!("block: {start} \"\\n\" call {end}\n"));
    g.push_str(&format!("body: {}\n", more("\n", "block")));
}

/// DeepSeek V3's calls: `<｜tool▁calls▁begin｜>` then per call
/// `<｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>`,
/// then `<｜tool▁calls▁end｜>`.
fn deepseek_grammar(
    g: &mut String,
    specs: &[ToolSpec],
    marker: &dyn Fn(&str) -> String,
    one_or_more: bool,
) {
    use crate::parse::deepseek::{CALLS_BEGIN, CALLS_END, CALL_BEGIN, CALL_END, SEP};
    let (begin, sep, end) = (marker(CALL_BEGIN), marker(SEP), marker(CALL_END));
    for (i, spec) in specs.iter().enumerate() {
        g.push_str(&format!(
            "fn{i}: {begin} \"function\" {sep} {} %json {} \"\\n```\" {end}\n",
            lit(&format!("{}\n```json\n", spec.name)),
            schema_text(&spec.parameters)
        ));
    }
    g.push_str(&format!(
        "body: {} {} {}\n",
        marker(CALLS_BEGIN),
        if one_or_more { "call+" } else { "call" },
        marker(CALLS_END)
    ));
}

/// A rule `name` for free text up to and including `end` (a marker as
/// [`marker`] spells it, `end_text` its text). A special-token marker ends a
/// greedy text lexeme (the token is no text); a text marker ends a lazy
/// one that takes the marker in.
fn text_until(g: &mut String, name: &str, end_text: &str, end: &str) {
    if end.starts_with("<[") {
        g.push_str(&format!("{name}: /(?s:.*)/ {end}\n"));
    } else {
        g.push_str(&format!(
            "{name}[lazy]: /(?s:.*){}/\n",
            regex_escape(end_text)
        ));
    }
}

/// `text` as a literal inside a Lark `/regex/`.
fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$/-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The start rule of a harmony reply: an optional `analysis` message
/// (`<|channel|>analysis<|message|>TEXT<|end|>`, then the next message's
/// `<|start|>assistant`), then the body.
fn harmony_analysis(g: &mut String, marker: &dyn Fn(&str) -> String) {
    use crate::parse::harmony::{CHANNEL, END, MESSAGE, START};
    g.push_str("start: analysis? body\n");
    g.push_str(&format!(
        "analysis: {} \"analysis\" {} analysis_text {} \"assistant\"\n",
        marker(CHANNEL),
        marker(MESSAGE),
        marker(START)
    ));
    text_until(g, "analysis_text", END, &marker(END));
}

/// gpt-oss harmony calls, as the template renders one after
/// `<|start|>assistant`: ` to=functions.NAME<|channel|>commentary
/// json<|message|>ARGS`. The reply ends there (the model's `<|call|>` is an
/// end-of-sequence token), so `required` also allows one call only.
fn harmony_grammar(g: &mut String, specs: &[ToolSpec], marker: &dyn Fn(&str) -> String) {
    use crate::parse::harmony::{CHANNEL, MESSAGE};
    for (i, spec) in specs.iter().enumerate() {
        g.push_str(&format!(
            "fn{i}: {} {} \"commentary json\" {} %json {}\n",
            lit(&format!(" to=functions.{}", spec.name)),
            marker(CHANNEL),
            marker(MESSAGE),
            schema_text(&spec.parameters)
        ));
    }
    g.push_str("body: call\n");
}

/// Kimi K2's calls: `<|tool_calls_section_begin|>`, then per call
/// `<|tool_call_begin|>functions.NAME:INDEX<|tool_call_argument_begin|>ARGS<|tool_call_end|>`,
/// then `<|tool_calls_section_end|>`. A lone call has index 0.
fn kimi_k2_grammar(
    g: &mut String,
    specs: &[ToolSpec],
    marker: &dyn Fn(&str) -> String,
    one_or_more: bool,
) {
    use crate::parse::kimi_k2::{
        ARGUMENT_BEGIN, CALL_BEGIN, CALL_END, FUNCTIONS, SECTION_BEGIN, SECTION_END,
    };
    let index = if one_or_more { "/[0-9]{1,3}/" } else { "\"0\"" };
    for (i, spec) in specs.iter().enumerate() {
        g.push_str(&format!(
            "fn{i}: {} {} {index} {} %json {} {}\n",
            marker(CALL_BEGIN),
            lit(&format!("{FUNCTIONS}{}:", spec.name)),
            marker(ARGUMENT_BEGIN),
            schema_text(&spec.parameters),
            marker(CALL_END)
        ));
    }
    g.push_str(&format!(
        "body: {} {} {}\n",
        marker(SECTION_BEGIN),
        if one_or_more { "call+" } else { "call" },
        marker(SECTION_END)
    ));
}

/// GLM's calls: `<tool_call>NAME\n`, then one
/// `<arg_key>KEY</arg_key>\n<arg_value>VALUE</arg_value>\n` per property
/// (schema order; optional ones may be left out), then `</tool_call>`.
/// String values are raw text; other values JSON for their subschema (what
/// the parser converts back by the schema's type).
fn glm_grammar(
    g: &mut String,
    specs: &[ToolSpec],
    marker: &dyn Fn(&str) -> String,
    more: &dyn Fn(&str, &str) -> String,
) {
    use crate::parse::glm::{ARG_KEY, ARG_KEY_END, ARG_VALUE, ARG_VALUE_END};
    use crate::parse::hermes::{END, START};
    let value_end = marker(ARG_VALUE_END);
    for (i, spec) in specs.iter().enumerate() {
        let props = spec
            .parameters
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let required: Vec<&str> = spec
            .parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut items = Vec::new();
        for (j, (key, sub)) in props.iter().enumerate() {
            let head = format!(
                "{} {} {} \"\\n\" {}",
                marker(ARG_KEY),
                lit(key),
                marker(ARG_KEY_END),
                marker(ARG_VALUE)
            );
            if sub.get("type").and_then(Value::as_str) == Some("string") {
                g.push_str(&format!("p{i}_{j}: {head} s{i}_{j} \"\\n\"\n"));
                text_until(g, &format!("s{i}_{j}"), ARG_VALUE_END, &value_end);
            } else {
                g.push_str(&format!(
                    "p{i}_{j}: {head} %json {} {value_end} \"\\n\"\n",
                    schema_text(sub)
                ));
            }
            items.push(if required.contains(&key.as_str()) {
                format!("p{i}_{j}")
            } else {
                format!("p{i}_{j}?")
            });
        }
        g.push_str(&format!(
            "fn{i}: {} {} {} {}\n",
            marker(START),
            lit(&format!("{}\n", spec.name)),
            items.join(" "),
            marker(END)
        ));
    }
    g.push_str(&format!("body: {}\n", more("\n", "call")));
}

/// A compiled constraint: the matcher in its start state, cloned for each
/// sequence. Shared by a request's choices.
pub struct CompiledConstraint {
    matcher: Matcher,
}

impl std::fmt::Debug for CompiledConstraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledConstraint").finish_non_exhaustive()
    }
}

impl CompiledConstraint {
    /// A fresh state for one sequence, advanced over the tokens it has
    /// already generated (non-empty after a preemption, which recomputes).
    pub fn start(&self, output: &[u32]) -> Result<SeqConstraint, String> {
        let mut matcher = self.matcher.deep_clone();
        if !output.is_empty() {
            matcher
                .consume_tokens(output)
                .map_err(|e| format!("constrained decoding: replaying the output failed: {e}"))?;
        }
        Ok(SeqConstraint {
            matcher: Box::new(matcher),
        })
    }
}

/// One sequence's place in its grammar (owned by the executor). The matcher
/// is boxed: the executor moves every sequence's `Option<SeqConstraint>` out
/// and back on each step, and an unboxed matcher made that a memcpy of the
/// whole parser state per sequence, constrained or not.
pub struct SeqConstraint {
    matcher: Box<Matcher>,
}

impl std::fmt::Debug for SeqConstraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeqConstraint")
            .field("stopped", &self.matcher.is_stopped())
            .finish_non_exhaustive()
    }
}

impl SeqConstraint {
    /// The tokens allowed next: the grammar's, or only end-of-sequence
    /// tokens once it is complete.
    pub fn mask(&mut self) -> Result<SimpleVob, String> {
        self.matcher
            .compute_mask_or_eos()
            .map_err(|e| format!("constrained decoding: computing the token mask failed: {e}"))
    }

    /// Set every logit the grammar forbids to `-inf` (ids past the
    /// tokenizer's vocabulary included). Fails when nothing is allowed.
    pub fn apply(&mut self, logits: &mut [f32]) -> Result<(), String> {
        let mask = self.mask()?;
        let words = mask.as_slice();
        let mut any = false;
        for (w, chunk) in logits.chunks_mut(32).enumerate() {
            let bits = words.get(w).copied().unwrap_or(0);
            if bits == 0 {
                chunk.fill(f32::NEG_INFINITY);
                continue;
            }
            for (b, x) in chunk.iter_mut().enumerate() {
                if bits & (1 << b) == 0 {
                    *x = f32::NEG_INFINITY;
                } else {
                    any = true;
                }
            }
        }
        if any {
            Ok(())
        } else {
            Err("constrained decoding: the grammar allows no token of this model".into())
        }
    }

    /// Advance by the token that was sampled.
    pub fn commit(&mut self, token: u32) -> Result<(), String> {
        if self.matcher.is_stopped() {
            // Only end-of-sequence tokens were allowed; nothing to advance.
            return Ok(());
        }
        self.matcher
            .consume_token(token)
            .map_err(|e| format!("constrained decoding: token {token} was refused: {e}"))
    }

    /// True once the grammar is complete (only end-of-sequence remains).
    pub fn is_complete(&self) -> bool {
        self.matcher.is_stopped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::request::ToolSpec;

    fn tokenizer() -> Arc<Tokenizer> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models/qwen2-bf16");
        Arc::new(Tokenizer::from_dir(&dir).unwrap())
    }

    fn weather() -> ToolSpec {
        ToolSpec {
            index: 0,
            name: "get_weather".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"], "additionalProperties": false}),
        }
    }

    fn text_marker(m: &str) -> String {
        lit(m)
    }

    /// Feed `text` through a fresh sequence state, token by token, checking
    /// each token against the mask: true when all of it is allowed and the
    /// grammar may end there.
    fn accepts(
        g: &Guidance,
        c: &Constraint,
        tools: ToolFormat,
        text: &str,
    ) -> Result<bool, String> {
        accepts_after(g, c, tools, ReasoningPrefix::None, text)
    }

    fn accepts_after(
        g: &Guidance,
        c: &Constraint,
        tools: ToolFormat,
        reasoning: ReasoningPrefix,
        text: &str,
    ) -> Result<bool, String> {
        let compiled = g.compile(c, tools, reasoning).map_err(|e| e.to_string())?;
        let mut seq = compiled.start(&[])?;
        let ids = g.tokenizer.encode(text, false).map_err(|e| e.to_string())?;
        for id in ids {
            let mask = seq.mask()?;
            if !mask.is_allowed(id) {
                return Ok(false);
            }
            seq.commit(id)?;
        }
        Ok(seq.is_complete() || seq.mask()?.is_allowed(g.tokenizer.eos_token_ids()[0]))
    }

    #[test]
    fn hermes_grammar_spells_the_markup() {
        let c = Constraint::ToolCalls {
            tools: vec![weather()],
            one_or_more: false,
        };
        let g = grammar(&c, ToolFormat::Hermes, ReasoningPrefix::None, &text_marker);
        assert!(
            g.contains(r#"block: "<tool_call>" "\n" call "\n" "</tool_call>""#),
            "{g}"
        );
        assert!(
            g.contains(r#"fn0: "{\"name\": \"get_weather\", \"arguments\": " %json"#),
            "{g}"
        );
        assert!(g.contains("body: block\n"), "{g}");
        let c = Constraint::ToolCalls {
            tools: vec![weather()],
            one_or_more: true,
        };
        let g = grammar(&c, ToolFormat::Hermes, ReasoningPrefix::None, &text_marker);
        assert!(g.contains(r#"body: block ("\n" block)*"#), "{g}");
        let g = grammar(&c, ToolFormat::Llama3, ReasoningPrefix::None, &text_marker);
        assert!(g.contains(r#"\"parameters\": "#), "{g}");
        assert!(g.contains(r#"body: call ("; " call)*"#), "{g}");
        let g = grammar(&c, ToolFormat::Mistral, ReasoningPrefix::None, &text_marker);
        assert!(
            g.contains(r#"body: "[TOOL_CALLS]" "[" call (", " call)* "]""#),
            "{g}"
        );
    }

    #[test]
    fn constraints_accept_what_the_parsers_read_and_refuse_the_rest() {
        let g = Guidance::new(tokenizer());
        let named = Constraint::ToolCalls {
            tools: vec![weather()],
            one_or_more: false,
        };
        let call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
        assert_eq!(accepts(&g, &named, ToolFormat::Hermes, call), Ok(true));
        // A second call is refused for a named function, allowed for `required`.
        let two = format!("{call}\n{call}");
        assert_eq!(accepts(&g, &named, ToolFormat::Hermes, &two), Ok(false));
        let required = Constraint::ToolCalls {
            tools: vec![weather()],
            one_or_more: true,
        };
        assert_eq!(accepts(&g, &required, ToolFormat::Hermes, &two), Ok(true));
        // Another name, a missing required key, free text: refused.
        let other = call.replace("get_weather", "get_time");
        assert_eq!(accepts(&g, &named, ToolFormat::Hermes, &other), Ok(false));
        let missing = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>";
        assert_eq!(accepts(&g, &named, ToolFormat::Hermes, missing), Ok(false));
        assert_eq!(accepts(&g, &named, ToolFormat::Hermes, "Sure!"), Ok(false));
        let llama = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}";
        assert_eq!(accepts(&g, &required, ToolFormat::Llama3, llama), Ok(true));
        let mistral =
            "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]";
        assert_eq!(
            accepts(&g, &required, ToolFormat::Mistral, mistral),
            Ok(true)
        );
        // Qwen3-Coder XML and DeepSeek V3 markers, each read back by its parser.
        use crate::parse::{OutputParser, ParsedDelta};
        let coder = "<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>";
        assert_eq!(accepts(&g, &named, ToolFormat::Qwen3Coder, coder), Ok(true));
        assert_eq!(
            accepts(
                &g,
                &named,
                ToolFormat::Qwen3Coder,
                &coder.replace("city", "town")
            ),
            Ok(false)
        );
        let w = weather();
        let tools =
            json!([{"type": "function", "function": {"name": w.name, "parameters": w.parameters}}]);
        let mut p = crate::parse::qwen3_coder::Qwen3CoderParser::new(0, Some(&tools));
        let mut out = p.push(coder);
        out.extend(p.finish());
        assert!(
            matches!(&out[..], [ParsedDelta::ToolCallStart { name, .. }, ParsedDelta::ToolCallArguments { text, .. }] if name == "get_weather" && text == "{\"city\":\"Oslo\"}"),
            "{out:?}"
        );
        let ds = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Oslo\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
        assert_eq!(accepts(&g, &required, ToolFormat::DeepSeek, ds), Ok(true));
        let mut p = crate::parse::deepseek::DeepSeekParser::new(0);
        let mut out = p.push(ds);
        out.extend(p.finish());
        assert!(
            matches!(&out[..], [ParsedDelta::ToolCallStart { name, .. }, ..] if name == "get_weather"),
            "{out:?}"
        );

        assert_eq!(
            accepts(
                &g,
                &Constraint::JsonObject,
                ToolFormat::None,
                "{\"a\": [1, 2]}"
            ),
            Ok(true)
        );
        assert_eq!(
            accepts(&g, &Constraint::JsonObject, ToolFormat::None, "[1]"),
            Ok(false)
        );
        let schema = Constraint::JsonSchema {
            schema: json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
            strict: true,
        };
        assert_eq!(
            accepts(&g, &schema, ToolFormat::None, "{\"n\": 3}"),
            Ok(true)
        );
        assert_eq!(
            accepts(&g, &schema, ToolFormat::None, "{\"n\": \"3\"}"),
            Ok(false)
        );
        // Local references resolve.
        let refs = Constraint::JsonSchema {
            schema: json!({"$defs": {"pt": {"type": "object", "properties": {"x": {"type": "integer"}},
                "required": ["x"], "additionalProperties": false}},
                "type": "object", "properties": {"a": {"$ref": "#/$defs/pt"}}, "required": ["a"],
                "additionalProperties": false}),
            strict: true,
        };
        assert_eq!(
            accepts(&g, &refs, ToolFormat::None, "{\"a\": {\"x\": 1}}"),
            Ok(true)
        );
        assert_eq!(
            accepts(&g, &refs, ToolFormat::None, "{\"a\": {\"y\": 1}}"),
            Ok(false)
        );
    }

    /// The calls among `deltas` as (name, arguments joined).
    fn calls_of(deltas: &[crate::parse::ParsedDelta]) -> Vec<(String, String)> {
        use crate::parse::ParsedDelta;
        let mut calls: Vec<(String, String)> = Vec::new();
        for d in deltas {
            match d {
                ParsedDelta::ToolCallStart { name, .. } => {
                    calls.push((name.clone(), String::new()))
                }
                ParsedDelta::ToolCallArguments { text, .. } => {
                    if let Some(last) = calls.last_mut() {
                        last.1.push_str(text);
                    }
                }
                _ => {}
            }
        }
        calls
    }

    /// Feeds `text` (what a forced reply wrote) to `parser`, whole.
    fn read_back(
        mut parser: impl crate::parse::OutputParser,
        text: &str,
    ) -> Vec<crate::parse::ParsedDelta> {
        let mut out = parser.push(text);
        out.extend(parser.finish());
        out
    }

    #[test]
    fn new_family_grammars_spell_the_markup() {
        let c = Constraint::ToolCalls {
            tools: vec![weather()],
            one_or_more: true,
        };
        let g = grammar(
            &c,
            ToolFormat::Harmony,
            ReasoningPrefix::Harmony,
            &text_marker,
        );
        assert!(g.contains("start: analysis? body\n"), "{g}");
        assert!(
            g.contains(r#"fn0: " to=functions.get_weather" "<|channel|>" "commentary json" "<|message|>" %json"#),
            "{g}"
        );
        assert!(
            g.contains(r"analysis_text[lazy]: /(?s:.*)<\|end\|>/"),
            "{g}"
        );
        let g = grammar(&c, ToolFormat::KimiK2, ReasoningPrefix::None, &text_marker);
        assert!(
            g.contains(r#"fn0: "<|tool_call_begin|>" "functions.get_weather:" /[0-9]{1,3}/ "<|tool_call_argument_begin|>" %json"#),
            "{g}"
        );
        assert!(
            g.contains(
                r#"body: "<|tool_calls_section_begin|>" call+ "<|tool_calls_section_end|>""#
            ),
            "{g}"
        );
        let g = grammar(&c, ToolFormat::Glm, ReasoningPrefix::Optional, &text_marker);
        assert!(
            g.contains(r#"fn0: "<tool_call>" "get_weather\n" p0_0 "</tool_call>""#),
            "{g}"
        );
        assert!(g.contains(r"s0_0[lazy]: /(?s:.*)<\/arg_value>/"), "{g}");
        assert!(g.contains(r#"body: call ("\n" call)*"#), "{g}");
        // A harmony JSON answer is the final message.
        let g = grammar(
            &Constraint::JsonObject,
            ToolFormat::None,
            ReasoningPrefix::Harmony,
            &text_marker,
        );
        assert!(
            g.contains(r#"body: "<|channel|>" "final" "<|message|>" %json"#),
            "{g}"
        );
    }

    #[test]
    fn new_family_constraints_accept_what_their_parsers_read() {
        use crate::parse::{GlmParser, HarmonyParser, KimiK2Parser, ParsedDelta};
        let g = Guidance::new(tokenizer());
        let named = Constraint::ToolCalls {
            tools: vec![weather()],
            one_or_more: false,
        };
        let required = Constraint::ToolCalls {
            tools: vec![weather()],
            one_or_more: true,
        };
        let is_oslo = |out: &[ParsedDelta]| {
            calls_of(out) == [("get_weather".to_string(), "{\"city\":\"Oslo\"}".to_string())]
                && matches!(out.first(), Some(ParsedDelta::ToolCallStart { .. }))
        };
        // gpt-oss: a call right away, or after an analysis message.
        let (h, hp) = (ToolFormat::Harmony, ReasoningPrefix::Harmony);
        let call =
            " to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Oslo\"}";
        assert_eq!(accepts_after(&g, &named, h, hp, call), Ok(true));
        assert!(is_oslo(&read_back(HarmonyParser::new(0, true), call)));
        let thought = format!(
            "<|channel|>analysis<|message|>Oslo <b>, {{\"x\"}}.<|end|><|start|>assistant{call}"
        );
        assert_eq!(accepts_after(&g, &required, h, hp, &thought), Ok(true));
        let out = read_back(HarmonyParser::new(0, true), &thought);
        assert_eq!(out[0], ParsedDelta::Reasoning("Oslo <b>, {\"x\"}.".into()));
        assert!(is_oslo(&out[1..]), "{out:?}");
        // One call only: `<|call|>` ends the reply.
        let two = format!("{call}<|start|>assistant{call}");
        assert_eq!(accepts_after(&g, &required, h, hp, &two), Ok(false));
        assert_eq!(accepts_after(&g, &named, h, hp, "Sure!"), Ok(false));
        let answer = "<|channel|>final<|message|>{\"a\": [1, 2]}";
        let json = Constraint::JsonObject;
        assert_eq!(
            accepts_after(&g, &json, ToolFormat::None, hp, answer),
            Ok(true)
        );
        assert_eq!(
            accepts_after(&g, &json, ToolFormat::None, hp, "{}"),
            Ok(false)
        );
        assert_eq!(
            read_back(HarmonyParser::new(0, true), answer),
            vec![ParsedDelta::Content("{\"a\": [1, 2]}".into())]
        );
        // Kimi K2.
        let kimi = "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"city\": \"Oslo\"}<|tool_call_end|><|tool_calls_section_end|>";
        assert_eq!(accepts(&g, &named, ToolFormat::KimiK2, kimi), Ok(true));
        assert_eq!(accepts(&g, &required, ToolFormat::KimiK2, kimi), Ok(true));
        assert_eq!(
            accepts(&g, &named, ToolFormat::KimiK2, &kimi.replace(":0", ":1")),
            Ok(false)
        );
        assert!(is_oslo(&read_back(KimiK2Parser::new(0), kimi)));
        // GLM: string values are raw text, `<` included.
        let glm = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Oslo</arg_value>\n</tool_call>";
        assert_eq!(accepts(&g, &named, ToolFormat::Glm, glm), Ok(true));
        let w = weather();
        let tools =
            json!([{"type": "function", "function": {"name": w.name, "parameters": w.parameters}}]);
        assert!(is_oslo(&read_back(GlmParser::new(0, Some(&tools)), glm)));
        let odd = glm.replace("Oslo", "a < b </arg_key> 🚀\n");
        assert_eq!(accepts(&g, &named, ToolFormat::Glm, &odd), Ok(true));
        let out = read_back(GlmParser::new(0, Some(&tools)), &odd);
        assert_eq!(
            calls_of(&out),
            [(
                "get_weather".to_string(),
                "{\"city\":\"a < b </arg_key> 🚀\\n\"}".to_string()
            )],
            "{out:?}"
        );
        let two = format!("{glm}\n{glm}");
        assert_eq!(accepts(&g, &named, ToolFormat::Glm, &two), Ok(false));
        assert_eq!(accepts(&g, &required, ToolFormat::Glm, &two), Ok(true));
        assert_eq!(
            accepts(&g, &named, ToolFormat::Glm, &glm.replace("city", "town")),
            Ok(false)
        );
    }

    /// The test tokenizer with `markers` added as special tokens, as the
    /// real gpt-oss, Kimi K2 and GLM tokenizers hold them.
    fn tokenizer_with_special(tag: &str, markers: &[&str]) -> Arc<Tokenizer> {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models/qwen2-bf16");
        let dir = std::env::temp_dir().join(format!("weir-guided-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "tokenizer_config.json",
            "config.json",
            "generation_config.json",
        ] {
            std::fs::copy(src.join(f), dir.join(f)).unwrap();
        }
        let mut inner = tokenizers::Tokenizer::from_file(src.join("tokenizer.json")).unwrap();
        let added: Vec<tokenizers::AddedToken> = markers
            .iter()
            .map(|m| tokenizers::AddedToken::from(m.to_string(), true))
            .collect();
        inner.add_special_tokens(&added);
        inner.save(dir.join("tokenizer.json"), false).unwrap();
        Arc::new(Tokenizer::from_dir(&dir).unwrap())
    }

    /// A forced reply in each new family, through a tokenizer whose markers
    /// are special tokens: the grammar names them by id, and the text the
    /// detokenizer keeps for the parser reads back as the call.
    #[test]
    fn special_token_markers_reach_the_parser() {
        use crate::parse::{build, OutputFormats, ParsedDelta, ReasoningFormat};
        use crate::tokenize::detok::IncrementalDetokenizer;
        let named = Constraint::ToolCalls {
            tools: vec![weather()],
            one_or_more: false,
        };
        let w = weather();
        let tools =
            json!([{"type": "function", "function": {"name": w.name, "parameters": w.parameters}}]);
        let cases = [
            (
                OutputFormats { tools: ToolFormat::Harmony, reasoning: ReasoningFormat::Harmony },
                ReasoningPrefix::Harmony,
                "<|channel|>analysis<|message|>Look it up.<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Oslo\"}",
                "Look it up.",
            ),
            (
                OutputFormats { tools: ToolFormat::KimiK2, reasoning: ReasoningFormat::None },
                ReasoningPrefix::None,
                "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"city\": \"Oslo\"}<|tool_call_end|><|tool_calls_section_end|>",
                "",
            ),
            (
                OutputFormats { tools: ToolFormat::Glm, reasoning: ReasoningFormat::Think },
                ReasoningPrefix::Optional,
                "<think>Look it up.</think><tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Oslo</arg_value>\n</tool_call>",
                "Look it up.",
            ),
        ];
        for (i, (formats, prefix, reply, reasoning)) in cases.into_iter().enumerate() {
            let markers = formats.markers();
            let tok = tokenizer_with_special(&format!("case{i}"), &markers);
            let ids = tok.encode(reply, false).unwrap();
            let kept: Vec<u32> = markers.iter().filter_map(|m| tok.token_to_id(m)).collect();
            assert_eq!(kept.len(), markers.len());
            assert!(kept
                .iter()
                .all(|id| ids.contains(id)
                    || !reply.contains(tok.id_to_token(*id).unwrap().as_str())));
            let g = Guidance::new(tok.clone());
            assert_eq!(
                accepts_after(&g, &named, formats.tools, prefix, reply),
                Ok(true),
                "{reply}"
            );
            // The grammar spells the markers as the special tokens.
            let compiled = g.compile(&named, formats.tools, prefix).unwrap();
            let mut seq = compiled.start(&[]).unwrap();
            let mask = seq.mask().unwrap();
            assert!(mask.is_allowed(ids[0]), "{reply}");
            // Skipping special tokens drops the markers unless they are kept.
            let decode = |keep: Vec<u32>| {
                let mut d = IncrementalDetokenizer::new(tok.clone(), true).keeping(keep);
                let mut text: String = ids.iter().map(|&id| d.push(id).unwrap()).collect();
                text.push_str(&d.flush().unwrap());
                text
            };
            assert_eq!(decode(kept.clone()), reply);
            assert_ne!(decode(Vec::new()), reply);
            let mut p = build(formats.tools, formats.reasoning, false, 0, Some(&tools));
            let mut out = p.push(&decode(kept));
            out.extend(p.finish());
            let got_reasoning: String = out
                .iter()
                .filter_map(|d| match d {
                    ParsedDelta::Reasoning(r) => Some(r.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(got_reasoning, reasoning, "{reply}");
            assert_eq!(
                calls_of(&out),
                [("get_weather".to_string(), "{\"city\":\"Oslo\"}".to_string())],
                "{out:?}"
            );
        }
    }

    #[test]
    fn markers_that_are_special_tokens_are_named_by_id() {
        let g = Guidance::new(tokenizer());
        let factory = g.factory().unwrap();
        let trie = factory.tok_env().tok_trie();
        // `<|im_end|>` is special in this vocabulary; `<tool_call>` is text.
        assert_eq!(marker(trie, "<|im_end|>"), "<[16379]>");
        assert_eq!(marker(trie, "<tool_call>"), "\"<tool_call>\"");
        // A grammar naming a special token by id compiles, and the token
        // is then the only way to start.
        let c = Constraint::ToolCalls {
            tools: vec![weather()],
            one_or_more: true,
        };
        let lark = grammar(&c, ToolFormat::Mistral, ReasoningPrefix::None, &|m| {
            if m == crate::parse::mistral::MARKER {
                "<[16379]>".to_string()
            } else {
                lit(m)
            }
        });
        let parser = factory
            .create_parser(TopLevelGrammar::from_lark(lark))
            .unwrap();
        let mut seq = CompiledConstraint {
            matcher: Matcher::new(Ok(parser)),
        }
        .start(&[])
        .unwrap();
        let mask = seq.mask().unwrap();
        assert!(mask.is_allowed(16379));
        assert_eq!(mask.num_set(), 1);
    }

    #[test]
    fn reasoning_may_come_before_the_constrained_part() {
        let g = Guidance::new(tokenizer());
        let named = Constraint::ToolCalls {
            tools: vec![weather()],
            one_or_more: false,
        };
        let call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
        let h = ToolFormat::Hermes;
        let optional = ReasoningPrefix::Optional;
        let open = ReasoningPrefix::Open;
        assert_eq!(accepts_after(&g, &named, h, optional, call), Ok(true));
        let thought = format!("<think>\nOslo, so {{\"x\"}}.\n</think>\n\n{call}");
        assert_eq!(accepts_after(&g, &named, h, optional, &thought), Ok(true));
        assert_eq!(accepts_after(&g, &named, h, open, &thought[7..]), Ok(true));
        // The prompt opened the block: it must be closed before the call.
        assert_eq!(accepts_after(&g, &named, h, open, call), Ok(false));
        assert_eq!(
            accepts_after(&g, &named, h, ReasoningPrefix::None, &thought),
            Ok(false)
        );
        let json = Constraint::JsonObject;
        let n = ToolFormat::None;
        assert_eq!(
            accepts_after(&g, &json, n, open, "hm</think>\n{}"),
            Ok(true)
        );
        assert_eq!(
            accepts_after(&g, &json, n, optional, "{\"a\": 1}"),
            Ok(true)
        );
        assert_eq!(
            accepts_after(&g, &json, n, optional, "hm</think>{}"),
            Ok(false)
        );
    }

    #[test]
    fn a_schema_the_library_rejects_names_its_field() {
        let g = Guidance::new(tokenizer());
        let bad = json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(unclosed"}}});
        let e = g
            .compile(
                &Constraint::JsonSchema {
                    schema: bad.clone(),
                    strict: true,
                },
                ToolFormat::Hermes,
                ReasoningPrefix::None,
            )
            .unwrap_err();
        let GuidedError::Rejected { param, message } = e else {
            panic!("not a rejection: {e}")
        };
        assert_eq!(param, "response_format.json_schema.schema");
        assert!(
            message.starts_with("response_format.json_schema.schema cannot be enforced"),
            "{message}"
        );
        let tools = vec![
            weather(),
            ToolSpec {
                index: 1,
                name: "broken".into(),
                parameters: bad,
            },
        ];
        let e = g
            .compile(
                &Constraint::ToolCalls {
                    tools,
                    one_or_more: true,
                },
                ToolFormat::Hermes,
                ReasoningPrefix::None,
            )
            .unwrap_err();
        assert!(
            matches!(&e, GuidedError::Rejected { param, .. } if param == "tools[1].function.parameters"),
            "{e:?}"
        );
    }

    #[test]
    fn masking_leaves_only_allowed_tokens_and_eos_after_completion() {
        let tok = tokenizer();
        let g = Guidance::new(tok.clone());
        let compiled = g
            .compile(
                &Constraint::JsonSchema {
                    schema: json!({"type": "boolean"}),
                    strict: false,
                },
                ToolFormat::None,
                ReasoningPrefix::None,
            )
            .unwrap();
        let mut seq = compiled.start(&[]).unwrap();
        let mut logits = vec![0.0f32; tok.vocab_size() + 7];
        seq.apply(&mut logits).unwrap();
        let allowed: Vec<usize> = (0..logits.len())
            .filter(|&i| logits[i].is_finite())
            .collect();
        assert!(!allowed.is_empty());
        for &i in &allowed {
            let text = tok.decode(&[i as u32], false).unwrap();
            assert!(
                "true".starts_with(&text) || "false".starts_with(&text),
                "{text:?}"
            );
        }
        for id in tok.encode("true", false).unwrap() {
            seq.commit(id).unwrap();
        }
        let mut logits = vec![0.0f32; tok.vocab_size()];
        seq.apply(&mut logits).unwrap();
        let allowed: Vec<u32> = (0..logits.len() as u32)
            .filter(|&i| logits[i as usize].is_finite())
            .collect();
        assert!(
            allowed.iter().all(|id| tok.eos_token_ids().contains(id)),
            "{allowed:?}"
        );
        // Replaying an output (after a preemption) gives the same state.
        let ids = tok.encode("fal", false).unwrap();
        let replayed = compiled.start(&ids).unwrap();
        assert!(!replayed.is_complete());
        assert!(compiled.start(&tok.encode("3", false).unwrap()).is_err());
    }

    /// Mask cost per decoding step, on the test tokenizer (16k tokens, the
    /// demo model's) and on a synthetic 152k vocabulary (Qwen2's size: the
    /// 16k tokens plus concatenated pairs of them). Prints a table.
    #[test]
    #[ignore = "a measurement: cargo test --release --lib mask_cost -- --ignored --nocapture"]
    fn mask_cost() {
        use crate::engine::sampling::random_u64;
        use std::time::{Duration, Instant};
        let tok = tokenizer();
        let json: Value = serde_json::from_str(&tok.inner().to_string(false).unwrap()).unwrap();
        let words = llguidance::token_bytes_from_tokenizer_json(&json).unwrap();
        let eos = tok.eos_token_ids().to_vec();
        let small =
            factory_from_words(words.clone(), tok.vocab_size(), &eos, Some(tok.clone())).unwrap();
        let mut big_words = words.clone();
        let plain: Vec<usize> = (0..words.len())
            .filter(|&i| !words[i].is_empty() && words[i][0] != TokTrie::SPECIAL_TOKEN_MARKER)
            .collect();
        let mut seen: std::collections::HashSet<Vec<u8>> = words.iter().cloned().collect();
        let mut k = 0u64;
        while big_words.len() < 151_936 {
            k += 1;
            let a = plain[(random_u64(1, k) % plain.len() as u64) as usize];
            let b = plain[(random_u64(2, k) % plain.len() as u64) as usize];
            let w = [words[a].as_slice(), words[b].as_slice()].concat();
            if seen.insert(w.clone()) {
                big_words.push(w);
            }
        }
        let t = Instant::now();
        let big = factory_from_words(big_words, 151_936, &eos, None).unwrap();
        eprintln!("152k factory built in {:?}", t.elapsed());
        let cases = [
            (
                "json_schema",
                Constraint::JsonSchema {
                    schema: json!({"type": "object", "properties": {
                    "city": {"type": "string", "maxLength": 40},
                    "days": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
                    "required": ["city", "days", "tags"]}),
                    strict: true,
                },
                ToolFormat::None,
            ),
            (
                "named tool",
                Constraint::ToolCalls {
                    tools: vec![weather()],
                    one_or_more: false,
                },
                ToolFormat::Hermes,
            ),
        ];
        for (vocab, factory) in [("16k", &small), ("152k", &big)] {
            for (name, c, format) in &cases {
                let t = Instant::now();
                let compiled = compile_with(factory, c, *format, ReasoningPrefix::None).unwrap();
                let compile = t.elapsed();
                let mut seq = compiled.start(&[]).unwrap();
                let n = factory.tok_env().tok_trie().vocab_size();
                let mut times: Vec<Duration> = Vec::new();
                for step in 0..300u64 {
                    // Random logits: a random walk through the grammar.
                    let mut logits: Vec<f32> = (0..n as u64)
                        .map(|i| (random_u64(step, i) >> 40) as f32)
                        .collect();
                    let t = Instant::now();
                    seq.apply(&mut logits).unwrap();
                    times.push(t.elapsed());
                    let best = (0..n)
                        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                        .unwrap() as u32;
                    if seq.is_complete() {
                        break;
                    }
                    seq.commit(best).unwrap();
                }
                let first = times[0];
                let mut rest: Vec<Duration> = times[1..].to_vec();
                rest.sort();
                let mean = rest.iter().sum::<Duration>() / rest.len().max(1) as u32;
                eprintln!(
                    "{vocab:>5} {name:<12} compile {compile:>10.2?}  first mask {first:>10.2?}  steps {:>3}  mean {mean:>9.2?}  p50 {:>9.2?}  max {:>9.2?}",
                    rest.len(),
                    rest[rest.len() / 2],
                    rest[rest.len() - 1],
                );
            }
        }
    }
}
