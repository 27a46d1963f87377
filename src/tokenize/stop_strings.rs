//! Stop strings over streamed text.
//!
//! Text arrives in deltas; a stop string may span several. [`StopMatcher`] emits text
//! as soon as it cannot be the start of a stop string and holds back only the longest
//! tail that is still a proper prefix of one. When a stop string completes, the text
//! before it is emitted and the stop string itself never is. Among stop strings found
//! in the same push, the one that starts earliest wins (ties: the one listed first).

/// What a push of text produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// No stop string yet; `emit` is safe to send (it may be empty while text is held).
    Continue {
        /// Text to send to the client.
        emit: String,
    },
    /// A stop string completed: send `emit`, then end the sequence.
    Stopped {
        /// Text before the stop string, to send to the client.
        emit: String,
        /// The stop string that matched.
        matched: String,
    },
}

/// Holds back just enough text to find stop strings that span token boundaries; the stop string itself is never emitted.
#[derive(Debug, Clone)]
pub struct StopMatcher {
    stops: Vec<String>,
    /// Held-back text: always shorter than the longest stop string.
    held: String,
    stopped: bool,
}

impl StopMatcher {
    /// A matcher for these stop strings (empty ones are ignored).
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            held: String::new(),
            stopped: false,
        }
    }

    /// Whether a stop string has matched (later pushes emit nothing).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Adds generated text; returns what may be sent now.
    pub fn push(&mut self, text: &str) -> StopOutcome {
        if self.stopped {
            return StopOutcome::Continue {
                emit: String::new(),
            };
        }
        if self.stops.is_empty() {
            return StopOutcome::Continue {
                emit: text.to_owned(),
            };
        }
        self.held.push_str(text);

        // Earliest complete match; `held` only ever holds a tail shorter than any stop
        // string's length, so scanning all of it finds matches across pushes.
        let found = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()).map(|pos| (pos, s)))
            .min_by_key(|(pos, _)| *pos);
        if let Some((pos, stop)) = found {
            let matched = stop.clone();
            let mut emit = std::mem::take(&mut self.held);
            emit.truncate(pos);
            self.stopped = true;
            return StopOutcome::Stopped { emit, matched };
        }

        let keep = self.partial_match_len();
        let split = self.held.len() - keep;
        let rest = self.held.split_off(split);
        let emit = std::mem::replace(&mut self.held, rest);
        StopOutcome::Continue { emit }
    }

    /// End of generation: release what was held back.
    pub fn flush(&mut self) -> String {
        if self.stopped {
            return String::new();
        }
        std::mem::take(&mut self.held)
    }

    /// Length in bytes of the longest tail of `held` that is a proper prefix of a stop
    /// string (always starts on a char boundary, since stop strings are valid UTF-8).
    fn partial_match_len(&self) -> usize {
        let max = self
            .stops
            .iter()
            .map(|s| s.len() - 1)
            .max()
            .unwrap_or(0)
            .min(self.held.len());
        (1..=max)
            .rev()
            .find(|&k| {
                let start = self.held.len() - k;
                self.held.is_char_boundary(start)
                    && self
                        .stops
                        .iter()
                        .any(|s| s.starts_with(&self.held[start..]))
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pushes: &[&str]) -> (String, Option<String>) {
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for p in pushes {
            match m.push(p) {
                StopOutcome::Continue { emit } => out.push_str(&emit),
                StopOutcome::Stopped { emit, matched } => {
                    out.push_str(&emit);
                    return (out, Some(matched));
                }
            }
        }
        out.push_str(&m.flush());
        (out, None)
    }

    #[test]
    fn stop_split_across_pushes() {
        assert_eq!(
            run(
                &["</answer>"],
                &["The answer is 4<", "/ans", "wer> trailing"]
            ),
            ("The answer is 4".into(), Some("</answer>".into()))
        );
    }

    #[test]
    fn holds_only_a_possible_prefix() {
        let mut m = StopMatcher::new(vec!["STOP".into()]);
        assert_eq!(m.push("abcS"), StopOutcome::Continue { emit: "abc".into() });
        assert_eq!(m.push("T"), StopOutcome::Continue { emit: "".into() });
        // "STx" can no longer become "STOP": all of it is released.
        assert_eq!(m.push("x"), StopOutcome::Continue { emit: "STx".into() });
        assert_eq!(m.push("ST"), StopOutcome::Continue { emit: "".into() });
        assert_eq!(m.flush(), "ST");
    }

    #[test]
    fn no_match_releases_everything_at_flush() {
        assert_eq!(run(&["###"], &["a#", "#b", "##"]), ("a##b##".into(), None));
    }

    #[test]
    fn overlapping_stops_and_earliest_match() {
        // "abc" starts before "bcd", and both complete in the same push.
        assert_eq!(
            run(&["bcd", "abc"], &["xxabcd"]),
            ("xx".into(), Some("abc".into()))
        );
        // A held prefix of one stop ("ab" of "abz") overlaps another ("bc").
        assert_eq!(
            run(&["abz", "bc"], &["a", "b", "c"]),
            ("a".into(), Some("bc".into()))
        );
        // Same start: the one listed first.
        assert_eq!(
            run(&["ab", "abc"], &["abc"]),
            ("".into(), Some("ab".into()))
        );
    }

    #[test]
    fn multibyte_text_near_boundary() {
        // The stop begins with a 3-byte char; the text before it has 4-byte chars.
        let mut m = StopMatcher::new(vec!["。END".into()]);
        assert_eq!(
            m.push("🦀🦀。"),
            StopOutcome::Continue {
                emit: "🦀🦀".into()
            }
        );
        assert_eq!(m.push("EN"), StopOutcome::Continue { emit: "".into() });
        assert_eq!(
            m.push("D🦀"),
            StopOutcome::Stopped {
                emit: "".into(),
                matched: "。END".into()
            }
        );
        // Shares a first byte with the stop's first char but is a different char.
        assert_eq!(run(&["é!"], &["xè", "y"]), ("xèy".into(), None));
        assert_eq!(run(&["é!"], &["aé", "!b"]), ("a".into(), Some("é!".into())));
    }

    #[test]
    fn nothing_after_stop() {
        let mut m = StopMatcher::new(vec!["x".into()]);
        assert!(matches!(m.push("axb"), StopOutcome::Stopped { .. }));
        assert!(m.is_stopped());
        assert_eq!(m.push("more"), StopOutcome::Continue { emit: "".into() });
        assert_eq!(m.flush(), "");
    }

    #[test]
    fn no_stops_passes_through() {
        assert_eq!(run(&[""], &["a", "b"]), ("ab".into(), None));
    }
}
