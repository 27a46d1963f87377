//! A tool call and the text around it: its id, its arguments as compact
//! JSON, and [`CallEmitter`], which numbers the calls, streams their
//! arguments and decides what happens to whitespace next to them. Every
//! tool-call family uses it.

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

/// The id of tool call `index` for the Mistral family: 9 alphanumeric
/// characters, the form Mistral's templates accept ("Tool call IDs should
/// be alphanumeric strings with length 9") and its models were trained on.
///
/// The digits are the same 64-bit value as [`tool_call_id`]'s, reduced
/// modulo 62^9 and written in base 62: stable for a seed and index, and two
/// calls of one response share an id with odds of about 1 in 10^16.
pub fn mistral_tool_call_id(seed: u64, index: usize) -> String {
    const K: u64 = 0x243F_6A88_85A3_08D3;
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut v = splitmix64(seed ^ splitmix64(index as u64 ^ K));
    let mut id = [0u8; 9];
    for d in id.iter_mut().rev() {
        *d = DIGITS[(v % 62) as usize];
        v /= 62;
    }
    id.iter().map(|&b| b as char).collect()
}

/// How a family's tool-call ids look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdStyle {
    /// `call_` + 24 hex digits ([`tool_call_id`]), as OpenAI's.
    #[default]
    OpenAi,
    /// 9 alphanumerics ([`mistral_tool_call_id`]).
    Mistral,
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

/// What every tool parser does with calls and the text around them:
/// numbers and names calls, streams their arguments, and holds whitespace
/// that follows a call until it is known whether more calls (drop it) or
/// real text (keep it) come next.
#[derive(Debug)]
pub(crate) struct CallEmitter {
    id_seed: u64,
    id_style: IdStyle,
    calls: usize,
    /// A call was started and its arguments are still coming.
    open: bool,
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
            id_style: IdStyle::OpenAi,
            calls: 0,
            open: false,
            after_call: false,
            pending_ws: String::new(),
        }
    }

    /// Ids in `style` from now on.
    pub(crate) fn set_id_style(&mut self, style: IdStyle) {
        self.id_style = style;
    }

    /// Calls started so far.
    pub(crate) fn calls(&self) -> usize {
        self.calls
    }

    /// True while a started call's arguments are still coming.
    pub(crate) fn is_open(&self) -> bool {
        self.open
    }

    /// Emit one complete call: its start and all its arguments at once.
    pub(crate) fn call(&mut self, name: String, arguments: String, out: &mut Vec<ParsedDelta>) {
        self.start(name, out);
        self.arguments(&arguments, out);
        self.end_call();
    }

    /// A call begins (its name is known); its arguments follow through
    /// [`CallEmitter::arguments`] until [`CallEmitter::end_call`]. A call
    /// still open is ended first.
    pub(crate) fn start(&mut self, name: String, out: &mut Vec<ParsedDelta>) {
        self.end_call();
        let index = self.calls;
        self.calls += 1;
        let id = match self.id_style {
            IdStyle::OpenAi => tool_call_id(self.id_seed, index),
            IdStyle::Mistral => mistral_tool_call_id(self.id_seed, index),
        };
        out.push(ParsedDelta::ToolCallStart { index, id, name });
        self.open = true;
        self.after_call = true;
        self.pending_ws.clear();
    }

    /// More of the open call's arguments (nothing when `text` is empty or
    /// no call is open).
    pub(crate) fn arguments(&mut self, text: &str, out: &mut Vec<ParsedDelta>) {
        if self.open && !text.is_empty() {
            let index = self.calls - 1;
            match out.last_mut() {
                Some(ParsedDelta::ToolCallArguments { index: i, text: t }) if *i == index => {
                    t.push_str(text)
                }
                _ => out.push(ParsedDelta::ToolCallArguments {
                    index,
                    text: text.to_string(),
                }),
            }
        }
    }

    /// The open call's arguments are complete (or cut off where they stand).
    pub(crate) fn end_call(&mut self) {
        self.open = false;
    }

    /// Emit text found outside calls. `before_call`: a call marker follows
    /// `text` directly (whitespace between calls is dropped).
    pub(crate) fn text(&mut self, text: &str, before_call: bool, out: &mut Vec<ParsedDelta>) {
        self.end_call();
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

    /// The reply ended: whitespace after the last call is dropped, and a
    /// call still open ends where it stands.
    pub(crate) fn end(&mut self) {
        self.end_call();
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

    #[test]
    fn mistral_ids_are_nine_alphanumerics() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            let id = mistral_tool_call_id(42, i);
            assert_eq!(id.len(), 9);
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
            assert_eq!(id, mistral_tool_call_id(42, i));
            assert!(seen.insert(id));
        }
        assert_ne!(mistral_tool_call_id(1, 0), mistral_tool_call_id(2, 0));
    }
}
