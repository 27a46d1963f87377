//! Model-output parsers: split generated text into answer text, reasoning
//! text and tool calls, the way OpenAI clients expect them.
//!
//! Text arrives as a stream of UTF-8 pieces cut anywhere, even inside a
//! marker such as `<tool_` | `call>`. Each parser keeps a small buffer: it
//! holds back only the tail that could still be the start of a marker (never
//! more than the longest marker prefix, plus the few documented whitespace
//! cases), and `finish()` releases everything. Nothing is ever lost: text that
//! turns out not to be a well-formed block is emitted as `Content`, markers
//! included.
//!
//! The chain built by [`build`] runs the reasoning parser first
//! ([`reasoning::ThinkParser`]); its `Content` feeds the tool parser
//! ([`hermes::HermesParser`], [`llama3::Llama3Parser`],
//! [`mistral::MistralParser`], [`qwen3_coder::Qwen3CoderParser`] or
//! [`deepseek::DeepSeekParser`]) and its `Reasoning` passes straight through.
//! The Qwen3-Coder parser also reads the request's offered tools: their JSON
//! schemas type its parameter values.
//!
//! The marker scanning itself (search with hold-back, the block states, the
//! end-of-stream flush) is written once, in [`scanner`]; [`layout`] holds
//! the marker layouts several families share. Each family's file holds only
//! its markers, how one block's text becomes calls, and its quirks.
//!
//! Every parser here is split-invariant: the concatenated `Content`, the
//! concatenated `Reasoning` and the list of tool calls do not depend on how
//! the text was cut into pieces (the unit tests check every cut point).

pub mod deepseek;
pub mod glm;
pub mod harmony;
pub mod hermes;
pub mod json_stream;
pub mod kimi_k2;
pub mod layout;
pub mod llama3;
pub mod mistral;
pub mod qwen3_coder;
pub mod reasoning;
pub mod scanner;

mod calls;
mod json_head;

pub use deepseek::DeepSeekParser;
pub use glm::GlmParser;
pub use harmony::HarmonyParser;
pub use hermes::HermesParser;
pub use kimi_k2::KimiK2Parser;
pub use llama3::Llama3Parser;
pub use mistral::MistralParser;
pub use qwen3_coder::Qwen3CoderParser;
pub use reasoning::ThinkParser;

pub(crate) use calls::{arguments_json, call_from_value, is_call_name, CallEmitter};
pub use calls::{mistral_tool_call_id, tool_call_id, IdStyle};

use serde_json::Value;

/// One thing the client should see, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum ParsedDelta {
    /// Answer text (delta.content).
    Content(String),
    /// Reasoning text (delta.reasoning_content).
    Reasoning(String),
    /// A tool call begins: its name is known. Its arguments follow in
    /// [`ParsedDelta::ToolCallArguments`] pieces; a call's pieces all come
    /// before the next call starts.
    ToolCallStart {
        /// Position of this call among the calls of the response, from 0.
        index: usize,
        /// Call id (`call_` + 24 lowercase hex digits, or 9 alphanumerics
        /// for the Mistral family), see [`tool_call_id`].
        id: String,
        /// Function name.
        name: String,
    },
    /// More of call `index`'s arguments: pieces of one compact JSON object
    /// (key order preserved) that only parses once the last piece came, so
    /// a client that treats parseable arguments as a finished call never
    /// sees one early. A call cut off by the end of the reply (`length`)
    /// keeps the pieces it got.
    ToolCallArguments {
        /// The call these arguments belong to.
        index: usize,
        /// The next piece (never empty).
        text: String,
    },
}

/// A whole tool call as the non-streamed reply carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WholeCall {
    /// Call id.
    pub id: String,
    /// Function name.
    pub name: String,
    /// The joined arguments.
    pub arguments: String,
}

/// The tool calls in `deltas` with their argument pieces joined, in order
/// (for callers that want whole calls rather than a stream).
pub fn whole_calls(deltas: &[ParsedDelta]) -> Vec<WholeCall> {
    let mut calls: Vec<WholeCall> = Vec::new();
    for d in deltas {
        match d {
            ParsedDelta::ToolCallStart { id, name, .. } => calls.push(WholeCall {
                id: id.clone(),
                name: name.clone(),
                arguments: String::new(),
            }),
            ParsedDelta::ToolCallArguments { text, .. } => {
                if let Some(c) = calls.last_mut() {
                    c.arguments.push_str(text);
                }
            }
            _ => {}
        }
    }
    calls
}

/// Turns generated text into deltas. push() may hold text back while a marker might be starting; finish() releases everything.
pub trait OutputParser: Send {
    /// Feeds the next piece of generated text; returns what can be shown now.
    /// Never returns empty `Content`/`Reasoning` strings.
    fn push(&mut self, text: &str) -> Vec<ParsedDelta>;
    /// Ends the stream: releases everything still held back.
    fn finish(&mut self) -> Vec<ParsedDelta>;
    /// Ends a stream cut off by `max_tokens`: as [`OutputParser::finish`],
    /// but the markup of a call the reply did not get as far as naming is
    /// dropped rather than shown as text (a started call keeps what it got
    /// either way).
    fn finish_cut(&mut self) -> Vec<ParsedDelta> {
        self.finish()
    }
    /// True once at least one tool call was emitted (finish_reason becomes "tool_calls").
    fn saw_tool_calls(&self) -> bool;
}

/// The shape every parser here shares: pushed text is appended to a buffer,
/// and one pass emits what the buffer allows (`last`: no more text comes).
/// Implementing it gives the parser its [`OutputParser`] impl.
pub(crate) trait BufferedParser: Send {
    /// The text received and not yet emitted.
    fn buffer(&mut self) -> &mut String;
    /// Emits what the buffer allows; `last` means no more text will come.
    fn process(&mut self, last: bool, out: &mut Vec<ParsedDelta>);
    /// True once a tool call was emitted.
    fn calls_seen(&self) -> bool;
    /// The reply was cut off by `max_tokens` (see
    /// [`OutputParser::finish_cut`]); called just before the last pass.
    fn cut_off(&mut self) {}
}

impl<P: BufferedParser> OutputParser for P {
    fn push(&mut self, text: &str) -> Vec<ParsedDelta> {
        let mut out = Vec::new();
        self.buffer().push_str(text);
        self.process(false, &mut out);
        out
    }

    fn finish(&mut self) -> Vec<ParsedDelta> {
        let mut out = Vec::new();
        self.process(true, &mut out);
        out
    }

    fn finish_cut(&mut self) -> Vec<ParsedDelta> {
        self.cut_off();
        self.finish()
    }

    fn saw_tool_calls(&self) -> bool {
        self.calls_seen()
    }
}

/// Which formats to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolFormat {
    /// No tool-call parsing: all answer text is content.
    None,
    /// Hermes / Qwen2.5 / Qwen3: `<tool_call>{json}</tool_call>` blocks.
    Hermes,
    /// Llama 3.1 / 3.2 / 3.3 JSON tool calls (vLLM's `llama3_json`): the whole
    /// reply is `{"name": ..., "parameters": {...}}` objects separated by `;`,
    /// optionally after `<|python_tag|>`.
    Llama3,
    /// Mistral `[TOOL_CALLS]`: a JSON array of calls, or
    /// `[TOOL_CALLS]name[ARGS]{...}` (repeated).
    Mistral,
    /// Qwen3-Coder (vLLM's `qwen3_coder`): `<tool_call>` blocks holding
    /// `<function=NAME>` and `<parameter=KEY>value</parameter>` markup.
    Qwen3Coder,
    /// DeepSeek V3 / R1 / V3.1 (vLLM's `deepseek_v3`, `deepseek_v31`):
    /// `<｜tool▁calls▁begin｜>` sections of `<｜tool▁call▁begin｜>` calls.
    DeepSeek,
    /// gpt-oss harmony messages (vLLM's `openai`): a
    /// `to=functions.NAME` message is a call; the same parser reads the
    /// reasoning (see [`ReasoningFormat::Harmony`]).
    Harmony,
    /// Kimi K2 (vLLM's `kimi_k2`): `<|tool_calls_section_begin|>` sections
    /// of `functions.NAME:INDEX` calls.
    KimiK2,
    /// GLM-4.5 / 4.6 (vLLM's `glm45`): `<tool_call>NAME` blocks of
    /// `<arg_key>` / `<arg_value>` pairs.
    Glm,
}

/// Which reasoning format to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReasoningFormat {
    /// No reasoning parsing.
    None,
    /// DeepSeek-R1 / Qwen3 style `<think>...</think>` at the start of the output.
    Think,
    /// gpt-oss harmony: the `analysis` channel is reasoning. Read by
    /// [`HarmonyParser`], never by the `<think>` parser.
    Harmony,
}

/// The markup a model writes in its output, which the stream actor's
/// parsers read back (detected from the chat template unless flags say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputFormats {
    /// How tool calls are written.
    pub tools: ToolFormat,
    /// How reasoning is set apart from the answer.
    pub reasoning: ReasoningFormat,
}

impl OutputFormats {
    /// Neither tool calls nor reasoning are parsed.
    pub const NONE: OutputFormats = OutputFormats {
        tools: ToolFormat::None,
        reasoning: ReasoningFormat::None,
    };

    /// The markers these formats' parsers read. Many tokenizers hold them
    /// as special tokens (gpt-oss, Kimi K2, Mistral, Llama 3), which the
    /// detokenizer drops by default: these must reach the parser.
    pub fn markers(&self) -> Vec<&'static str> {
        let mut m: Vec<&'static str> = match self.tools {
            ToolFormat::None => vec![],
            ToolFormat::Hermes | ToolFormat::Qwen3Coder => vec![hermes::START, hermes::END],
            ToolFormat::Llama3 => vec![llama3::PYTHON_TAG],
            ToolFormat::Mistral => vec![mistral::MARKER, mistral::ARGS],
            ToolFormat::DeepSeek => vec![
                deepseek::CALLS_BEGIN,
                deepseek::CALLS_END,
                deepseek::CALL_BEGIN,
                deepseek::CALL_END,
                deepseek::SEP,
            ],
            ToolFormat::Harmony => harmony::MARKERS.to_vec(),
            ToolFormat::KimiK2 => kimi_k2::MARKERS.to_vec(),
            ToolFormat::Glm => glm::MARKERS.to_vec(),
        };
        match self.reasoning {
            ReasoningFormat::None => {}
            ReasoningFormat::Think => m.extend([reasoning::OPEN, reasoning::CLOSE]),
            ReasoningFormat::Harmony => m.extend(harmony::MARKERS),
        }
        m.sort_unstable();
        m.dedup();
        m
    }
}

/// Choose formats from a chat template's source.
///
/// Tools, first match wins: Harmony when it mentions `<|channel|>`;
/// Qwen3Coder when it mentions both `<function=` and `<parameter=` (its
/// templates also mention `<tool_call>`); DeepSeek when it mentions
/// `<｜tool▁calls▁begin｜>`; KimiK2 when it mentions
/// `<|tool_calls_section_begin|>`; Glm when it mentions `<arg_key>` (GLM
/// templates also mention `<tool_call>`); Hermes when it mentions
/// `<tool_call>`; Mistral when it mentions `[TOOL_CALLS]`; Llama3 when it
/// mentions `<|python_tag|>`, or both `"parameters": ` and
/// `Environment: ipython`. Reasoning: Harmony with Harmony tools, else
/// Think when it mentions `<think>`.
pub fn detect(template_source: &str) -> OutputFormats {
    let llama3 = template_source.contains(llama3::PYTHON_TAG)
        || (template_source.contains("\"parameters\": ")
            && template_source.contains("Environment: ipython"));
    let qwen3_coder = template_source.contains(qwen3_coder::FUNCTION)
        && template_source.contains(qwen3_coder::PARAMETER);
    let tools = if template_source.contains(harmony::CHANNEL) {
        ToolFormat::Harmony
    } else if qwen3_coder {
        ToolFormat::Qwen3Coder
    } else if template_source.contains(deepseek::CALLS_BEGIN) {
        ToolFormat::DeepSeek
    } else if template_source.contains(kimi_k2::SECTION_BEGIN) {
        ToolFormat::KimiK2
    } else if template_source.contains(glm::ARG_KEY) {
        ToolFormat::Glm
    } else if template_source.contains(hermes::START) {
        ToolFormat::Hermes
    } else if template_source.contains(mistral::MARKER) {
        ToolFormat::Mistral
    } else if llama3 {
        ToolFormat::Llama3
    } else {
        ToolFormat::None
    };
    let reasoning = if tools == ToolFormat::Harmony {
        ReasoningFormat::Harmony
    } else if template_source.contains(reasoning::OPEN) {
        ReasoningFormat::Think
    } else {
        ReasoningFormat::None
    };
    OutputFormats { tools, reasoning }
}

/// Build the parser chain.
///
/// `starts_in_reasoning`: the rendered prompt ends inside an open `<think>`
/// block (some templates open it in the generation prompt), so text is
/// reasoning until `</think>`. When it is true a [`ThinkParser`] is used even
/// if `reasoning` is [`ReasoningFormat::None`], since the prompt itself says
/// the output starts in a think block.
///
/// `id_seed`: makes tool-call ids unique per request; see [`tool_call_id`].
///
/// `offered_tools`: the request's OpenAI-shaped `tools` array, if any. Only
/// [`ToolFormat::Qwen3Coder`] and [`ToolFormat::Glm`] read it (the
/// parameters' JSON schemas type the raw parameter values); the other
/// formats carry JSON already.
///
/// Harmony (either format) is one [`HarmonyParser`] that reads reasoning
/// and calls together; no `<think>` parser runs in front of it. With
/// Harmony reasoning and another tool format, the harmony parser's content
/// feeds that format's parser.
pub fn build(
    tools: ToolFormat,
    reasoning: ReasoningFormat,
    starts_in_reasoning: bool,
    id_seed: u64,
    offered_tools: Option<&Value>,
) -> Box<dyn OutputParser> {
    let tool: Option<Box<dyn OutputParser>> = match tools {
        ToolFormat::None | ToolFormat::Harmony => None,
        ToolFormat::Hermes => Some(Box::new(HermesParser::new(id_seed))),
        ToolFormat::Llama3 => Some(Box::new(Llama3Parser::new(id_seed))),
        ToolFormat::Mistral => Some(Box::new(MistralParser::new(id_seed))),
        ToolFormat::Qwen3Coder => Some(Box::new(Qwen3CoderParser::new(id_seed, offered_tools))),
        ToolFormat::DeepSeek => Some(Box::new(DeepSeekParser::new(id_seed))),
        ToolFormat::KimiK2 => Some(Box::new(KimiK2Parser::new(id_seed))),
        ToolFormat::Glm => Some(Box::new(GlmParser::new(id_seed, offered_tools))),
    };
    if tools == ToolFormat::Harmony || reasoning == ReasoningFormat::Harmony {
        let harmony = Box::new(HarmonyParser::new(id_seed, tools == ToolFormat::Harmony));
        return match tool {
            None => harmony,
            Some(second) => Box::new(Chain {
                first: harmony,
                second,
            }),
        };
    }
    let think = reasoning == ReasoningFormat::Think || starts_in_reasoning;
    match (tool, think) {
        (None, false) => Box::new(Passthrough),
        (None, true) => Box::new(ThinkParser::new(starts_in_reasoning)),
        (Some(tool), false) => tool,
        (Some(tool), true) => Box::new(Chain {
            first: Box::new(ThinkParser::new(starts_in_reasoning)),
            second: tool,
        }),
    }
}

/// Appends `Content(text)` unless `text` is empty.
pub(crate) fn push_content(out: &mut Vec<ParsedDelta>, text: &str) {
    if !text.is_empty() {
        out.push(ParsedDelta::Content(text.to_string()));
    }
}

/// Appends `Reasoning(text)` unless `text` is empty.
pub(crate) fn push_reasoning(out: &mut Vec<ParsedDelta>, text: &str) {
    if !text.is_empty() {
        out.push(ParsedDelta::Reasoning(text.to_string()));
    }
}

/// No formats: everything is content, nothing is held back.
#[derive(Debug, Default)]
pub struct Passthrough;

impl OutputParser for Passthrough {
    fn push(&mut self, text: &str) -> Vec<ParsedDelta> {
        let mut out = Vec::new();
        push_content(&mut out, text);
        out
    }

    fn finish(&mut self) -> Vec<ParsedDelta> {
        Vec::new()
    }

    fn saw_tool_calls(&self) -> bool {
        false
    }
}

/// Two parsers in a row: `first`'s `Content` is fed to `second`; everything
/// else `first` emits passes through in order.
struct Chain {
    first: Box<dyn OutputParser>,
    second: Box<dyn OutputParser>,
}

impl Chain {
    fn forward(&mut self, deltas: Vec<ParsedDelta>, out: &mut Vec<ParsedDelta>) {
        for d in deltas {
            match d {
                ParsedDelta::Content(text) => out.extend(self.second.push(&text)),
                other => out.push(other),
            }
        }
    }
}

impl OutputParser for Chain {
    fn push(&mut self, text: &str) -> Vec<ParsedDelta> {
        let mut out = Vec::new();
        let first = self.first.push(text);
        self.forward(first, &mut out);
        out
    }

    fn finish(&mut self) -> Vec<ParsedDelta> {
        let mut out = Vec::new();
        let first = self.first.finish();
        self.forward(first, &mut out);
        out.extend(self.second.finish());
        out
    }

    fn finish_cut(&mut self) -> Vec<ParsedDelta> {
        let mut out = Vec::new();
        let first = self.first.finish_cut();
        self.forward(first, &mut out);
        out.extend(self.second.finish_cut());
        out
    }

    fn saw_tool_calls(&self) -> bool {
        self.first.saw_tool_calls() || self.second.saw_tool_calls()
    }
}

#[cfg(any(test, feature = "fuzzing"))]
pub mod test_support;

#[cfg(test)]
mod tests {
    use super::test_support::{check_splits, random_texts};
    use super::*;

    #[test]
    fn detect_formats() {
        assert_eq!(
            detect("hello"),
            OutputFormats {
                tools: ToolFormat::None,
                reasoning: ReasoningFormat::None
            }
        );
        assert_eq!(
            detect("{{ '<tool_call>\\n' }} ... <think>"),
            OutputFormats {
                tools: ToolFormat::Hermes,
                reasoning: ReasoningFormat::Think
            }
        );
        assert_eq!(
            detect("<tool_call>"),
            OutputFormats {
                tools: ToolFormat::Hermes,
                reasoning: ReasoningFormat::None
            }
        );
        assert_eq!(
            detect("<think>"),
            OutputFormats {
                tools: ToolFormat::None,
                reasoning: ReasoningFormat::Think
            }
        );
    }

    #[test]
    fn detect_llama3_and_mistral() {
        let llama31 = "{{- \"Environment: ipython\\n\" }} ... {{- '<|python_tag|>' }}";
        assert_eq!(detect(llama31).tools, ToolFormat::Llama3);
        let llama32 = "{{- \"Environment: ipython\\n\" }} {{- '\"parameters\": ' }}";
        assert_eq!(detect(llama32).tools, ToolFormat::Llama3);
        assert_eq!(detect("'\"parameters\": '").tools, ToolFormat::None);
        assert_eq!(detect("Environment: ipython").tools, ToolFormat::None);
        assert_eq!(
            detect("{{ '[TOOL_CALLS]' }} [AVAILABLE_TOOLS]"),
            OutputFormats {
                tools: ToolFormat::Mistral,
                reasoning: ReasoningFormat::None
            }
        );
        // Hermes wins when both markers appear.
        assert_eq!(
            detect("<tool_call> <|python_tag|>").tools,
            ToolFormat::Hermes
        );
        assert_eq!(detect("<tool_call> [TOOL_CALLS]").tools, ToolFormat::Hermes);
    }

    #[test]
    fn chains_for_llama3_and_mistral() {
        let make = || build(ToolFormat::Llama3, ReasoningFormat::Think, false, 4, None);
        let text = "<think>\nplan\n</think>\n\n<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": 1}}";
        let c = check_splits(&make, text);
        assert_eq!(c.reasoning, "plan\n");
        assert_eq!(c.content, "");
        assert_eq!(c.calls.len(), 1);
        assert_eq!(c.calls[0].1, tool_call_id(4, 0));
        assert_eq!(c.calls[0].3, r#"{"a":1}"#);
        let make = || build(ToolFormat::Llama3, ReasoningFormat::None, false, 4, None);
        let c = check_splits(&make, "{\"name\": \"f\"}");
        assert_eq!(c.calls.len(), 1);
        let make = || build(ToolFormat::Mistral, ReasoningFormat::Think, false, 4, None);
        let text = "<think>r</think>Ok.[TOOL_CALLS]f[ARGS]{\"a\": 1}";
        let c = check_splits(&make, text);
        assert_eq!((c.reasoning.as_str(), c.content.as_str()), ("r", "Ok."));
        assert_eq!(c.calls.len(), 1);
        let make = || build(ToolFormat::Mistral, ReasoningFormat::None, false, 4, None);
        let c = check_splits(&make, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}]");
        assert_eq!(c.calls.len(), 1);
    }

    #[test]
    fn detect_qwen3_coder_and_deepseek() {
        let t = |name: &str| {
            std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/data/templates")
                    .join(name),
            )
            .unwrap_or_default()
        };
        let coder = t("Qwen3-Coder.jinja");
        assert!(coder.contains(hermes::START));
        assert_eq!(
            detect(&coder),
            OutputFormats {
                tools: ToolFormat::Qwen3Coder,
                reasoning: ReasoningFormat::None
            }
        );
        for name in [
            "deepseek-ai-DeepSeek-V3.1.jinja",
            "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
            "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
        ] {
            // R1 and V3.1 think in `<think>` blocks: reasoning stays detected.
            assert_eq!(
                detect(&t(name)),
                OutputFormats {
                    tools: ToolFormat::DeepSeek,
                    reasoning: ReasoningFormat::Think
                },
                "{name}"
            );
        }
        // Templates around them keep their formats.
        assert_eq!(
            detect(&t("Qwen-Qwen3-0.6B.jinja")).tools,
            ToolFormat::Hermes
        );
        // Functionary v3.1 writes `<function=` but no `<parameter=`.
        assert_ne!(
            detect(&t("meetkai-functionary-medium-v3.1.jinja")).tools,
            ToolFormat::Qwen3Coder
        );
        // Inline forms: both Qwen3-Coder tags are needed.
        let inline = "{{ '<tool_call>\\n<function=' + name + '>\\n<parameter=' }}";
        assert_eq!(detect(inline).tools, ToolFormat::Qwen3Coder);
        assert_eq!(detect("<tool_call> <function=").tools, ToolFormat::Hermes);
        assert_eq!(
            detect("{{'<｜tool▁calls▁begin｜>'}} <think>"),
            OutputFormats {
                tools: ToolFormat::DeepSeek,
                reasoning: ReasoningFormat::Think
            }
        );
        assert_eq!(detect("<｜tool▁call▁begin｜>").tools, ToolFormat::None);
    }

    #[test]
    fn chains_for_qwen3_coder_and_deepseek() {
        let tools = serde_json::json!([{"type": "function", "function": {"name": "f",
            "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}}]);
        let make = || {
            build(
                ToolFormat::Qwen3Coder,
                ReasoningFormat::Think,
                false,
                4,
                Some(&tools),
            )
        };
        let text = "<think>\nplan\n</think>\n\nOk.\n<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call>";
        let c = check_splits(&make, text);
        assert_eq!(
            (c.reasoning.as_str(), c.content.as_str()),
            ("plan\n", "Ok.\n")
        );
        assert_eq!(c.calls.len(), 1);
        assert_eq!(c.calls[0].1, tool_call_id(4, 0));
        // Typed by the schema: a string, not the number 1.
        assert_eq!(c.calls[0].3, r#"{"a":"1"}"#);
        // Without the tools, the same value is untyped.
        let make = || {
            build(
                ToolFormat::Qwen3Coder,
                ReasoningFormat::None,
                false,
                4,
                None,
            )
        };
        let c = check_splits(
            &make,
            "<tool_call><function=f><parameter=a>1</parameter></function></tool_call>",
        );
        assert_eq!(c.calls[0].3, r#"{"a":1}"#);
        // DeepSeek-R1: reasoning first, then a V3 section.
        let make = || build(ToolFormat::DeepSeek, ReasoningFormat::Think, false, 4, None);
        let text = "<think>r</think>Sure.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"a\": 1}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
        let c = check_splits(&make, text);
        assert_eq!((c.reasoning.as_str(), c.content.as_str()), ("r", "Sure."));
        assert_eq!(c.calls.len(), 1);
        assert_eq!(c.calls[0].3, r#"{"a":1}"#);
        // V3.1 with the prompt's open think block.
        let make = || build(ToolFormat::DeepSeek, ReasoningFormat::Think, true, 4, None);
        let text = "plan</think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
        let c = check_splits(&make, text);
        assert_eq!((c.reasoning.as_str(), c.content.as_str()), ("plan", ""));
        assert_eq!(c.calls.len(), 1);
    }

    fn template(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/templates")
                .join(name),
        )
        .unwrap_or_default()
    }

    #[test]
    fn detect_harmony_kimi_and_glm() {
        let gpt_oss = template("openai-gpt-oss-120b.jinja");
        assert!(!gpt_oss.is_empty());
        assert_eq!(
            detect(&gpt_oss),
            OutputFormats {
                tools: ToolFormat::Harmony,
                reasoning: ReasoningFormat::Harmony
            }
        );
        assert_eq!(
            detect(&template("moonshotai-Kimi-K2.jinja")),
            OutputFormats {
                tools: ToolFormat::KimiK2,
                reasoning: ReasoningFormat::None
            }
        );
        // Kimi K2 Thinking also thinks in `<think>` blocks.
        assert_eq!(
            detect("{{'<|tool_calls_section_begin|>'}} <think>"),
            OutputFormats {
                tools: ToolFormat::KimiK2,
                reasoning: ReasoningFormat::Think
            }
        );
        let glm = template("GLM-4.6.jinja");
        assert!(glm.contains(hermes::START));
        assert_eq!(
            detect(&glm),
            OutputFormats {
                tools: ToolFormat::Glm,
                reasoning: ReasoningFormat::Think
            }
        );
        // The other templates do not change.
        for (name, tools) in [
            ("Qwen-Qwen3-0.6B.jinja", ToolFormat::Hermes),
            ("Qwen3-Coder.jinja", ToolFormat::Qwen3Coder),
            ("deepseek-ai-DeepSeek-V3.1.jinja", ToolFormat::DeepSeek),
            ("meta-llama-Llama-3.1-8B-Instruct.jinja", ToolFormat::Llama3),
            (
                "mistralai-Mistral-Nemo-Instruct-2407.jinja",
                ToolFormat::Mistral,
            ),
        ] {
            assert_eq!(detect(&template(name)).tools, tools, "{name}");
        }
    }

    #[test]
    fn markers_of_each_format() {
        let f = detect(&template("openai-gpt-oss-120b.jinja"));
        assert_eq!(f.markers().len(), harmony::MARKERS.len());
        let f = OutputFormats {
            tools: ToolFormat::Glm,
            reasoning: ReasoningFormat::Think,
        };
        assert!(f.markers().contains(&"<arg_value>") && f.markers().contains(&"</think>"));
        let f = OutputFormats {
            tools: ToolFormat::KimiK2,
            reasoning: ReasoningFormat::None,
        };
        assert!(f.markers().contains(&kimi_k2::ARGUMENT_BEGIN));
        assert!(OutputFormats::NONE.markers().is_empty());
    }

    #[test]
    fn chains_for_harmony_kimi_and_glm() {
        // Harmony reads its own reasoning; no `<think>` parser in front,
        // whatever the reasoning format or the prompt says.
        let text = "<|channel|>analysis<|message|><think>plan</think><|end|><|start|>assistant to=functions.f<|channel|>commentary json<|message|>{\"a\": 1}<|call|>";
        for reasoning in [ReasoningFormat::Harmony, ReasoningFormat::Think] {
            let make = || build(ToolFormat::Harmony, reasoning, true, 4, None);
            let c = check_splits(&make, text);
            assert_eq!(
                (c.reasoning.as_str(), c.content.as_str()),
                ("<think>plan</think>", "")
            );
            assert_eq!(c.calls.len(), 1);
            assert_eq!(c.calls[0].1, tool_call_id(4, 0));
            assert_eq!(c.calls[0].3, r#"{"a":1}"#);
        }
        // Calls not parsed: reasoning still split, the call is content.
        let make = || build(ToolFormat::None, ReasoningFormat::Harmony, false, 4, None);
        let c = check_splits(&make, text);
        assert_eq!(c.reasoning, "<think>plan</think>");
        assert!(c.calls.is_empty() && c.content.starts_with("<|start|>assistant to=functions.f"));
        // Kimi K2 Thinking.
        let make = || build(ToolFormat::KimiK2, ReasoningFormat::Think, false, 4, None);
        let text = "<think>r</think>Sure.<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{\"a\": 1}<|tool_call_end|><|tool_calls_section_end|>";
        let c = check_splits(&make, text);
        assert_eq!((c.reasoning.as_str(), c.content.as_str()), ("r", "Sure."));
        assert_eq!(c.calls.len(), 1);
        // GLM-4.6: reasoning, then a call typed by the offered tools.
        let tools = serde_json::json!([{"type": "function", "function": {"name": "f",
            "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}}]);
        let make = || {
            build(
                ToolFormat::Glm,
                ReasoningFormat::Think,
                false,
                4,
                Some(&tools),
            )
        };
        let text = "\n<think>plan</think>\nOk.\n<tool_call>f\n<arg_key>a</arg_key>\n<arg_value>1</arg_value>\n</tool_call>";
        let c = check_splits(&make, text);
        assert_eq!(
            (c.reasoning.as_str(), c.content.as_str()),
            ("plan", "Ok.\n")
        );
        assert_eq!(c.calls.len(), 1);
        assert_eq!(c.calls[0].3, r#"{"a":"1"}"#);
        // Thinking off: the prompt closed the think block, the reply is the answer.
        let c = check_splits(&make, "Hi.");
        assert_eq!((c.reasoning.as_str(), c.content.as_str()), ("", "Hi."));
    }

    #[test]
    fn passthrough_is_verbatim() {
        let make = || build(ToolFormat::None, ReasoningFormat::None, false, 1, None);
        let text = "<think>x</think> <tool_call>{\"name\":\"f\"}</tool_call> naïve 🚀\n";
        let c = check_splits(&make, text);
        assert_eq!(c.content, text);
        assert!(c.reasoning.is_empty() && c.calls.is_empty());
        // Nothing held back.
        let mut p = make();
        assert_eq!(
            p.push("<tool_"),
            vec![ParsedDelta::Content("<tool_".into())]
        );
    }

    const CALL: &str = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>";

    #[test]
    fn think_then_tool_call() {
        let make = || build(ToolFormat::Hermes, ReasoningFormat::Think, false, 7, None);
        let text = format!("<think>\nI should call it.\n</think>\n\nChecking.\n{CALL}\n");
        let c = check_splits(&make, &text);
        assert_eq!(c.reasoning, "I should call it.\n");
        assert_eq!(c.content, "Checking.\n");
        assert_eq!(c.calls.len(), 1);
        assert_eq!(c.calls[0].1, tool_call_id(7, 0));
        assert_eq!(c.calls[0].2, "get_weather");
        assert_eq!(c.calls[0].3, r#"{"city":"Paris","unit":"c"}"#);
        assert!(c.saw_tool_calls);
    }

    #[test]
    fn tool_call_inside_think_is_reasoning() {
        let make = || build(ToolFormat::Hermes, ReasoningFormat::Think, false, 7, None);
        let text = format!("<think>maybe {CALL}</think>ok");
        let c = check_splits(&make, &text);
        assert_eq!(c.reasoning, format!("maybe {CALL}"));
        assert_eq!(c.content, "ok");
        assert!(c.calls.is_empty());
    }

    #[test]
    fn starts_in_reasoning_chain() {
        let make = || build(ToolFormat::Hermes, ReasoningFormat::Think, true, 3, None);
        let text = format!("thinking hard\n</think>\n\n{CALL}");
        let c = check_splits(&make, &text);
        assert_eq!(c.reasoning, "thinking hard\n");
        assert_eq!(c.content, "");
        assert_eq!(c.calls.len(), 1);
        // Reasoning format None but the prompt opened a think block.
        let make = || build(ToolFormat::None, ReasoningFormat::None, true, 3, None);
        let c = check_splits(&make, "r</think>a");
        assert_eq!((c.reasoning.as_str(), c.content.as_str()), ("r", "a"));
    }

    /// Random texts built from marker fragments: no panic, split-invariant,
    /// and with no valid call inside, the tool parser loses no text.
    #[test]
    fn random_fragments() {
        const GOOD: &str = "{\"name\":\"f\",\"arguments\":{\"a\":1}}";
        let frags = [
            "<think>",
            "</think>",
            "<tool_call>",
            "</tool_call>",
            "\n",
            " ",
            GOOD,
            "🚀",
            "<",
            "tool_",
            "</",
            "x",
            "{",
            "é",
        ];
        for (case, text) in random_texts(&frags, 99, 200, 12).into_iter().enumerate() {
            let seed = case as u64;
            for (tools, reasoning, open) in [
                (ToolFormat::Hermes, ReasoningFormat::Think, false),
                (ToolFormat::Hermes, ReasoningFormat::Think, true),
                (ToolFormat::Hermes, ReasoningFormat::None, false),
                (ToolFormat::None, ReasoningFormat::Think, false),
            ] {
                let make = || build(tools, reasoning, open, seed, None);
                let c = check_splits(&make, &text);
                if tools == ToolFormat::Hermes && reasoning == ReasoningFormat::None {
                    if c.calls.is_empty() {
                        assert_eq!(c.content, text);
                    }
                    if !text.contains(GOOD) {
                        assert!(c.calls.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn chain_without_think_block() {
        let make = || build(ToolFormat::Hermes, ReasoningFormat::Think, false, 3, None);
        let text = format!("Sure.\n{CALL}\n{CALL}");
        let c = check_splits(&make, &text);
        assert_eq!(c.content, "Sure.\n");
        assert!(c.reasoning.is_empty());
        assert_eq!(c.calls.len(), 2);
        assert_ne!(c.calls[0].1, c.calls[1].1);
    }
}
