//! Helpers for the split-invariance tests of the parsers, shared by the
//! unit tests and the `parsers` fuzz target (feature `fuzzing`).

use super::{OutputParser, ParsedDelta};

/// What a whole stream produced, pieces joined.
#[derive(Debug, Default, PartialEq)]
pub struct Collected {
    /// The `Content` deltas, joined.
    pub content: String,
    /// The `Reasoning` deltas, joined.
    pub reasoning: String,
    /// (index, id, name, arguments)
    pub calls: Vec<(usize, String, String, String)>,
    /// What the parser's `saw_tool_calls` said at the end.
    pub saw_tool_calls: bool,
    /// The last call's arguments do not parse: the reply ended inside it.
    pub cut_call: bool,
}

fn absorb(c: &mut Collected, deltas: Vec<ParsedDelta>) {
    for d in deltas {
        match d {
            ParsedDelta::Content(s) => {
                assert!(!s.is_empty(), "empty content delta");
                c.content.push_str(&s);
            }
            ParsedDelta::Reasoning(s) => {
                assert!(!s.is_empty(), "empty reasoning delta");
                c.reasoning.push_str(&s);
            }
            ParsedDelta::ToolCallStart { index, id, name } => {
                if let Some((_, _, _, prev)) = c.calls.last() {
                    assert_complete(prev);
                }
                assert_eq!(index, c.calls.len(), "indices must count up from 0");
                c.calls.push((index, id, name, String::new()));
            }
            ParsedDelta::ToolCallArguments { index, text } => {
                assert!(!text.is_empty(), "empty arguments delta");
                let (i, _, _, args) = c.calls.last_mut().expect("arguments before a call start");
                assert_eq!(index, *i, "arguments for a call that is not the open one");
                assert!(
                    !is_json(args),
                    "arguments went on after they parsed: {args:?} + {text:?}"
                );
                args.push_str(&text);
            }
        }
    }
}

/// True when `text` parses as JSON: a client would take the call as done.
fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok()
}

/// A finished call's arguments are one compact JSON object.
fn assert_complete(arguments: &str) {
    let v: serde_json::Value = serde_json::from_str(arguments).unwrap_or(serde_json::Value::Null);
    assert!(v.is_object(), "arguments not a JSON object: {arguments}");
}

/// The calls of a stream as (name, arguments); all must be complete.
pub fn names_args(c: &Collected) -> Vec<(&str, &str)> {
    assert!(
        !c.cut_call,
        "the last call was cut off: {:?}",
        c.calls.last()
    );
    c.calls
        .iter()
        .map(|(_, _, n, a)| (n.as_str(), a.as_str()))
        .collect()
}

/// Feeds `pieces` in order, then finishes.
pub fn run(make: &dyn Fn() -> Box<dyn OutputParser>, pieces: &[&str]) -> Collected {
    let mut p = make();
    let mut c = Collected::default();
    for piece in pieces {
        let out = p.push(piece);
        absorb(&mut c, out);
    }
    let out = p.finish();
    absorb(&mut c, out);
    c.cut_call = c.calls.last().is_some_and(|(_, _, _, a)| !is_json(a));
    c.saw_tool_calls = p.saw_tool_calls();
    assert_eq!(c.saw_tool_calls, !c.calls.is_empty());
    c
}

/// `count` random texts of 1 to `max_len` pieces drawn from `frags`
/// (markers, their fragments, JSON bits, multi-byte chars), the same
/// for the same `seed`.
pub fn random_texts(frags: &[&str], seed: u64, count: usize, max_len: usize) -> Vec<String> {
    let mut rng = Lcg(seed);
    (0..count)
        .map(|_| {
            let len = 1 + rng.below(max_len);
            (0..len).map(|_| frags[rng.below(frags.len())]).collect()
        })
        .collect()
}

/// Parse each text with `parse`: a text that yields no call must come back
/// as content, unchanged; `check` adds the family's own rules. Both kinds
/// of text must occur, or the test proves nothing.
pub fn check_random_texts(
    texts: &[String],
    parse: impl Fn(&str) -> Collected,
    check: impl Fn(&str, &Collected),
) {
    let (mut with_calls, mut without) = (0, 0);
    for text in texts {
        let c = parse(text);
        if c.calls.is_empty() {
            without += 1;
            assert_eq!(&c.content, text);
        } else {
            with_calls += 1;
        }
        check(text, &c);
    }
    assert!(
        with_calls > 0 && without > 0,
        "{with_calls} texts with calls, {without} without"
    );
}

/// A small deterministic random number generator (Knuth's MMIX LCG).
struct Lcg(u64);

impl Lcg {
    /// The next number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Feeds `text` whole, in two pieces at every char boundary, one char at
/// a time, in three pieces at every pair of boundaries (short texts) and
/// in random multi-char pieces; asserts every run gives the same result
/// and returns it.
pub fn check_splits(make: &dyn Fn() -> Box<dyn OutputParser>, text: &str) -> Collected {
    let whole = run(make, &[text]);
    let bounds: Vec<usize> = (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    for &i in &bounds {
        let got = run(make, &[&text[..i], &text[i..]]);
        assert_eq!(got, whole, "split at {i} of {text:?}");
    }
    let chars: Vec<String> = text.chars().map(String::from).collect();
    let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(run(make, &refs), whole, "char by char: {text:?}");
    if bounds.len() <= 160 {
        for (a, &i) in bounds.iter().enumerate() {
            for &j in &bounds[a..] {
                let got = run(make, &[&text[..i], &text[i..j], &text[j..]]);
                assert_eq!(got, whole, "split at {i},{j} of {text:?}");
            }
        }
    }
    let mut rng = Lcg(0x1234_5678 ^ text.len() as u64);
    for _ in 0..300 {
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let step = 1 + rng.below(7);
            let mut end = (start + step).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            pieces.push(&text[start..end]);
            start = end;
        }
        assert_eq!(run(make, &pieces), whole, "random split {pieces:?}");
    }
    whole
}
