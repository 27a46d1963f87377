//! The marker layouts several tool-call families share, as [`CallSyntax`]es
//! for [`super::scanner::CallScanner`]. A family using one brings its
//! markers and a [`BlockBody`]: how one block's text becomes calls.
//!
//! - [`TaggedBlocks`]: `START body END`, once per block (Hermes and
//!   Qwen3-Coder `<tool_call>` blocks).
//! - [`Sections`]: `BEGIN (CALL_BEGIN body CALL_END)+ END`, whitespace
//!   between markers allowed (DeepSeek V3 / V3.1).

use super::scanner::{Block, CallSyntax, Step};

/// What one block's text holds, in a family's own notation.
pub trait BlockBody: Send + std::fmt::Debug {
    /// The body's calls as (name, compact arguments JSON), in order; `None`
    /// when it is malformed (the block is then emitted as content).
    fn calls(&self, body: &str) -> Option<Vec<(String, String)>>;
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
}

impl<B: BlockBody> TaggedBlocks<B> {
    /// Blocks between `start` and `end` whose bodies `body` reads.
    pub fn new(start: &'static str, end: &'static str, body: B) -> Self {
        Self { start, end, body }
    }
}

impl<B: BlockBody> CallSyntax for TaggedBlocks<B> {
    fn start(&self) -> &'static str {
        self.start
    }

    fn open(&mut self) {}

    fn step(&mut self, block: &mut Block) -> Step {
        let Some(body) = block.until(self.end) else {
            return Step::Wait;
        };
        match self.body.calls(&body) {
            Some(calls) => Step::Calls { calls, close: true },
            None => Step::Malformed,
        }
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
}

impl<B: BlockBody> Sections<B> {
    /// Sections with `markers` whose call bodies `body` reads.
    pub fn new(markers: SectionMarkers, body: B) -> Self {
        Self {
            markers,
            body,
            in_call: false,
            calls: 0,
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
        let Some(body) = block.until(m.call_end) else {
            return Step::Wait;
        };
        self.in_call = false;
        match self.body.calls(&body) {
            Some(calls) => {
                self.calls += calls.len();
                Step::Calls {
                    calls,
                    close: false,
                }
            }
            None => Step::Malformed,
        }
    }
}
