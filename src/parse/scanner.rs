//! The marker scanning every output parser here shares.
//!
//! Generated text arrives in pieces cut anywhere, even inside a marker
//! (`<tool_` | `call>`). Each parser looks for markers in a buffer, holds
//! back only a tail that could still become one, and lets everything go at
//! the end of the stream. This module holds that machinery once:
//!
//! - `scan`: where a marker stands in the buffer, or how much of the buffer
//!   can go out now (all but the tail `held_prefix_len` measures).
//! - `lead`: whether the reply opens with a marker after some whitespace
//!   (the `<think>` rule, the Llama 3 rule).
//! - `take_leading_ws`, `JsonScan`: small readers the families use.
//! - [`CallScanner`]: the whole state machine of a tool-call family whose
//!   calls follow a start marker anywhere in the reply. Content before the
//!   marker streams out (through the `CallEmitter` whitespace rule); what
//!   follows is read by the family's [`CallSyntax`] through a [`Block`]; a
//!   block that turns out malformed, or is still open when the stream ends,
//!   is content, markers and all, and scanning goes on after it.
//!
//! A family then brings only its markers and how one block's text becomes
//! calls: see [`super::layout`] for the layouts several families share.

use super::{BufferedParser, CallEmitter, ParsedDelta};

/// Length in bytes of the longest proper prefix of `marker` that `buf` ends
/// with: the tail that must be held back because the marker may be starting.
///
/// Only cut points `buf.len() - n` that lie on a char boundary count, so
/// `marker` may hold non-ASCII chars (the DeepSeek markers do): the held
/// tail is always whole chars.
pub(crate) fn held_prefix_len(buf: &str, marker: &str) -> usize {
    let b = buf.as_bytes();
    let m = marker.as_bytes();
    let max = m.len().saturating_sub(1).min(b.len());
    (1..=max)
        .rev()
        .find(|&n| b[b.len() - n..] == m[..n] && buf.is_char_boundary(b.len() - n))
        .unwrap_or(0)
}

/// The largest char boundary of `s` at or below `n`: where a window of at
/// most `n` bytes of model text may end (slicing at `n` itself panics when
/// `n` falls inside a multi-byte char).
pub(crate) fn floor_boundary(s: &str, n: usize) -> usize {
    let mut n = n.min(s.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// True when `text` is empty or a proper prefix of `marker`: the marker may
/// still be coming.
pub(crate) fn may_become(text: &str, marker: &str) -> bool {
    text.len() < marker.len() && marker.starts_with(text)
}

/// Where a marker stands in a buffer of text, see [`scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The marker starts at this byte offset.
    Found(usize),
    /// No marker yet: this many leading bytes can go out now; the rest may
    /// be the start of one.
    Clear(usize),
}

/// Looks for `marker` in `buf`. `last`: no more text comes, so nothing needs
/// to be held back.
pub(crate) fn scan(buf: &str, marker: &str, last: bool) -> Scan {
    match buf.find(marker) {
        Some(pos) => Scan::Found(pos),
        None if last => Scan::Clear(buf.len()),
        None => Scan::Clear(buf.len() - held_prefix_len(buf, marker)),
    }
}

/// What the start of a reply says about the markers that may open it, see
/// [`lead`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lead {
    /// `markers[index]` opens the reply after `ws` bytes of whitespace.
    Opens {
        /// Which of the markers.
        index: usize,
        /// Bytes of whitespace before it.
        ws: usize,
    },
    /// Not known yet: so far the reply is whitespace and the start of a marker.
    Undecided,
    /// The reply opens with none of the markers.
    Other,
}

/// Whether the reply in `buf` opens with one of `markers` (the first that
/// matches wins), after at most `max_ws` bytes of whitespace. `last`: no
/// more text comes, so an unfinished marker is not one.
pub(crate) fn lead(buf: &str, markers: &[&str], max_ws: usize, last: bool) -> Lead {
    let rest = buf.trim_start();
    let ws = buf.len() - rest.len();
    if ws > max_ws {
        return Lead::Other;
    }
    if let Some(index) = markers.iter().position(|m| rest.starts_with(m)) {
        return Lead::Opens { index, ws };
    }
    if !last && markers.iter().any(|m| m.starts_with(rest)) {
        return Lead::Undecided;
    }
    Lead::Other
}

/// Moves the leading whitespace of `buf` to the end of `into`.
pub(crate) fn take_leading_ws(buf: &mut String, into: &mut String) {
    let ws = buf.len() - buf.trim_start().len();
    into.extend(buf.drain(..ws));
}

/// Finds where a JSON object or array ends, incrementally.
///
/// The scanned buffer must start with `{` or `[` and may only grow between
/// calls to [`JsonScan::feed`]. Strings (with escapes) are tracked so that
/// brackets inside them do not count; bracket kinds are not matched (the
/// value is validated by serde_json afterwards). All tokens looked at are
/// ASCII, so the returned end always lies on a char boundary.
#[derive(Clone, Debug, Default)]
pub(crate) struct JsonScan {
    /// Bytes of the buffer already scanned.
    pos: usize,
    /// Open brackets.
    depth: usize,
    /// Inside a string.
    in_string: bool,
    /// Inside a string, right after a backslash.
    escape: bool,
}

impl JsonScan {
    /// Scans the new part of `buf`; returns the end (exclusive, in bytes) of
    /// the value once its outermost bracket closes.
    pub(crate) fn feed(&mut self, buf: &str) -> Option<usize> {
        let b = buf.as_bytes();
        while self.pos < b.len() {
            let c = b[self.pos];
            self.pos += 1;
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if c == b'\\' {
                    self.escape = true;
                } else if c == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(self.pos);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// The text after a family's start marker, as its [`CallSyntax`] reads it.
///
/// Everything read is kept as the block's raw text (start marker included),
/// so that a block that turns out malformed can be emitted as content
/// exactly as it came.
#[derive(Debug, Default)]
pub struct Block {
    /// Text received and not yet read (outside a block: not yet emitted).
    buf: String,
    /// Raw text of the block read so far.
    raw: String,
    /// Bytes of `buf` already searched by [`Block::until`] without a match
    /// (bounded so a match across pushes is still found); reset whenever
    /// `buf` loses its front.
    scanned: usize,
    /// No more text comes.
    last: bool,
}

impl Block {
    /// The text not yet read.
    pub fn rest(&self) -> &str {
        &self.buf
    }

    /// True when no more text comes: what is not in [`Block::rest`] now
    /// never will be.
    pub fn is_last(&self) -> bool {
        self.last
    }

    /// Reads the next `n` bytes (on a char boundary) and returns them.
    pub fn take(&mut self, n: usize) -> &str {
        let from = self.raw.len();
        self.raw.extend(self.buf.drain(..n));
        self.scanned = 0;
        &self.raw[from..]
    }

    /// Reads the next `n` bytes (on a char boundary) for a streamed call:
    /// they went out as its arguments, so they are not kept as raw text.
    pub fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.scanned = 0;
    }

    /// Reads the leading whitespace.
    pub fn take_ws(&mut self) {
        let ws = self.buf.len() - self.buf.trim_start().len();
        self.take(ws);
    }

    /// Reads `marker` when the text goes on with it; false (nothing read)
    /// otherwise.
    pub fn take_marker(&mut self, marker: &str) -> bool {
        let found = self.buf.starts_with(marker);
        if found {
            self.take(marker.len());
        }
        found
    }

    /// True when the text not yet read is empty or a proper prefix of
    /// `marker`: more text may still make it the marker.
    pub fn may_become(&self, marker: &str) -> bool {
        may_become(&self.buf, marker)
    }

    /// Reads up to and including the next `marker` and returns the text
    /// before it; `None` (nothing read) while the marker has not come.
    pub fn until(&mut self, marker: &str) -> Option<String> {
        // `scanned` lies on a char boundary: it is set from
        // `buf.len() - held_prefix_len(..)`, see there.
        let from = self.scanned.min(self.buf.len());
        match self.buf.get(from..).and_then(|s| s.find(marker)) {
            Some(rel) => {
                let pos = from + rel;
                let body = self.buf[..pos].to_string();
                self.take(pos + marker.len());
                Some(body)
            }
            None => {
                self.scanned = self.buf.len() - held_prefix_len(&self.buf, marker);
                None
            }
        }
    }
}

/// What a [`CallSyntax`] found in a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// More text is needed. When the stream has ended, the block (its raw
    /// text and all text after it) is content.
    Wait,
    /// Complete calls as (name, compact arguments JSON), in order; the raw
    /// text read for them is dropped.
    Calls {
        /// The calls.
        calls: Vec<(String, String)>,
        /// The block ends after them (the reply goes on as text); otherwise
        /// the next step reads on inside the block.
        close: bool,
    },
    /// A call begins: its name is known, its arguments follow as
    /// [`Step::Arguments`] until [`Step::CallEnd`] (a call streamed as it is
    /// written). The raw text read so far is dropped.
    CallStart {
        /// The function's name.
        name: String,
    },
    /// More of the open call's arguments, as compact JSON (see
    /// [`super::json_stream`]); the raw text read for them is dropped.
    Arguments(String),
    /// The open call's arguments are complete; `close` as in
    /// [`Step::Calls`]. The raw text read is dropped.
    CallEnd {
        /// The block ends after the call.
        close: bool,
    },
    /// The block ends here without more calls; the raw text read since the
    /// last calls (whitespace, the end marker) is dropped.
    Close,
    /// The block is malformed: its raw text read since the last calls is
    /// content, and the text not yet read is scanned as text again. A call
    /// already started ends where it stands (its arguments were sent).
    Malformed,
}

/// How one tool-call family reads the text after its start marker.
pub trait CallSyntax: Send + std::fmt::Debug {
    /// The marker that opens the family's calls anywhere in the reply.
    fn start(&self) -> &'static str;
    /// The start marker was just read: a new block begins.
    fn open(&mut self);
    /// Reads on in the block (the start marker already read) and says what
    /// it found. Called again after [`Step::Calls`] without `close`.
    fn step(&mut self, block: &mut Block) -> Step;
}

/// A tool-call parser for a family whose calls follow a start marker
/// anywhere in the reply: the shared state machine, with the family's
/// [`CallSyntax`] reading each block (see the module docs).
#[derive(Debug)]
pub struct CallScanner<S> {
    /// After the start marker, in a block.
    inside: bool,
    /// The text and where reading stands in it.
    block: Block,
    /// Reads a block.
    syntax: S,
    /// Numbers calls and handles the whitespace around them.
    emitter: CallEmitter,
    /// A started call broke off: no call starts after it (every call is
    /// complete before the next index starts), the rest is text.
    stopped: bool,
    /// The reply was cut off by `max_tokens`: a block still unnamed at the
    /// end is dropped, not shown as text.
    cut: bool,
}

impl<S: CallSyntax> CallScanner<S> {
    /// A parser for one response reading blocks with `syntax`; `id_seed`
    /// feeds [`super::tool_call_id`].
    pub fn with_syntax(id_seed: u64, syntax: S) -> Self {
        Self {
            inside: false,
            block: Block::default(),
            syntax,
            emitter: CallEmitter::new(id_seed),
            stopped: false,
            cut: false,
        }
    }

    /// The same parser with ids in `style` (the Mistral family's 9
    /// alphanumerics).
    pub fn with_id_style(mut self, style: super::IdStyle) -> Self {
        self.emitter.set_id_style(style);
        self
    }

    /// Outside a block: emits the text before the start marker, holding back
    /// a tail that may be its start. Returns true when a block opened.
    fn scan_text(&mut self, out: &mut Vec<ParsedDelta>) -> bool {
        let start = self.syntax.start();
        let last = self.block.last;
        let buf = &mut self.block.buf;
        if self.stopped {
            let rest = std::mem::take(buf);
            self.emitter.text(&rest, false, out);
            return false;
        }
        match scan(buf, start, last) {
            Scan::Found(pos) => {
                let before: String = buf.drain(..pos + start.len()).collect();
                self.emitter.text(&before[..pos], true, out);
                self.block.raw = start.to_string();
                self.block.scanned = 0;
                self.syntax.open();
                true
            }
            Scan::Clear(cut) => {
                let ready: String = buf.drain(..cut).collect();
                self.emitter.text(&ready, false, out);
                if last {
                    self.emitter.end();
                }
                false
            }
        }
    }

    /// Leaves the block: its raw text is content (a started call ends, and
    /// no call starts after it).
    fn malformed(&mut self, out: &mut Vec<ParsedDelta>) {
        self.stopped |= self.emitter.is_open();
        let raw = std::mem::take(&mut self.block.raw);
        self.emitter.text(&raw, false, out);
        self.inside = false;
    }
}

impl<S: CallSyntax> BufferedParser for CallScanner<S> {
    fn buffer(&mut self) -> &mut String {
        &mut self.block.buf
    }

    fn calls_seen(&self) -> bool {
        self.emitter.calls() > 0
    }

    fn cut_off(&mut self) {
        self.cut = true;
    }

    fn process(&mut self, last: bool, out: &mut Vec<ParsedDelta>) {
        self.block.last = last;
        loop {
            if !self.inside {
                if !self.scan_text(out) {
                    return;
                }
                self.inside = true;
                continue;
            }
            match self.syntax.step(&mut self.block) {
                // The reply ended inside a started call (cut off by
                // `max_tokens`): the call keeps the arguments it got, and its
                // unread markup is not shown as text.
                Step::Wait if last && self.emitter.is_open() => {
                    self.block.buf.clear();
                    self.block.raw.clear();
                    self.emitter.end();
                    self.inside = false;
                }
                // Cut off by `max_tokens` before the call was named: its
                // markup is not the answer's text either.
                Step::Wait if last && self.cut => {
                    self.block.buf.clear();
                    self.block.raw.clear();
                    self.emitter.end();
                    self.inside = false;
                }
                Step::Wait if last => {
                    let rest = self.block.buf.len();
                    self.block.take(rest);
                    self.malformed(out);
                }
                Step::Wait => return,
                Step::Calls { calls, close } => {
                    for (name, arguments) in calls {
                        self.emitter.call(name, arguments, out);
                    }
                    self.block.raw.clear();
                    self.inside = !close;
                }
                Step::CallStart { name } => {
                    self.emitter.start(name, out);
                    self.block.raw.clear();
                }
                Step::Arguments(text) => {
                    self.emitter.arguments(&text, out);
                    self.block.raw.clear();
                }
                Step::CallEnd { close } => {
                    self.emitter.end_call();
                    self.block.raw.clear();
                    self.inside = !close;
                }
                Step::Close => {
                    self.block.raw.clear();
                    self.inside = false;
                }
                Step::Malformed => self.malformed(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::{BlockBody, TaggedBlocks};
    use super::super::test_support::{check_splits, names_args};
    use super::*;

    #[test]
    fn held_prefix() {
        assert_eq!(held_prefix_len("abc<tool_", "<tool_call>"), 6);
        assert_eq!(held_prefix_len("abc<", "<tool_call>"), 1);
        assert_eq!(held_prefix_len("abc", "<tool_call>"), 0);
        assert_eq!(held_prefix_len("<tool_call>", "<tool_call>"), 0);
        assert_eq!(held_prefix_len("", "<tool_call>"), 0);
        assert_eq!(held_prefix_len("🚀<", "<x>"), 1);
    }

    #[test]
    fn scan_finds_or_holds_back() {
        assert_eq!(scan("ab<x>c", "<x>", false), Scan::Found(2));
        assert_eq!(scan("ab<", "<x>", false), Scan::Clear(2));
        assert_eq!(scan("ab<", "<x>", true), Scan::Clear(3));
        assert_eq!(scan("", "<x>", false), Scan::Clear(0));
    }

    #[test]
    fn lead_decides_at_the_start() {
        let m = ["<think>", "{"];
        assert_eq!(
            lead(" \n<think>x", &m, 4, false),
            Lead::Opens { index: 0, ws: 2 }
        );
        assert_eq!(lead("{", &m, 4, true), Lead::Opens { index: 1, ws: 0 });
        assert_eq!(lead("  <thi", &m, 4, false), Lead::Undecided);
        assert_eq!(lead("", &m, 4, false), Lead::Undecided);
        assert_eq!(lead("  <thi", &m, 4, true), Lead::Other);
        assert_eq!(lead("      {", &m, 4, false), Lead::Other);
        assert_eq!(lead("<thx", &m, 4, false), Lead::Other);
    }

    #[test]
    fn block_reads_and_keeps_raw() {
        let mut b = Block {
            buf: " \n<a>bc</a>d".into(),
            ..Block::default()
        };
        b.take_ws();
        assert!(!b.take_marker("<b>"));
        assert!(b.take_marker("<a>"));
        assert_eq!(b.until("</a"), Some("bc".into()));
        assert_eq!(b.rest(), ">d");
        assert_eq!(b.raw, " \n<a>bc</a");
        assert!(b.may_become(">d<"));
        assert!(!b.may_become(">d"));
        // A marker cut across pushes is still found.
        let mut b = Block {
            buf: "xy</".into(),
            ..Block::default()
        };
        assert_eq!(b.until("</a>"), None);
        assert_eq!(b.scanned, 2);
        b.buf.push_str("a>");
        assert_eq!(b.until("</a>"), Some("xy".into()));
    }

    #[test]
    fn json_scan_finds_end() {
        let mut s = JsonScan::default();
        assert_eq!(s.feed("{\"a\": \"}\\\"{\""), None);
        assert_eq!(s.feed("{\"a\": \"}\\\"{\", \"b\": [1, {}]}, x"), Some(27));
        let mut s = JsonScan::default();
        assert_eq!(s.feed("[[]] "), Some(4));
    }

    /// A made-up family in a few lines: `<call>NAME</call>`, no arguments.
    #[derive(Debug)]
    struct NameOnly;

    impl BlockBody for NameOnly {
        fn calls(&self, body: &str) -> Option<Vec<(String, String)>> {
            let name = body.trim();
            super::super::is_call_name(name).then(|| vec![(name.to_string(), "{}".to_string())])
        }
    }

    #[test]
    fn a_new_family_is_its_syntax() {
        let make = || {
            Box::new(CallScanner::with_syntax(
                1,
                TaggedBlocks::new("<call>", "</call>", NameOnly),
            )) as Box<dyn super::super::OutputParser>
        };
        let c = check_splits(&make, "Hi 🚀 <call> f </call>\n<call>g</call>\n");
        assert_eq!(c.content, "Hi 🚀 ");
        assert_eq!(names_args(&c), vec![("f", "{}"), ("g", "{}")]);
        let c = check_splits(&make, "<call>a b</call> <call>x");
        assert_eq!(c.content, "<call>a b</call> <call>x");
        assert!(c.calls.is_empty());
    }
}
