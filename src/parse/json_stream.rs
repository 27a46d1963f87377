//! A streaming re-writer for tool-call arguments: one JSON object arrives in
//! pieces as the model writes it, and the compact text of that object goes
//! out as soon as each part of it is certain.
//!
//! Clients receive a tool call's `function.arguments` in deltas while the
//! model generates them. Concatenated, those deltas must be exactly what the
//! non-streamed reply carries: `serde_json::to_string` of the parsed value
//! (serde_json with `preserve_order`), whatever whitespace and escapes the
//! model wrote. And an agent client (the AI SDK) hands a call over as soon as
//! the arguments accumulated so far parse, so no proper prefix of what is
//! sent may itself be valid JSON.
//!
//! [`JsonRewriter::feed`] reads one piece and appends the newly certain
//! compact text to the caller's buffer. What it guarantees:
//!
//! - **Same text as serde_json.** After [`Fed::Done`], everything appended
//!   equals `serde_json::to_string(&serde_json::from_str::<Value>(text)?)`
//!   byte for byte: whitespace outside strings dropped; strings decoded and
//!   escaped again as serde_json escapes them ([`push_escaped`]); `\u`
//!   escapes decoded and surrogate pairs joined; numbers printed as
//!   serde_json prints the number it parses (`1.50` → `1.5`, `1e5` →
//!   `100000.0`, `-0` → `-0.0`, integers beyond 64 bits → floats), which is
//!   why each number is held until its token ends and then handed to
//!   serde_json itself.
//! - **Never valid before the end.** The top level must be an object and its
//!   closing `}` goes out only with [`Fed::Done`], so every prefix sent before
//!   that fails to parse.
//! - **Streams as it arrives.** String contents go out as they are read (a
//!   long string streams char by char), never cut inside an escape or a
//!   char; structural characters go out at once; `true` / `false` / `null`
//!   when complete; numbers when their token ends.
//! - **Split-invariant.** Any cutting of the text into pieces gives the same
//!   total output and the same outcome, with [`Fed::Invalid`] at the same
//!   absolute byte.
//! - **Invalid exactly when serde_json rejects the text**: malformed JSON, a
//!   top level that is not an object, a raw control character or a lone
//!   surrogate in a string, a number out of `f64` range (`1e400`), or
//!   nesting deeper than serde_json's limit (127 levels of `{` / `[`
//!   parse, the 128th is rejected).
//! - **Exact end.** [`Fed::Done`] says how many bytes of the piece belonged
//!   to the value, so a caller keeps scanning what follows (`}\n</tool_call>`).
//!   Whitespace after the value is not consumed.
//! - **Linear.** Each byte is read once (the byte that ends a number twice);
//!   nothing is re-scanned per piece. The only buffer is the current number
//!   token; the output goes straight into the caller's `String`.
//!
//! The one known difference: a key written twice is sent twice, as written.
//! serde_json's map keeps one entry (the first key's place, the last value),
//! so for such texts the output differs from the non-streamed text. The
//! re-writer does not buffer the object to remove them.
//!
//! This module depends on nothing else in weir.

use std::fmt::Write as _;

use serde_json::Number;

/// Deepest nesting of `{` / `[` that serde_json parses; one more is rejected.
const MAX_DEPTH: u8 = 127;

/// Re-writes one JSON object arriving in pieces as serde_json's compact
/// text, emitting what is safe after each piece.
#[derive(Clone, Debug)]
pub struct JsonRewriter {
    state: State,
    /// Open containers, innermost at bit `depth - 1`: set for an array.
    arrays: u128,
    /// How many containers are open.
    depth: u8,
    /// Whether the string being read is an object key.
    in_key: bool,
    /// The number token being read.
    number: String,
    /// Bytes read in earlier pieces.
    read: usize,
    /// Absolute offset of the byte that broke the text, once it broke.
    broke_at: Option<usize>,
}

/// What a feed found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fed {
    /// The value is not complete yet; all of `text` was read.
    More,
    /// The value ended: the first `consumed` bytes of this `text` belonged
    /// to it (the rest is what follows the value, untouched). Feeding again
    /// reads nothing and says `Done { consumed: 0 }`.
    Done {
        /// Bytes of this piece that belonged to the value.
        consumed: usize,
    },
    /// Not valid JSON (or not an object at the top level, or nested deeper
    /// than serde_json's limit): the first `at` bytes of this `text` were
    /// read, the byte at `at` is where it broke. Nothing more is emitted;
    /// feeding again reads nothing and says `Invalid { at: 0 }`.
    Invalid {
        /// Offset in this piece of the byte that broke the text.
        at: usize,
    },
}

/// Why the value is not complete when no more text comes, see
/// [`JsonRewriter::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unfinished {
    /// The text ended inside the value (a call cut off by `max_tokens`).
    #[error("the JSON text ended before the value was complete")]
    Truncated,
    /// The text broke at this absolute byte offset (over all pieces).
    #[error("the JSON text is invalid at byte {at}")]
    Invalid {
        /// Offset over all pieces fed of the byte that broke the text.
        at: usize,
    },
}

/// Where the reader stands between two bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the top-level `{`.
    Start,
    /// After `{`: a key or `}`.
    KeyOrEnd,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After `:`, or `,` in an array: a value.
    Value,
    /// After `[`: a value or `]`.
    ValueOrEnd,
    /// After a value: `,` or the closing bracket of the open container.
    AfterValue,
    /// Inside a string.
    Str,
    /// After `\` in a string.
    Escape,
    /// Reading the four hex digits of a `\u` escape; `high` is the leading
    /// surrogate these digits must complete, if any.
    Hex {
        high: Option<u16>,
        digits: u8,
        code: u16,
    },
    /// After a leading surrogate: its trailing `\` must follow.
    PairBackslash { high: u16 },
    /// After a leading surrogate and `\`: `u` must follow.
    PairU { high: u16 },
    /// Inside a number token.
    Number(NumberPart),
    /// Inside `true`, `false` or `null`: `matched` bytes of `word` read.
    Literal { word: &'static str, matched: u8 },
    /// The top-level object closed.
    Done,
    /// The text broke.
    Invalid,
}

/// The part of a number token just read (RFC 8259's number grammar).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumberPart {
    /// `-`: a digit must follow.
    Minus,
    /// A leading `0`: no digit may follow.
    Zero,
    /// Integer digits after a leading `1`-`9`.
    Int,
    /// `.`: a digit must follow.
    Dot,
    /// Fraction digits.
    Frac,
    /// `e` / `E`: a sign or digit must follow.
    Exp,
    /// The exponent's sign: a digit must follow.
    ExpSign,
    /// Exponent digits.
    ExpDigits,
}

impl NumberPart {
    /// Whether the token may end here.
    fn complete(self) -> bool {
        matches!(self, Self::Zero | Self::Int | Self::Frac | Self::ExpDigits)
    }

    /// The part after byte `b`, or `None` when `b` does not continue the
    /// token.
    fn after(self, b: u8) -> Option<Self> {
        use NumberPart::*;
        match (self, b) {
            (Minus, b'0') => Some(Zero),
            (Minus, b'1'..=b'9') => Some(Int),
            (Int, b'0'..=b'9') => Some(Int),
            (Zero | Int, b'.') => Some(Dot),
            (Dot | Frac, b'0'..=b'9') => Some(Frac),
            (Zero | Int | Frac, b'e' | b'E') => Some(Exp),
            (Exp, b'+' | b'-') => Some(ExpSign),
            (Exp | ExpSign | ExpDigits, b'0'..=b'9') => Some(ExpDigits),
            _ => None,
        }
    }
}

/// What one byte did.
enum Step {
    /// The byte was read.
    Next,
    /// The state changed without reading the byte; read it again.
    Again,
    /// The byte closed the top-level object.
    Closed,
    /// The byte broke the text.
    Broke,
}

impl Default for JsonRewriter {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonRewriter {
    /// A re-writer waiting for the top-level `{` (leading whitespace is
    /// skipped).
    pub fn new() -> Self {
        Self {
            state: State::Start,
            arrays: 0,
            depth: 0,
            in_key: false,
            number: String::new(),
            read: 0,
            broke_at: None,
        }
    }

    /// Reads the next piece of text and appends to `out` the compact text
    /// that is now certain.
    pub fn feed(&mut self, text: &str, out: &mut String) -> Fed {
        match self.state {
            State::Done => return Fed::Done { consumed: 0 },
            State::Invalid => return Fed::Invalid { at: 0 },
            _ => {}
        }
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if self.state == State::Str {
                // The run up to the next quote, backslash or control byte
                // needs no escaping; it ends on an ASCII byte, so on a char
                // boundary.
                let end = bytes[i..]
                    .iter()
                    .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                    .map_or(bytes.len(), |p| i + p);
                out.push_str(&text[i..end]);
                i = end;
                if i == bytes.len() {
                    break;
                }
            }
            match self.step(bytes[i], out) {
                Step::Next => i += 1,
                Step::Again => {}
                Step::Closed => {
                    self.read += i + 1;
                    return Fed::Done { consumed: i + 1 };
                }
                Step::Broke => {
                    self.state = State::Invalid;
                    self.broke_at = Some(self.read + i);
                    self.read += i;
                    return Fed::Invalid { at: i };
                }
            }
        }
        self.read += bytes.len();
        Fed::More
    }

    /// Says, once no more text comes, whether the value was complete.
    pub fn finish(&self) -> Result<(), Unfinished> {
        match (self.state, self.broke_at) {
            (State::Done, _) => Ok(()),
            (_, Some(at)) => Err(Unfinished::Invalid { at }),
            _ => Err(Unfinished::Truncated),
        }
    }

    /// Reads one byte in the current state.
    fn step(&mut self, b: u8, out: &mut String) -> Step {
        match self.state {
            State::Start => match b {
                b' ' | b'\t' | b'\n' | b'\r' => Step::Next,
                b'{' => self.open(false, out),
                _ => Step::Broke,
            },
            State::KeyOrEnd | State::Key => match b {
                b' ' | b'\t' | b'\n' | b'\r' => Step::Next,
                b'"' => {
                    out.push('"');
                    self.in_key = true;
                    self.state = State::Str;
                    Step::Next
                }
                b'}' if self.state == State::KeyOrEnd => self.close(out),
                _ => Step::Broke,
            },
            State::Colon => match b {
                b' ' | b'\t' | b'\n' | b'\r' => Step::Next,
                b':' => {
                    out.push(':');
                    self.state = State::Value;
                    Step::Next
                }
                _ => Step::Broke,
            },
            State::Value | State::ValueOrEnd => self.value_start(b, out),
            State::AfterValue => match b {
                b' ' | b'\t' | b'\n' | b'\r' => Step::Next,
                b',' => {
                    out.push(',');
                    self.state = if self.in_array() {
                        State::Value
                    } else {
                        State::Key
                    };
                    Step::Next
                }
                b']' if self.in_array() => self.close(out),
                b'}' if !self.in_array() => self.close(out),
                _ => Step::Broke,
            },
            State::Str => match b {
                b'"' => {
                    out.push('"');
                    self.state = if self.in_key {
                        State::Colon
                    } else {
                        State::AfterValue
                    };
                    Step::Next
                }
                b'\\' => {
                    self.state = State::Escape;
                    Step::Next
                }
                // A raw control character: serde_json rejects it.
                _ => Step::Broke,
            },
            State::Escape => {
                let short = match b {
                    b'"' => "\\\"",
                    b'\\' => "\\\\",
                    b'/' => "/",
                    b'b' => "\\b",
                    b'f' => "\\f",
                    b'n' => "\\n",
                    b'r' => "\\r",
                    b't' => "\\t",
                    b'u' => {
                        self.state = State::Hex {
                            high: None,
                            digits: 0,
                            code: 0,
                        };
                        return Step::Next;
                    }
                    _ => return Step::Broke,
                };
                out.push_str(short);
                self.state = State::Str;
                Step::Next
            }
            State::Hex { high, digits, code } => {
                let Some(digit) = (b as char).to_digit(16) else {
                    return Step::Broke;
                };
                let code = (code << 4) | digit as u16;
                if digits < 3 {
                    self.state = State::Hex {
                        high,
                        digits: digits + 1,
                        code,
                    };
                    return Step::Next;
                }
                self.escaped_unit(high, code, out)
            }
            State::PairBackslash { high } => match b {
                b'\\' => {
                    self.state = State::PairU { high };
                    Step::Next
                }
                _ => Step::Broke,
            },
            State::PairU { high } => match b {
                b'u' => {
                    self.state = State::Hex {
                        high: Some(high),
                        digits: 0,
                        code: 0,
                    };
                    Step::Next
                }
                _ => Step::Broke,
            },
            State::Number(part) => match part.after(b) {
                Some(next) => {
                    self.number.push(b as char);
                    self.state = State::Number(next);
                    Step::Next
                }
                None if part.complete() => self.end_number(out),
                None => Step::Broke,
            },
            State::Literal { word, matched } => {
                let matched = matched as usize;
                if word.as_bytes().get(matched) != Some(&b) {
                    return Step::Broke;
                }
                if matched + 1 == word.len() {
                    out.push_str(word);
                    self.state = State::AfterValue;
                } else {
                    self.state = State::Literal {
                        word,
                        matched: matched as u8 + 1,
                    };
                }
                Step::Next
            }
            // `feed` returns before reading in these states.
            State::Done | State::Invalid => Step::Broke,
        }
    }

    /// The first byte of a value (or `]` right after `[`).
    fn value_start(&mut self, b: u8, out: &mut String) -> Step {
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => Step::Next,
            b'"' => {
                out.push('"');
                self.in_key = false;
                self.state = State::Str;
                Step::Next
            }
            b'{' => self.open(false, out),
            b'[' => self.open(true, out),
            b']' if self.state == State::ValueOrEnd => self.close(out),
            b'-' | b'0'..=b'9' => {
                self.number.clear();
                self.number.push(b as char);
                self.state = State::Number(match b {
                    b'-' => NumberPart::Minus,
                    b'0' => NumberPart::Zero,
                    _ => NumberPart::Int,
                });
                Step::Next
            }
            b't' | b'f' | b'n' => {
                let word = match b {
                    b't' => "true",
                    b'f' => "false",
                    _ => "null",
                };
                self.state = State::Literal { word, matched: 1 };
                Step::Next
            }
            _ => Step::Broke,
        }
    }

    /// Whether the innermost open container is an array.
    fn in_array(&self) -> bool {
        self.depth > 0 && self.arrays >> (self.depth - 1) & 1 == 1
    }

    /// Opens an object or array, within serde_json's nesting limit.
    fn open(&mut self, array: bool, out: &mut String) -> Step {
        if self.depth >= MAX_DEPTH {
            return Step::Broke;
        }
        let bit = 1u128 << self.depth;
        if array {
            self.arrays |= bit;
            out.push('[');
            self.state = State::ValueOrEnd;
        } else {
            self.arrays &= !bit;
            out.push('{');
            self.state = State::KeyOrEnd;
        }
        self.depth += 1;
        Step::Next
    }

    /// Closes the innermost container; closing the top level ends the value.
    fn close(&mut self, out: &mut String) -> Step {
        out.push(if self.in_array() { ']' } else { '}' });
        self.depth -= 1;
        if self.depth == 0 {
            self.state = State::Done;
            Step::Closed
        } else {
            self.state = State::AfterValue;
            Step::Next
        }
    }

    /// The number token ended before the current byte: prints it as
    /// serde_json prints the number it parses, then reads the byte again.
    fn end_number(&mut self, out: &mut String) -> Step {
        // The grammar is already checked; serde_json only refuses numbers
        // out of `f64` range.
        let Ok(number) = serde_json::from_str::<Number>(&self.number) else {
            return Step::Broke;
        };
        // Writing into a String cannot fail.
        let _ = write!(out, "{number}");
        self.state = State::AfterValue;
        Step::Again
    }

    /// The fourth hex digit of a `\u` escape gave `code`; `high` is the
    /// leading surrogate it must complete, if any.
    fn escaped_unit(&mut self, high: Option<u16>, code: u16, out: &mut String) -> Step {
        let scalar = match (high, code) {
            (None, 0xD800..=0xDBFF) => {
                self.state = State::PairBackslash { high: code };
                return Step::Next;
            }
            (None, 0xDC00..=0xDFFF) => return Step::Broke,
            (None, _) => u32::from(code),
            (Some(high), 0xDC00..=0xDFFF) => {
                0x1_0000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(code) - 0xDC00)
            }
            (Some(_), _) => return Step::Broke,
        };
        let Some(c) = char::from_u32(scalar) else {
            return Step::Broke;
        };
        let mut buf = [0u8; 4];
        push_escaped(c.encode_utf8(&mut buf), out);
        self.state = State::Str;
        Step::Next
    }
}

/// Appends `s` as the inside of a JSON string exactly as serde_json escapes
/// it: for parsers that build arguments from raw text (XML-style
/// parameters), so their output matches the non-streamed text.
pub fn push_escaped(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0C => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1F => "",
            _ => continue,
        };
        // `i` is an ASCII byte, so both slices end on char boundaries.
        out.push_str(&s[start..i]);
        start = i + 1;
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xF)] as char);
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::Value;
    use std::collections::HashSet;

    /// How a run over all pieces ended, offsets counted over the whole text.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum End {
        More,
        Done(usize),
        Invalid(usize),
    }

    /// What feeding a text gave.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Run {
        out: String,
        end: End,
    }

    /// Feeds `text` cut at `cuts` (sorted char boundaries). With
    /// `check_prefixes`, asserts that what was sent before `Done` never
    /// parses as JSON.
    fn run_cut(text: &str, cuts: &[usize], check_prefixes: bool) -> Run {
        let mut rw = JsonRewriter::new();
        let mut out = String::new();
        let mut start = 0;
        let bounds = cuts.iter().copied().chain([text.len()]);
        for stop in bounds {
            let piece = &text[start..stop];
            match rw.feed(piece, &mut out) {
                Fed::More => {
                    if check_prefixes {
                        assert!(
                            serde_json::from_str::<Value>(&out).is_err(),
                            "sent {out:?} parses, before the end of {text:?}"
                        );
                    }
                }
                Fed::Done { consumed } => {
                    assert!(consumed <= piece.len());
                    let sent = out.clone();
                    assert_eq!(rw.feed("}", &mut out), Fed::Done { consumed: 0 });
                    assert_eq!(out, sent);
                    assert_eq!(rw.finish(), Ok(()));
                    return Run {
                        out,
                        end: End::Done(start + consumed),
                    };
                }
                Fed::Invalid { at } => {
                    assert!(at < piece.len());
                    let sent = out.clone();
                    assert_eq!(rw.feed("}", &mut out), Fed::Invalid { at: 0 });
                    assert_eq!(out, sent);
                    assert_eq!(rw.finish(), Err(Unfinished::Invalid { at: start + at }));
                    return Run {
                        out,
                        end: End::Invalid(start + at),
                    };
                }
            }
            start = stop;
        }
        assert_eq!(rw.finish(), Err(Unfinished::Truncated));
        Run {
            out,
            end: End::More,
        }
    }

    /// serde_json's compact text of `text`, when it parses as an object.
    fn serde_compact(text: &str) -> Option<String> {
        serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
            .map(|v| v.to_string())
    }

    /// A value that parses only when no object in it repeats a key.
    struct NoDuplicateKeys;

    impl<'de> Deserialize<'de> for NoDuplicateKeys {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(NoDuplicateKeysVisitor)
        }
    }

    struct NoDuplicateKeysVisitor;

    impl<'de> Visitor<'de> for NoDuplicateKeysVisitor {
        type Value = NoDuplicateKeys;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<NoDuplicateKeys, E> {
            Ok(NoDuplicateKeys)
        }
        fn visit_i64<E>(self, _: i64) -> Result<NoDuplicateKeys, E> {
            Ok(NoDuplicateKeys)
        }
        fn visit_u64<E>(self, _: u64) -> Result<NoDuplicateKeys, E> {
            Ok(NoDuplicateKeys)
        }
        fn visit_f64<E>(self, _: f64) -> Result<NoDuplicateKeys, E> {
            Ok(NoDuplicateKeys)
        }
        fn visit_str<E>(self, _: &str) -> Result<NoDuplicateKeys, E> {
            Ok(NoDuplicateKeys)
        }
        fn visit_unit<E>(self) -> Result<NoDuplicateKeys, E> {
            Ok(NoDuplicateKeys)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicateKeys, A::Error> {
            while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
            Ok(NoDuplicateKeys)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicateKeys, A::Error> {
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key) {
                    return Err(de::Error::custom("duplicate key"));
                }
                map.next_value::<NoDuplicateKeys>()?;
            }
            Ok(NoDuplicateKeys)
        }
    }

    /// Whether `text` parses but repeats a key in some object.
    fn has_duplicate_keys(text: &str) -> bool {
        serde_json::from_str::<Value>(text).is_ok()
            && serde_json::from_str::<NoDuplicateKeys>(text).is_err()
    }

    fn is_json_ws(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\n' | b'\r')
    }

    /// A small deterministic xorshift generator.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        /// A number in `0..n`.
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    fn char_bounds(text: &str) -> Vec<usize> {
        (1..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .collect()
    }

    /// Feeds `text` whole, cut at every char boundary, char by char and in
    /// random multi-cut splits; asserts they all agree and that the result
    /// is what serde_json says of the text. Returns the whole run.
    fn check(text: &str, rng: &mut Rng) -> Run {
        let whole = run_cut(text, &[], true);
        let bounds = char_bounds(text);
        for &i in &bounds {
            assert_eq!(run_cut(text, &[i], true), whole, "cut at {i} of {text:?}");
        }
        assert_eq!(
            run_cut(text, &bounds, true),
            whole,
            "char by char: {text:?}"
        );
        for _ in 0..if bounds.is_empty() { 0 } else { 8 } {
            let mut cuts: Vec<usize> = (0..1 + rng.below(6))
                .map(|_| bounds[rng.below(bounds.len())])
                .collect();
            cuts.sort_unstable();
            cuts.dedup();
            assert_eq!(
                run_cut(text, &cuts, false),
                whole,
                "cuts {cuts:?} of {text:?}"
            );
        }
        assert_agrees_with_serde(text, &whole);
        whole
    }

    /// The run is valid exactly when serde_json accepts the text, and then
    /// sent serde_json's compact text (unless a key repeats).
    fn assert_agrees_with_serde(text: &str, got: &Run) {
        let expected = serde_compact(text);
        let accepted =
            matches!(got.end, End::Done(c) if text.as_bytes()[c..].iter().all(|&b| is_json_ws(b)));
        assert_eq!(accepted, expected.is_some(), "{text:?} gave {got:?}");
        if let End::Done(c) = got.end {
            let value = &text[..c];
            let compact = serde_compact(value);
            assert!(
                compact.is_some(),
                "Done on {value:?}, which serde_json rejects"
            );
            if !has_duplicate_keys(value) {
                assert_eq!(Some(&got.out), compact.as_ref(), "{text:?}");
            }
        }
    }

    #[test]
    fn compacts_like_serde_json() {
        let mut rng = Rng(0x5eed);
        let texts = [
            "{}",
            " \n\t\r{ } ",
            r#"{"path": "src/main.rs", "content": "fn main() {}\n"}"#,
            r#"{ "a" : [ 1 , 2.50 , -0 , 1e5 , 1E-7 , true , false , null ] , "b" : { } , "c" : [ ] }"#,
            r#"{"s": "", "t": "\"\\\/\b\f\n\r\t", "u": "\u00e9\u00E9\u0000\u001f\u001F\u007f\u2028"}"#,
            r#"{"emoji": "\ud83d\ude80 🚀", "raw": "naïve 中文 / "}"#,
            "{\"del\": \"\u{7f}\", \"nbsp\": \"\u{a0}\"}",
            r#"{"nested": {"a": {"b": [[], [{}], [[1]]]}}, "k": "v"}"#,
            r#"{"\u0041key\n": 1}"#,
            r#"{"n": [0, -1, 10, 1.0, 1.5e3, 2e-3, 123456789012345678901234567890, -9223372036854775808, -9223372036854775809, 18446744073709551615, 18446744073709551616, 0.1, 1e-400, 5e-324, 1.7976931348623157e308]}"#,
        ];
        for text in texts {
            let got = check(text, &mut rng);
            assert!(matches!(got.end, End::Done(_)), "{text:?}: {got:?}");
        }
    }

    #[test]
    fn numbers_print_as_serde_json_prints_them() {
        let cases = [
            ("1.50", "1.5"),
            ("1e5", "100000.0"),
            ("-0", "-0.0"),
            ("-0.0", "-0.0"),
            ("0", "0"),
            ("1E2", "100.0"),
            ("1e+2", "100.0"),
            ("-12", "-12"),
            ("18446744073709551615", "18446744073709551615"),
            ("18446744073709551616", "1.8446744073709552e+19"),
            ("-9223372036854775808", "-9223372036854775808"),
        ];
        let mut rng = Rng(7);
        for (number, printed) in cases {
            let text = format!("{{\"n\": {number}}}");
            let got = check(&text, &mut rng);
            assert_eq!(got.out, format!("{{\"n\":{printed}}}"), "{number}");
        }
        // Out of f64 range: rejected at the byte that ends the token.
        for number in ["1e400", "-1e400", "1e99999999999999999999"] {
            let text = format!("{{\"n\": {number} }}");
            let got = check(&text, &mut rng);
            assert_eq!(got.end, End::Invalid(6 + number.len()), "{number}");
            assert_eq!(got.out, "{\"n\":");
        }
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        let mut rng = Rng(11);
        let invalid = [
            ("", None),
            ("   ", None),
            ("[1]", Some(0)),
            ("\"s\"", Some(0)),
            ("1", Some(0)),
            ("\u{feff}{}", Some(0)),
            ("{", None),
            ("{\"a\"", None),
            ("{\"a\":", None),
            ("{\"a\":1", None),
            ("{\"a\":1,", None),
            ("{\"a\":\"x", None),
            ("{\"a\":\"x\\", None),
            ("{\"a\":\"\\u12", None),
            ("{\"a\":tr", None),
            ("{\"a\":1,}", Some(7)),
            ("{\"a\":[1,]}", Some(8)),
            ("{,}", Some(1)),
            ("{\"a\" 1}", Some(5)),
            ("{a:1}", Some(1)),
            ("{'a':1}", Some(1)),
            ("{\"a\":01}", Some(6)),
            ("{\"a\":-}", Some(6)),
            ("{\"a\":1.}", Some(7)),
            ("{\"a\":.5}", Some(5)),
            ("{\"a\":+1}", Some(5)),
            ("{\"a\":1e}", Some(7)),
            ("{\"a\":1e+}", Some(8)),
            ("{\"a\":--1}", Some(6)),
            ("{\"a\":tru}", Some(8)),
            ("{\"a\":truex}", Some(9)),
            ("{\"a\":nul1}", Some(8)),
            ("{\"a\":True}", Some(5)),
            ("{\"a\":NaN}", Some(5)),
            ("{\"a\":\"\\x\"}", Some(7)),
            ("{\"a\":\"\\U0041\"}", Some(7)),
            ("{\"a\":\"\\u00g0\"}", Some(10)),
            ("{\"a\":\"\u{1}\"}", Some(6)),
            ("{\"a\":\"\t\"}", Some(6)),
            ("{\"a\":\"\n\"}", Some(6)),
            ("{\"a\":\"\\ud800\"}", Some(12)),
            ("{\"a\":\"\\ud800x\"}", Some(12)),
            ("{\"a\":\"\\ud800\\n\"}", Some(13)),
            ("{\"a\":\"\\ud800\\u0041\"}", Some(17)),
            ("{\"a\":\"\\ud800\\ud800\"}", Some(17)),
            ("{\"a\":\"\\udc00\"}", Some(11)),
            ("{\"a\":1]", Some(6)),
            ("{\"a\":[1}", Some(7)),
            ("{\"a\":1 \"b\":2}", Some(7)),
            ("{\"a\":\u{a0}1}", Some(5)),
        ];
        for (text, at) in invalid {
            let got = check(text, &mut rng);
            let end = at.map_or(End::More, End::Invalid);
            assert_eq!(got.end, end, "{text:?}");
            assert!(serde_compact(text).is_none(), "{text:?}");
        }
        // Every raw control char breaks a string, key or value; DEL does not.
        for c in (0u8..0x20).map(char::from) {
            for (text, at) in [
                (format!("{{\"a\":\"x{c}\"}}"), 7),
                (format!("{{\"k{c}\":1}}"), 3),
            ] {
                assert_eq!(check(&text, &mut rng).end, End::Invalid(at), "{text:?}");
            }
        }
        assert!(matches!(
            check("{\"\u{7f}\":\"\u{7f}\"}", &mut rng).end,
            End::Done(_)
        ));
        // Trailing text is not read: the caller scans on after the value.
        let got = check("{\"a\":1}{", &mut rng);
        assert_eq!(got.end, End::Done(7));
    }

    #[test]
    fn done_says_where_the_value_ended() {
        let mut rw = JsonRewriter::new();
        let mut out = String::new();
        assert_eq!(rw.feed(" \n{\"a\": [1, 2]", &mut out), Fed::More);
        assert_eq!(rw.finish(), Err(Unfinished::Truncated));
        assert_eq!(
            rw.feed(" }\n</tool_call>", &mut out),
            Fed::Done { consumed: 2 }
        );
        assert_eq!(out, "{\"a\":[1,2]}");
        assert_eq!(rw.finish(), Ok(()));
        let mut rw = JsonRewriter::new();
        let mut out = String::new();
        assert_eq!(rw.feed("{}  ", &mut out), Fed::Done { consumed: 2 });
        assert_eq!(out, "{}");
    }

    #[test]
    fn streams_what_is_certain_as_it_arrives() {
        let mut rw = JsonRewriter::new();
        let mut out = String::new();
        let mut step = |piece: &str, expected: &str| {
            assert_eq!(rw.feed(piece, &mut out), Fed::More, "{piece:?}");
            assert_eq!(out, expected, "after {piece:?}");
        };
        step("{\"path\": \"a.rs\", ", "{\"path\":\"a.rs\",");
        step("\"content\": \"hel", "{\"path\":\"a.rs\",\"content\":\"hel");
        // An escape goes out whole, once it is complete.
        step("lo\\", "{\"path\":\"a.rs\",\"content\":\"hello");
        step("n", "{\"path\":\"a.rs\",\"content\":\"hello\\n");
        step("\\u00", "{\"path\":\"a.rs\",\"content\":\"hello\\n");
        step("e9\\ud83d", "{\"path\":\"a.rs\",\"content\":\"hello\\né");
        step(
            "\\ude80\\/",
            "{\"path\":\"a.rs\",\"content\":\"hello\\né🚀/",
        );
        let sent = "{\"path\":\"a.rs\",\"content\":\"hello\\né🚀/\"";
        step("\", \"n\": 12", &format!("{sent},\"n\":"));
        // A number goes out when its token ends; a literal when complete.
        step(" ,\"ok\": tru", &format!("{sent},\"n\":12,\"ok\":"));
        step("e", &format!("{sent},\"n\":12,\"ok\":true"));
        assert_eq!(rw.feed("}", &mut out), Fed::Done { consumed: 1 });
        assert_eq!(out, format!("{sent},\"n\":12,\"ok\":true}}"));
    }

    #[test]
    fn duplicate_keys_go_out_as_written() {
        let text = r#"{"a": 1, "a": 2}"#;
        let got = run_cut(text, &[], true);
        assert_eq!(got.out, r#"{"a":1,"a":2}"#);
        assert_eq!(serde_compact(text).as_deref(), Some(r#"{"a":2}"#));
        assert!(has_duplicate_keys(text));
        assert!(!has_duplicate_keys(
            r#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}"#
        ));
    }

    /// `{"a":` then `depth - 1` containers nested inside the top level.
    fn nested(depth: usize, array: bool) -> String {
        let (open, close) = if array { ("[", "]") } else { ("{\"k\":", "}") };
        let mut text = String::from("{\"a\":");
        for _ in 1..depth {
            text.push_str(open);
        }
        text.push('1');
        for _ in 1..depth {
            text.push_str(close);
        }
        text.push('}');
        text
    }

    #[test]
    fn nesting_limit_is_serde_jsons() {
        for array in [true, false] {
            for depth in [1, 2, 126, 127, 128, 129, 300] {
                let text = nested(depth, array);
                let got = run_cut(&text, &[], true);
                assert_agrees_with_serde(&text, &got);
                let accepted = serde_json::from_str::<Value>(&text).is_ok();
                assert_eq!(accepted, depth <= 127, "serde_json's limit moved: {depth}");
                if !accepted {
                    // Broke at the 128th opening bracket.
                    let open_len = if array { 1 } else { 5 };
                    let at = 5 + 126 * open_len;
                    assert_eq!(got.end, End::Invalid(at), "depth {depth}");
                }
            }
        }
        let mut rng = Rng(3);
        check(&nested(128, true), &mut rng);
        check(&nested(127, false), &mut rng);
    }

    #[test]
    fn push_escaped_matches_serde_json() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é中🚀\u{2028}\u{2029}\u{feff}\u{10ffff}");
        let mut text = all.clone();
        for c in all.chars() {
            text.push(c);
            text.push_str("ab");
        }
        for s in [all.as_str(), text.as_str(), "", "plain", "\"", "\\"] {
            let mut out = String::new();
            push_escaped(s, &mut out);
            let quoted = serde_json::to_string(s).unwrap_or_default();
            assert_eq!(format!("\"{out}\""), quoted, "{s:?}");
        }
        // Every char written as an escape comes out as serde_json writes it.
        let mut body = String::from("{\"s\":\"");
        for c in (0u32..0x80).chain([0xe9, 0x2028, 0x1f680]) {
            if let Some(c) = char::from_u32(c) {
                if c.len_utf16() == 1 {
                    body.push_str(&format!("\\u{:04X}", c as u32));
                } else {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        body.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
        }
        body.push_str("\"}");
        let mut rng = Rng(5);
        assert!(matches!(check(&body, &mut rng).end, End::Done(_)));
    }

    /// Writes a random JSON value with random whitespace and escapes.
    fn random_value(rng: &mut Rng, depth: usize, out: &mut String) {
        match rng.below(if depth > 5 { 4 } else { 7 }) {
            0 => random_string(rng, out),
            1 => out.push_str(rng.pick(&[
                "0",
                "-0",
                "7",
                "-12",
                "3.25",
                "1.50",
                "1e5",
                "2E-3",
                "-4.5e+2",
                "0.1",
                "123456789012345678901",
                "-9223372036854775809",
                "1e308",
                "5e-324",
                "0e0",
                "10.000",
            ])),
            2 => out.push_str(rng.pick(&["true", "false", "null"])),
            3 => {
                let n = rng.below(12);
                let digits: String = (0..=n)
                    .map(|_| char::from(b'0' + rng.below(10) as u8))
                    .collect();
                let digits = digits.trim_start_matches('0');
                out.push_str(if digits.is_empty() { "0" } else { digits });
            }
            4 | 5 => random_object(rng, depth + 1, out),
            _ => {
                out.push('[');
                for i in 0..rng.below(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    random_ws(rng, out);
                    random_value(rng, depth + 1, out);
                    random_ws(rng, out);
                }
                out.push(']');
            }
        }
    }

    fn random_ws(rng: &mut Rng, out: &mut String) {
        if rng.below(3) == 0 {
            out.push_str(rng.pick(&[" ", "\n", "\t", "\r\n", "  ", "\n    "]));
        }
    }

    fn random_string(rng: &mut Rng, out: &mut String) {
        out.push('"');
        random_chars(rng, out);
        out.push('"');
    }

    /// The inside of a random string: plain and non-ASCII chars, escapes.
    fn random_chars(rng: &mut Rng, out: &mut String) {
        for _ in 0..rng.below(8) {
            out.push_str(rng.pick(&[
                "a",
                "Z",
                " ",
                "/",
                "é",
                "中",
                "🚀",
                "\u{7f}",
                "\u{2028}",
                "\\n",
                "\\\"",
                "\\\\",
                "\\/",
                "\\b",
                "\\f",
                "\\r",
                "\\t",
                "\\u00e9",
                "\\u00E9",
                "\\u0001",
                "\\u001F",
                "\\u0022",
                "\\u005c",
                "\\ud83d\\ude80",
                "\\uD83D\\uDE80",
                "\\u0000",
                "\\u007f",
                "<tool_call>",
            ]));
        }
    }

    fn random_object(rng: &mut Rng, depth: usize, out: &mut String) {
        out.push('{');
        for i in 0..rng.below(4) {
            if i > 0 {
                out.push(',');
            }
            random_ws(rng, out);
            // Keys differ by their index, whatever the random part.
            out.push_str(&format!("\"k{i}"));
            random_chars(rng, out);
            out.push('"');
            random_ws(rng, out);
            out.push(':');
            random_ws(rng, out);
            random_value(rng, depth, out);
            random_ws(rng, out);
        }
        out.push('}');
    }

    /// Applies a few random edits: deletions, insertions of JSON-ish
    /// fragments, truncation.
    fn mutate(rng: &mut Rng, text: &str) -> String {
        let mut text = text.to_string();
        for _ in 0..1 + rng.below(3) {
            let bounds: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            let at = bounds[rng.below(bounds.len())];
            match rng.below(4) {
                0 => {
                    if let Some(c) = text[at..].chars().next() {
                        text.replace_range(at..at + c.len_utf8(), "");
                    }
                }
                1 => text.truncate(at),
                _ => text.insert_str(
                    at,
                    rng.pick(&[
                        "\"", "\\", "{", "}", "[", "]", ",", ":", "0", "-", ".", "e", "\\u",
                        "d800", "\u{1}", " ", "tru", "null", "é", "1e400", "\\ud800", "\"a\":1",
                        "\n",
                    ]),
                ),
            }
        }
        text
    }

    #[test]
    fn random_texts_agree_with_serde_json() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..300 {
            let mut text = String::new();
            random_ws(&mut rng, &mut text);
            random_object(&mut rng, 0, &mut text);
            random_ws(&mut rng, &mut text);
            let got = check(&text, &mut rng);
            assert!(matches!(got.end, End::Done(_)), "{text:?}: {got:?}");
            assert!(!has_duplicate_keys(&text), "{text:?}");
            for _ in 0..3 {
                let mutated = mutate(&mut rng, &text);
                let got = check(&mutated, &mut rng);
                if serde_compact(&mutated).is_some() {
                    valid += 1;
                } else if matches!(got.end, End::Invalid(_)) {
                    invalid += 1;
                }
            }
        }
        // The mutations made both kinds of text.
        assert!(
            valid > 50 && invalid > 200,
            "{valid} valid, {invalid} invalid"
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0xdead_beef);
        let alphabet: Vec<u8> =
            b"{}[]\":,\\ -+.eE0123456789tfnrulsabu\n\t\x01\x7f\xc3\xa9\xff".to_vec();
        for case in 0..400 {
            let len = rng.below(48);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if case % 2 == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[rng.below(alphabet.len())]
                    }
                })
                .collect();
            let mut text = String::from_utf8_lossy(&bytes).into_owned();
            if case % 3 != 0 {
                text.insert(0, '{');
            }
            check(&text, &mut rng);
        }
    }

    #[test]
    fn a_megabyte_string_streams_in_linear_time() {
        let mut value = String::new();
        while value.len() < 1 << 20 {
            value.push_str(r#"fn main() { println!(\"héllo 🚀\\n\"); }\n\t\u00e9\\ "#);
        }
        let text = format!("{{\"path\": \"big.rs\", \"content\": \"{value}\"}}\n</tool_call>");
        let value_end = text.len() - "\n</tool_call>".len();
        let expected = serde_compact(&text[..value_end]);
        assert!(expected.is_some());
        // One char at a time: each feed reads only its own char.
        let mut rw = JsonRewriter::new();
        let mut out = String::new();
        let mut end = None;
        for (i, c) in text.char_indices() {
            let mut buf = [0u8; 4];
            if let Fed::Done { consumed } = rw.feed(c.encode_utf8(&mut buf), &mut out) {
                end = Some(i + consumed);
                break;
            }
        }
        assert_eq!(end, Some(value_end));
        assert_eq!(Some(&out), expected.as_ref());
        // 4 KB pieces: the string's text goes out with each piece.
        let mut rw = JsonRewriter::new();
        let mut out = String::new();
        let mut start = 0;
        let mut end = None;
        while start < text.len() {
            let mut stop = (start + 4096).min(text.len());
            while !text.is_char_boundary(stop) {
                stop -= 1;
            }
            let before = out.len();
            match rw.feed(&text[start..stop], &mut out) {
                Fed::Done { consumed } => {
                    end = Some(start + consumed);
                    break;
                }
                Fed::More => assert!(out.len() > before + 3000, "piece at {start} held back"),
                Fed::Invalid { at } => panic!("invalid at {}", start + at),
            }
            start = stop;
        }
        assert_eq!(end, Some(value_end));
        assert_eq!(Some(&out), expected.as_ref());
    }
}
