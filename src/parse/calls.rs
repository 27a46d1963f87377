//! A finished tool call and the text around it: its id, its arguments as
//! compact JSON, and [`CallEmitter`], which numbers the calls and decides
//! what happens to whitespace next to them. Every tool-call family uses it.

use super::{push_content, ParsedDelta};
use serde_json::{Map, Value};

/// The id of tool call `index` in a request whose seed is `seed`.
///
/// Format: `call_` followed by 24 lowercase hex digits. The digits are the
/// 64-bit value `splitmix64(seed ^ splitmix64(index ^ K))` (K a fixed odd
/// constant) followed by the top 32 bits of one more splitmix64 round of it.
/// splitmix64 is a bijection on u64, so for one seed every index gets a
/// different id; the same seed and index always give the same id.
pub fn tool_call_id(seed: u64, index: usize) -> String {
    const K: u64 = 0x243F_6A88_85A3_08D3;
    let a = splitmix64(seed ^ splitmix64(index as u64 ^ K));
    let b = splitmix64(a);
    format!("call_{:016x}{:08x}", a, b >> 32)
}

/// One round of the splitmix64 finalizer (a bijection on u64).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Arguments value of a call as a compact JSON object string: an object, a
/// JSON string holding an object, or absent / `null` / an empty string (all
/// meaning `{}`). `None` for anything else.
pub(crate) fn arguments_json(args: Option<&Value>) -> Option<String> {
    let args = match args {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(m)) => Value::Object(m.clone()),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Map::new()),
        Some(Value::String(s)) => {
            let inner: Value = serde_json::from_str(s).ok()?;
            if !inner.is_object() {
                return None;
            }
            inner
        }
        Some(_) => return None,
    };
    serde_json::to_string(&args).ok()
}

/// True when `name` can be a function name read out of markup: non-empty,
/// without whitespace, `<` or `>`.
pub(crate) fn is_call_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '<' || c == '>')
}

/// A call object `{"name": "...", "arguments" | "parameters": ...}` as
/// (name, compact arguments JSON), or `None` when it is not one: `name` must
/// be a non-empty string, the arguments as [`arguments_json`] accepts.
pub(crate) fn call_from_value(value: &Value) -> Option<(String, String)> {
    let obj = value.as_object()?;
    let name = obj.get("name")?.as_str()?;
    if name.is_empty() {
        return None;
    }
    let arguments = arguments_json(obj.get("arguments").or_else(|| obj.get("parameters")))?;
    Some((name.to_string(), arguments))
}

/// What every tool parser does with finished calls and the text around
/// them: numbers and names calls, and holds whitespace that follows a call
/// until it is known whether more calls (drop it) or real text (keep it)
/// come next.
#[derive(Debug)]
pub(crate) struct CallEmitter {
    id_seed: u64,
    calls: usize,
    /// The last thing emitted was a tool call.
    after_call: bool,
    /// Whitespace after a call, kept until we know what follows it.
    pending_ws: String,
}

impl CallEmitter {
    /// An emitter whose ids derive from `id_seed` (see [`tool_call_id`]).
    pub(crate) fn new(id_seed: u64) -> Self {
        Self {
            id_seed,
            calls: 0,
            after_call: false,
            pending_ws: String::new(),
        }
    }

    /// Calls emitted so far.
    pub(crate) fn calls(&self) -> usize {
        self.calls
    }

    /// Emit one complete call.
    pub(crate) fn call(&mut self, name: String, arguments: String, out: &mut Vec<ParsedDelta>) {
        let index = self.calls;
        self.calls += 1;
        out.push(ParsedDelta::ToolCall {
            index,
            id: tool_call_id(self.id_seed, index),
            name,
            arguments,
        });
        self.after_call = true;
        self.pending_ws.clear();
    }

    /// Emit text found outside calls. `before_call`: a call marker follows
    /// `text` directly (whitespace between calls is dropped).
    pub(crate) fn text(&mut self, text: &str, before_call: bool, out: &mut Vec<ParsedDelta>) {
        if !self.after_call {
            push_content(out, text);
        } else if text.trim().is_empty() {
            self.pending_ws.push_str(text);
            if before_call {
                self.pending_ws.clear();
            }
        } else {
            self.pending_ws.push_str(text);
            push_content(out, &self.pending_ws);
            self.pending_ws.clear();
            self.after_call = false;
        }
    }

    /// The reply ended: whitespace after the last call is dropped.
    pub(crate) fn end(&mut self) {
        self.pending_ws.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_unique_and_stable() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            let id = tool_call_id(42, i);
            assert_eq!(id.len(), 5 + 24);
            assert!(id.starts_with("call_"));
            assert!(id[5..]
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
            assert_eq!(id, tool_call_id(42, i));
            assert!(seen.insert(id));
        }
        assert_ne!(tool_call_id(1, 0), tool_call_id(2, 0));
    }
}
