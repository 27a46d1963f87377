//! The marker layouts several tool-call families share, as [`CallSyntax`]es
//! for [`super::scanner::CallScanner`]. A family using one brings its
//! markers and a [`BlockBody`]: how one block's text becomes calls.
//!
//! - [`TaggedBlocks`]: `START body END`, once per block (Hermes and
//!   Qwen3-Coder `<tool_call>` blocks).
//! - [`Sections`]: `BEGIN (CALL_BEGIN body CALL_END)+ END`, whitespace
//!   between markers allowed (DeepSeek V3 / V3.1, Kimi K2).
//!
//! A body whose call is a name and then a JSON object of arguments (Hermes,
//! DeepSeek, Kimi K2) is streamed: once [`BlockBody::head`] has read the
//! name and found where the arguments begin, the call starts and its
//! arguments go out through a [`JsonRewriter`] as the model writes them;
//! [`BlockBody::tail_ok`] then checks the text between the object and the
//! end marker. A body of any other shape is buffered whole and read by
//! [`BlockBody::calls`], as before.

use super::json_head::head_window;
use super::json_stream::{Fed, JsonRewriter};
use super::scanner::{held_prefix_len, Block, CallSyntax, Step};

/// Where a streamable body's arguments begin, see [`BlockBody::head`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// More text is needed to tell.
    Wait,
    /// A call named `name` whose arguments object starts `at` bytes into
    /// the body.
    Args {
        /// The function's name.
        name: String,
        /// Byte offset of the arguments' `{`.
        at: usize,
    },
    /// Not the streamable shape: the body is read whole by
    /// [`BlockBody::calls`].
    Whole,
}

/// What one block's text holds, in a family's own notation.
pub trait BlockBody: Send + std::fmt::Debug {
    /// The body's calls as (name, compact arguments JSON), in order; `None`
    /// when it is malformed (the block is then emitted as content).
    fn calls(&self, body: &str) -> Option<Vec<(String, String)>>;

    /// Reads the start of a body (`text`: what came so far, without the end
    /// marker) for a call whose arguments can stream. The default streams
    /// nothing.
    fn head(&self, _text: &str) -> Head {
        Head::Whole
    }

    /// Whether `tail`, the text between a streamed arguments object and the
    /// end marker, is what the family writes there (whitespace by default).
    fn tail_ok(&self, tail: &str) -> bool {
        tail.trim().is_empty()
    }
}

/// Where reading stands inside one body.
#[derive(Debug, Default)]
enum Reading {
    /// Looking for the head.
    #[default]
    Head,
    /// Not streamable: waiting for the end marker.
    Whole,
    /// The call started; its arguments are streaming.
    Args(JsonRewriter),
    /// The arguments are complete; reading up to the end marker.
    Tail,
    /// The arguments broke off (what was valid went out): the call ends
    /// and the text from the break on is read as text again.
    Broken,
}

/// Reads one body up to `end`, streaming its call when the family allows.
/// `close`: the block ends with the body (tagged blocks), or more calls may
/// follow (sections).
fn read_body<B: BlockBody>(
    body: &B,
    reading: &mut Reading,
    block: &mut Block,
    end: &str,
    close: bool,
) -> Step {
    loop {
        match reading {
            Reading::Head => {
                // The head is looked for in the body's first MAX_HEAD bytes
                // only, up to the end marker: the same answer however the
                // text was cut into pieces.
                let rest = block.rest();
                let end_at = rest.find(end);
                let (text, capped) = head_window(&rest[..end_at.unwrap_or(rest.len())]);
                match body.head(text) {
                    Head::Wait if end_at.is_none() && !capped && !block.is_last() => {
                        return Step::Wait
                    }
                    Head::Wait | Head::Whole => *reading = Reading::Whole,
                    Head::Args { name, at } => {
                        block.take(at);
                        *reading = Reading::Args(JsonRewriter::new());
                        return Step::CallStart { name };
                    }
                }
            }
            Reading::Whole => {
                let Some(text) = block.until(end) else {
                    return Step::Wait;
                };
                *reading = Reading::Head;
                return match body.calls(&text) {
                    Some(calls) => Step::Calls { calls, close },
                    None => Step::Malformed,
                };
            }
            Reading::Args(rewriter) => {
                let mut out = String::new();
                let n = block.rest().len();
                match rewriter.feed(block.rest(), &mut out) {
                    Fed::More => block.consume(n),
                    Fed::Done { consumed } => {
                        block.consume(consumed);
                        *reading = Reading::Tail;
                    }
                    Fed::Invalid { at } => {
                        block.consume(at);
                        *reading = Reading::Broken;
                    }
                }
                if !out.is_empty() {
                    return Step::Arguments(out);
                }
                if matches!(reading, Reading::Args(_)) {
                    return Step::Wait;
                }
            }
            Reading::Broken => {
                *reading = Reading::Head;
                return Step::Malformed;
            }
            Reading::Tail => {
                let Some(tail) = block.until(end) else {
                    // The reply ended after the arguments without the end
                    // marker: text there (not the marker's start) is the
                    // model's, and content like a broken call's rest.
                    let rest = block.rest();
                    let before_end = &rest[..rest.len() - held_prefix_len(rest, end)];
                    if block.is_last() && !body.tail_ok(before_end) {
                        *reading = Reading::Head;
                        return Step::Malformed;
                    }
                    return Step::Wait;
                };
                *reading = Reading::Head;
                return if body.tail_ok(&tail) {
                    Step::CallEnd { close }
                } else {
                    Step::Malformed
                };
            }
        }
    }
}

/// Blocks from `start` to `end`, each body read by `B`: buffered whole,
/// then turned into calls. A block still open when the reply ends is
/// content.
#[derive(Debug)]
pub struct TaggedBlocks<B> {
    /// Opens a block.
    start: &'static str,
    /// Closes a block.
    end: &'static str,
    /// Reads a block's body.
    body: B,
    /// Where reading stands in the current body.
    reading: Reading,
}

impl<B: BlockBody> TaggedBlocks<B> {
    /// Blocks between `start` and `end` whose bodies `body` reads.
    pub fn new(start: &'static str, end: &'static str, body: B) -> Self {
        Self {
            start,
            end,
            body,
            reading: Reading::Head,
        }
    }
}

impl<B: BlockBody> CallSyntax for TaggedBlocks<B> {
    fn start(&self) -> &'static str {
        self.start
    }

    fn open(&mut self) {
        self.reading = Reading::Head;
    }

    fn step(&mut self, block: &mut Block) -> Step {
        read_body(&self.body, &mut self.reading, block, self.end, true)
    }
}

/// The four markers of a [`Sections`] layout.
#[derive(Clone, Copy, Debug)]
pub struct SectionMarkers {
    /// Opens the section.
    pub begin: &'static str,
    /// Closes the section.
    pub end: &'static str,
    /// Opens one call.
    pub call_begin: &'static str,
    /// Closes one call.
    pub call_end: &'static str,
}

/// A section of calls, each between its own markers and read by `B`:
///
/// - whitespace between markers is dropped;
/// - each call is buffered until its end marker, then read;
/// - the section end may be left out when the reply ends after a call;
/// - anything else (a malformed call, a call still open at the end, text
///   where a marker should be, a section without calls) is content from the
///   section start or the last good call on, and scanning goes on after it.
#[derive(Debug)]
pub struct Sections<B> {
    /// The layout's markers.
    markers: SectionMarkers,
    /// Reads a call's body.
    body: B,
    /// Between a call's markers.
    in_call: bool,
    /// Calls read in this section.
    calls: usize,
    /// Where reading stands in the current call's body.
    reading: Reading,
}

impl<B: BlockBody> Sections<B> {
    /// Sections with `markers` whose call bodies `body` reads.
    pub fn new(markers: SectionMarkers, body: B) -> Self {
        Self {
            markers,
            body,
            in_call: false,
            calls: 0,
            reading: Reading::Head,
        }
    }
}

impl<B: BlockBody> CallSyntax for Sections<B> {
    fn start(&self) -> &'static str {
        self.markers.begin
    }

    fn open(&mut self) {
        self.in_call = false;
        self.calls = 0;
        self.reading = Reading::Head;
    }

    fn step(&mut self, block: &mut Block) -> Step {
        let m = self.markers;
        if !self.in_call {
            block.take_ws();
            if block.take_marker(m.call_begin) {
                self.in_call = true;
            } else if self.calls > 0 && block.take_marker(m.end) {
                return Step::Close;
            } else if self.calls > 0 && block.is_last() && block.rest().is_empty() {
                // The reply ended after the calls: only whitespace was left.
                return Step::Close;
            } else if !block.is_last()
                && (block.may_become(m.call_begin) || block.may_become(m.end))
            {
                return Step::Wait;
            } else {
                return Step::Malformed;
            }
        }
        let step = read_body(&self.body, &mut self.reading, block, m.call_end, false);
        match &step {
            Step::Calls { calls, .. } => {
                self.in_call = false;
                self.calls += calls.len();
            }
            Step::CallEnd { .. } => {
                self.in_call = false;
                self.calls += 1;
            }
            Step::Malformed => self.in_call = false,
            _ => {}
        }
        step
    }
}
