//! Every tool-call and reasoning parser (each `ToolFormat` with each
//! `ReasoningFormat`, as `parse::build` chains them for the stream actor)
//! fed the same arbitrary text whole, cut at arbitrary points, and one char
//! at a time. The parsers claim split invariance: the joined content, the
//! joined reasoning and the calls must not depend on the cuts. The shared
//! test helper also checks each stream's own rules (no empty deltas, call
//! indices counting up, a call's arguments complete before the next call,
//! never extended once they parse).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use weir::parse::test_support::{run, Collected};
use weir::parse::{self, OutputParser, ReasoningFormat, ToolFormat};

const TOOLS: [ToolFormat; 9] = [
    ToolFormat::None,
    ToolFormat::Hermes,
    ToolFormat::Llama3,
    ToolFormat::Mistral,
    ToolFormat::Qwen3Coder,
    ToolFormat::DeepSeek,
    ToolFormat::Harmony,
    ToolFormat::KimiK2,
    ToolFormat::Glm,
];

const REASONING: [ReasoningFormat; 3] = [
    ReasoningFormat::None,
    ReasoningFormat::Think,
    ReasoningFormat::Harmony,
];

/// The offered tools that type Qwen3-Coder's and GLM's raw parameter
/// values: one parameter of every JSON schema type.
fn offered_tools() -> &'static Value {
    static TOOLS: OnceLock<Value> = OnceLock::new();
    TOOLS.get_or_init(|| {
        json!([{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {
            "s": {"type": "string"}, "i": {"type": "integer"},
            "n": {"type": "number"}, "b": {"type": "boolean"},
            "o": {"type": "object"}, "a": {"type": "array"},
            "u": {"anyOf": [{"type": "integer"}, {"type": "null"}]}
        }}}},
        {"type": "function", "function": {"name": "write", "parameters": {
        "type": "object", "properties": {
            "filePath": {"type": "string"}, "content": {"type": "string"}
        }}}}])
    })
}

/// The byte offsets at which `text` is cut: `raw` read as little-endian
/// u16s, each moved to the next char boundary.
fn cuts(text: &str, raw: &[u8]) -> Vec<usize> {
    let mut at: Vec<usize> = raw
        .chunks_exact(2)
        .map(|b| {
            let mut i = usize::from(u16::from_le_bytes([b[0], b[1]])) % (text.len() + 1);
            while !text.is_char_boundary(i) {
                i += 1;
            }
            i
        })
        .collect();
    at.sort_unstable();
    at.dedup();
    at
}

fn pieces<'a>(text: &'a str, cuts: &[usize]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &c in cuts {
        out.push(&text[start..c]);
        start = c;
    }
    out.push(&text[start..]);
    out
}

fuzz_target!(|data: &[u8]| {
    let [combo, ncuts, rest @ ..] = data else {
        return;
    };
    let ncuts = usize::from(*ncuts % 16);
    if rest.len() < ncuts * 2 {
        return;
    }
    let (raw_cuts, text) = rest.split_at(ncuts * 2);
    let text = String::from_utf8_lossy(text);
    let text = text.as_ref();

    let combo = usize::from(*combo);
    let tools = TOOLS[combo % TOOLS.len()];
    let reasoning = REASONING[(combo / TOOLS.len()) % REASONING.len()];
    let starts_in_reasoning = combo / (TOOLS.len() * REASONING.len()) % 2 == 1;
    let make = || -> Box<dyn OutputParser> {
        parse::build(
            tools,
            reasoning,
            starts_in_reasoning,
            7,
            Some(offered_tools()),
        )
    };

    let whole: Collected = run(&make, &[text]);
    let cut = run(&make, &pieces(text, &cuts(text, raw_cuts)));
    assert_eq!(
        cut,
        whole,
        "{tools:?}/{reasoning:?}: cut at {:?}",
        cuts(text, raw_cuts)
    );
    // One char at a time (short texts; longer ones in 3-byte steps).
    let steps: Vec<usize> = if text.len() <= 512 {
        text.char_indices().map(|(i, _)| i).skip(1).collect()
    } else {
        (1..text.len())
            .step_by(3)
            .filter(|&i| text.is_char_boundary(i))
            .collect()
    };
    let small = run(&make, &pieces(text, &steps));
    assert_eq!(small, whole, "{tools:?}/{reasoning:?}: in small pieces");

    // A reply cut off by max_tokens ends through finish_cut: no panic.
    let mut p = make();
    let _ = p.push(text);
    let _ = p.finish_cut();
});
