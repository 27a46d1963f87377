//! `<think>...</think>` reasoning (DeepSeek-R1, Qwen3 and their kin).
//!
//! Rules, in the spirit of vLLM's `deepseek_r1` / `qwen3` reasoning parsers:
//! - A `<think>` counts only at the very start of the output, after at most
//!   [`MAX_LEADING_WS`] bytes of whitespace (which are dropped with it).
//!   Anywhere else `<think>` is ordinary text.
//! - Text between `<think>` and `</think>` is `Reasoning`; everything after
//!   `</think>` is `Content` (a second `<think>` there is ordinary content).
//! - One `"\n"` right after `<think>` is dropped, and every `"\n"` right
//!   after `</think>` is dropped (templates put `\n\n` there). Nothing else
//!   is trimmed, so a newline before `</think>` stays in the reasoning.
//! - When the prompt already opened the block (`starts_in_reasoning`), the
//!   output starts as reasoning (with the same single-`"\n"` rule) until
//!   `</think>`.
//! - A think block still open at `finish()` was all reasoning.
//!
//! Held back while streaming: a tail that may be the start of `<think>`
//! (with its leading whitespace) at the start, a tail that may be the start
//! of `</think>` inside the block, and newlines right after a marker until
//! it is known whether they are the ones to drop.

use super::scanner::{lead, scan, Lead, Scan};
use super::{push_content, push_reasoning, BufferedParser, ParsedDelta};

/// Opening marker of a reasoning block.
pub const OPEN: &str = "<think>";
/// Closing marker of a reasoning block.
pub const CLOSE: &str = "</think>";
/// Most whitespace (in bytes) allowed before an opening `<think>`; with more,
/// the output is taken to have no reasoning block. Bounds what is held back.
pub const MAX_LEADING_WS: usize = 64;

/// Where the parser is in the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Start of the output: a `<think>` may still come.
    Start,
    /// Inside the think block.
    Reasoning,
    /// After the think block, or no think block at all.
    Answer,
}

/// Splits `<think>...</think>` reasoning from the answer; see the module docs.
#[derive(Debug)]
pub struct ThinkParser {
    state: State,
    /// Text received but not yet emitted.
    buf: String,
    /// In `Reasoning`: a single leading `"\n"` is still to be dropped.
    strip_one_newline: bool,
    /// In `Answer`: leading `"\n"`s are still to be dropped.
    strip_newlines: bool,
}

impl ThinkParser {
    /// A parser for one response. `starts_in_reasoning`: the prompt ended
    /// inside an open `<think>` block, so the output begins as reasoning.
    pub fn new(starts_in_reasoning: bool) -> Self {
        Self {
            state: if starts_in_reasoning {
                State::Reasoning
            } else {
                State::Start
            },
            buf: String::new(),
            strip_one_newline: starts_in_reasoning,
            strip_newlines: false,
        }
    }
}

impl BufferedParser for ThinkParser {
    fn buffer(&mut self) -> &mut String {
        &mut self.buf
    }

    fn calls_seen(&self) -> bool {
        false
    }

    /// Emits what the buffer allows; `last` means no more text will come.
    fn process(&mut self, last: bool, out: &mut Vec<ParsedDelta>) {
        loop {
            match self.state {
                State::Start => match lead(&self.buf, &[OPEN], MAX_LEADING_WS, last) {
                    Lead::Opens { ws, .. } => {
                        self.buf.drain(..ws + OPEN.len());
                        self.state = State::Reasoning;
                        self.strip_one_newline = true;
                    }
                    Lead::Undecided => return,
                    Lead::Other => self.state = State::Answer,
                },
                State::Reasoning => {
                    if self.strip_one_newline {
                        if self.buf.is_empty() && !last {
                            return;
                        }
                        if self.buf.starts_with('\n') {
                            self.buf.drain(..1);
                        }
                        self.strip_one_newline = false;
                    }
                    match scan(&self.buf, CLOSE, last) {
                        Scan::Found(pos) => {
                            push_reasoning(out, &self.buf[..pos]);
                            self.buf.drain(..pos + CLOSE.len());
                            self.state = State::Answer;
                            self.strip_newlines = true;
                        }
                        Scan::Clear(cut) => {
                            push_reasoning(out, &self.buf[..cut]);
                            self.buf.drain(..cut);
                            return;
                        }
                    }
                }
                State::Answer => {
                    if self.strip_newlines {
                        let newlines = self.buf.len() - self.buf.trim_start_matches('\n').len();
                        self.buf.drain(..newlines);
                        if self.buf.is_empty() && !last {
                            return;
                        }
                        self.strip_newlines = false;
                    }
                    push_content(out, &self.buf);
                    self.buf.clear();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{check_splits, Collected};
    use super::*;
    use crate::parse::OutputParser;

    fn think(text: &str) -> Collected {
        check_splits(&|| Box::new(ThinkParser::new(false)), text)
    }

    fn open(text: &str) -> Collected {
        check_splits(&|| Box::new(ThinkParser::new(true)), text)
    }

    fn pair(c: &Collected) -> (&str, &str) {
        (c.reasoning.as_str(), c.content.as_str())
    }

    #[test]
    fn plain_text() {
        let c = think("Hello, naïve 🚀 world.\n");
        assert_eq!(pair(&c), ("", "Hello, naïve 🚀 world.\n"));
        assert_eq!(pair(&think("")), ("", ""));
        assert_eq!(pair(&think("  \n")), ("", "  \n"));
    }

    #[test]
    fn think_block() {
        let c = think("<think>\nStep 1.\nStep 2.\n</think>\n\nThe answer is 4.");
        assert_eq!(pair(&c), ("Step 1.\nStep 2.\n", "The answer is 4."));
        let c = think("\n  <think>r</think>a\n");
        assert_eq!(pair(&c), ("r", "a\n"));
        // Only one newline after <think> is dropped.
        let c = think("<think>\n\nr</think>\n\n\na");
        assert_eq!(pair(&c), ("\nr", "a"));
        let c = think("<think>\n\n</think>\n\nHi");
        assert_eq!(pair(&c), ("\n", "Hi"));
    }

    #[test]
    fn think_only_at_start() {
        let c = think("a <think>b</think> c");
        assert_eq!(pair(&c), ("", "a <think>b</think> c"));
        let c = think("<thinking>x");
        assert_eq!(pair(&c), ("", "<thinking>x"));
        let c = think("<thi");
        assert_eq!(pair(&c), ("", "<thi"));
        let c = think("<think>r</think>a<think>b</think>");
        assert_eq!(pair(&c), ("r", "a<think>b</think>"));
        let ws = " ".repeat(MAX_LEADING_WS + 1);
        let text = format!("{ws}<think>x");
        let c = think(&text);
        assert_eq!(pair(&c), ("", text.as_str()));
    }

    #[test]
    fn unterminated_is_reasoning() {
        let c = think("<think>\nstill going </thi");
        assert_eq!(pair(&c), ("still going </thi", ""));
        assert_eq!(pair(&think("<think>")), ("", ""));
        assert_eq!(pair(&think("<think>\n")), ("", ""));
    }

    #[test]
    fn starts_in_reasoning() {
        let c = open("\nplan: naïve 🚀\n</think>\n\nDone.");
        assert_eq!(pair(&c), ("plan: naïve 🚀\n", "Done."));
        assert_eq!(pair(&open("all thought")), ("all thought", ""));
        assert_eq!(pair(&open("</think>x")), ("", "x"));
        assert_eq!(pair(&open("")), ("", ""));
    }

    #[test]
    fn holds_back_only_marker_prefixes() {
        let mut p = ThinkParser::new(false);
        assert!(p.push("<think>").is_empty());
        assert_eq!(p.push("ab</th"), vec![ParsedDelta::Reasoning("ab".into())]);
        assert_eq!(p.push("x"), vec![ParsedDelta::Reasoning("</thx".into())]);
        assert!(p.push("</think>\n").is_empty());
        assert_eq!(p.push("ok"), vec![ParsedDelta::Content("ok".into())]);
        let mut p = ThinkParser::new(false);
        assert_eq!(p.push("Hi"), vec![ParsedDelta::Content("Hi".into())]);
    }
}
