//! DeepSeek V3 / R1 / V3.1 tool calls (vLLM's `deepseek_v3` and
//! `deepseek_v31`), between fullwidth-bar markers:
//!
//! ```text
//! optional content<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
//! ```json
//! {"city": "Paris"}
//! ```<｜tool▁call▁end｜><｜tool▁call▁begin｜>...<｜tool▁call▁end｜><｜tool▁calls▁end｜>
//! ```
//!
//! V3.1 leaves out the type and the fence:
//! `<｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜>`.
//! (`｜` is U+FF5C, `▁` U+2581.)
//!
//! Rules:
//! - Content before `<｜tool▁calls▁begin｜>` is emitted as it comes, holding
//!   back only a tail that may be the start of the marker.
//! - After it, separated by optional whitespace, come calls
//!   `<｜tool▁call▁begin｜>BODY<｜tool▁call▁end｜>` and finally
//!   `<｜tool▁calls▁end｜>`. Each call is buffered until its end marker, then
//!   BODY is split at the first `<｜tool▁sep｜>` into HEAD and REST:
//!   - V3: HEAD (trimmed) is `function` and REST (trimmed) does not start
//!     with `{`, `"` or a ```` ``` ```` fence. The first line of REST is the
//!     name, and the rest, out of its fence, the arguments.
//!   - Otherwise V3.1: HEAD (trimmed) is the name; REST, out of its fence,
//!     the arguments.
//!
//!   A fence is ```` ``` ```` plus an optional language tag (`json`) before
//!   the JSON and ```` ``` ```` after it; it may be left out. The name must be
//!   non-empty, without whitespace or `<` / `>`. The arguments must be a JSON
//!   object or a JSON string holding one (missing: `{}`). Each call becomes
//!   one call with compact arguments, key order kept.
//! - A call streams: it starts (id and name) once the `{` of its arguments
//!   is read (after the V3 name line and fence, or the V3.1 separator), and
//!   its arguments go out as compact JSON as they are written. A started
//!   call is never content: cut off by the end of the reply it keeps the
//!   arguments it got; arguments that break off end the call where they
//!   broke, and the text from the break on is content. Bodies of another
//!   shape are read whole at their end marker, as described above.
//! - A section that ends with the reply after at least one call needs no
//!   `<｜tool▁calls▁end｜>`.
//! - Anything else (a malformed call, a call still open at the end, text in
//!   the section where a marker should be, a section without calls) is
//!   emitted as `Content`, raw and with its markers, and parsing goes on
//!   after it: never lost.
//! - After a call, whitespace is held: dropped if another call or the end
//!   follows, emitted with the text if other text follows.

use super::layout::{BlockBody, Head, SectionMarkers, Sections};
use super::scanner::{held_prefix_len, CallScanner};
use super::{arguments_json, is_call_name};
use serde_json::Value;

/// Opens the tool-call section.
pub const CALLS_BEGIN: &str = "<｜tool▁calls▁begin｜>";
/// Closes the tool-call section.
pub const CALLS_END: &str = "<｜tool▁calls▁end｜>";
/// Opens one call.
pub const CALL_BEGIN: &str = "<｜tool▁call▁begin｜>";
/// Closes one call.
pub const CALL_END: &str = "<｜tool▁call▁end｜>";
/// Separates a call's type (V3) or name (V3.1) from the rest.
pub const SEP: &str = "<｜tool▁sep｜>";

/// The section layout's markers.
const MARKERS: SectionMarkers = SectionMarkers {
    begin: CALLS_BEGIN,
    end: CALLS_END,
    call_begin: CALL_BEGIN,
    call_end: CALL_END,
};

/// DeepSeek call bodies: V3's `function<sep>NAME` and fenced JSON, or
/// V3.1's `NAME<sep>JSON`.
#[derive(Debug)]
pub struct CallBody;

impl BlockBody for CallBody {
    fn calls(&self, body: &str) -> Option<Vec<(String, String)>> {
        parse_call(body).map(|call| vec![call])
    }

    fn head(&self, text: &str) -> Head {
        stream_head(text)
    }

    fn tail_ok(&self, tail: &str) -> bool {
        let t = tail.trim();
        t.is_empty() || t == "```"
    }
}

/// The streaming head of a call body: the name, then (after a V3 name line
/// or a V3.1 separator, and an optional fence) the `{` of the arguments.
fn stream_head(text: &str) -> Head {
    let Some(pos) = text.find(SEP) else {
        // Still the type or the name (no marker, no line break in them),
        // maybe with the start of the separator.
        let before = &text[..text.len() - held_prefix_len(text, SEP)];
        return if before.contains(['\n', '<']) {
            Head::Whole
        } else {
            Head::Wait
        };
    };
    let head = text[..pos].trim();
    let after = pos + SEP.len();
    let rest = &text[after..];
    let lead = rest.trim_start();
    if lead.is_empty() {
        return Head::Wait;
    }
    let v3 = head == "function" && !lead.starts_with(['{', '"', '`']);
    let (name, json_from) = if v3 {
        let Some(nl) = rest.find('\n') else {
            return Head::Wait;
        };
        (rest[..nl].trim(), after + nl + 1)
    } else {
        (head, after)
    };
    if !is_call_name(name) {
        return Head::Whole;
    }
    match object_start(&text[json_from..]) {
        Some(Some(at)) => Head::Args {
            name: name.to_string(),
            at: json_from + at,
        },
        Some(None) => Head::Wait,
        None => Head::Whole,
    }
}

/// Where a JSON object starts in `s`, after whitespace and an optional
/// ```` ```json ```` fence line: `Some(Some(offset))`, `Some(None)` while
/// `s` may still become that, `None` when it is something else.
fn object_start(s: &str) -> Option<Option<usize>> {
    let lead = s.len() - s.trim_start().len();
    let rest = &s[lead..];
    if rest.starts_with('{') {
        return Some(Some(lead));
    }
    if rest.is_empty() || "```".starts_with(rest) {
        return Some(None);
    }
    let fenced = rest.strip_prefix("```")?;
    let Some(nl) = fenced.find('\n') else {
        return fenced
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
            .then_some(None);
    };
    if !fenced[..nl]
        .trim()
        .chars()
        .all(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let body_from = lead + 3 + nl + 1;
    let body = &s[body_from..];
    let ws = body.len() - body.trim_start().len();
    match body[ws..].chars().next() {
        None => Some(None),
        Some('{') => Some(Some(body_from + ws)),
        Some(_) => None,
    }
}

/// Parses DeepSeek V3 / V3.1 tool-call sections; see the module docs.
pub type DeepSeekParser = CallScanner<Sections<CallBody>>;

impl DeepSeekParser {
    /// A parser for one response; `id_seed` feeds [`super::tool_call_id`].
    pub fn new(id_seed: u64) -> Self {
        CallScanner::with_syntax(id_seed, Sections::new(MARKERS, CallBody))
    }
}

/// `s` without its ```` ``` ```` fence (and the language tag after the
/// opening one), trimmed; `s` trimmed when it has no fence.
fn strip_fence(s: &str) -> &str {
    let s = s.trim();
    let Some(inner) = s.strip_prefix("```") else {
        return s;
    };
    let inner = inner.strip_suffix("```").unwrap_or(inner);
    let tag_end = inner
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(inner.len());
    inner[tag_end..].trim()
}

/// A call body (between the call markers) as (name, compact arguments
/// JSON), or `None` when it is malformed (see the module docs).
fn parse_call(body: &str) -> Option<(String, String)> {
    let (head, rest) = body.split_once(SEP)?;
    let rest = rest.trim();
    let v3 = head.trim() == "function" && !rest.starts_with(['{', '"']) && !rest.starts_with("```");
    let (name, args) = if v3 {
        let (name, args) = rest.split_once('\n').unwrap_or((rest, ""));
        (name.trim(), strip_fence(args))
    } else {
        (head.trim(), strip_fence(rest))
    };
    if !is_call_name(name) {
        return None;
    }
    let args = if args.is_empty() {
        None
    } else {
        Some(serde_json::from_str::<Value>(args).ok()?)
    };
    Some((name.to_string(), arguments_json(args.as_ref())?))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        check_random_texts, check_splits, names_args, random_texts, Collected,
    };
    use super::super::tool_call_id;
    use super::*;
    use crate::parse::{OutputParser, ParsedDelta};

    fn deepseek(text: &str) -> Collected {
        check_splits(&|| Box::new(DeepSeekParser::new(8)), text)
    }

    /// A V3 call: type, name line, fenced JSON.
    fn v3(name: &str, args: &str) -> String {
        format!("{CALL_BEGIN}function{SEP}{name}\n```json\n{args}\n```{CALL_END}")
    }

    /// A V3.1 call: name, bare JSON.
    fn v31(name: &str, args: &str) -> String {
        format!("{CALL_BEGIN}{name}{SEP}{args}{CALL_END}")
    }

    fn section(calls: &[String]) -> String {
        format!("{CALLS_BEGIN}{}{CALLS_END}", calls.concat())
    }

    #[test]
    fn plain_text() {
        let text = "Just an answer <｜tool▁call naïve 🚀 ｜▁.\n";
        let c = deepseek(text);
        assert_eq!(c.content, text);
        assert!(c.calls.is_empty() && !c.saw_tool_calls);
        assert_eq!(deepseek("x <｜tool▁ca").content, "x <｜tool▁ca");
    }

    #[test]
    fn v3_calls() {
        let text = format!(
            "Let me check.\n{}",
            section(&[
                v3("get_weather", r#"{"city": "Paris", "days": [1, 2]}"#),
                v3("other", "{}")
            ])
        );
        let c = deepseek(&text);
        assert_eq!(c.content, "Let me check.\n");
        assert_eq!(
            names_args(&c),
            vec![
                ("get_weather", r#"{"city":"Paris","days":[1,2]}"#),
                ("other", "{}")
            ]
        );
        assert_eq!(c.calls[0].1, tool_call_id(8, 0));
        assert_eq!(c.calls[1].1, tool_call_id(8, 1));
        assert!(c.saw_tool_calls);
    }

    #[test]
    fn v31_calls() {
        let text = section(&[
            v31("get_weather", r#"{"city":"Paris","u":"é🚀 ｜▁"}"#),
            v31("b", r#""{\"z\": 1, \"a\": \"x\"}""#),
            v31("c", ""),
            v31("d", "```json\n{\"k\": null}\n```"),
        ]);
        let c = deepseek(&text);
        assert_eq!(c.content, "");
        assert_eq!(
            names_args(&c),
            vec![
                ("get_weather", r#"{"city":"Paris","u":"é🚀 ｜▁"}"#),
                ("b", r#"{"z":1,"a":"x"}"#),
                ("c", "{}"),
                ("d", r#"{"k":null}"#)
            ]
        );
    }

    #[test]
    fn whitespace_and_trailing_text() {
        // Whitespace between markers is dropped; text after the section kept.
        let text = format!(
            "{CALLS_BEGIN}\n{}\n{}\n{CALLS_END}\n\nDone, naïve 🚀.",
            v3("a", "{\"x\": \"}\\\"{\"}"),
            v31("b", "{}")
        );
        let c = deepseek(&text);
        assert_eq!(c.content, "\n\nDone, naïve 🚀.");
        assert_eq!(names_args(&c), vec![("a", r#"{"x":"}\"{"}"#), ("b", "{}")]);
        let text = format!("{}\n  \n", section(&[v31("a", "{}")]));
        assert_eq!(deepseek(&text).content, "");
        // The section end may be missing when the reply ends after a call.
        let text = format!("{CALLS_BEGIN}{}\n", v31("a", "{}"));
        let c = deepseek(&text);
        assert_eq!((c.content.as_str(), c.calls.len()), ("", 1));
        // Two sections.
        let text = format!(
            "{}{}",
            section(&[v31("a", "{}")]),
            section(&[v3("b", "{}")])
        );
        assert_eq!(names_args(&deepseek(&text)), vec![("a", "{}"), ("b", "{}")]);
    }

    #[test]
    fn malformed_becomes_content() {
        for bad in [
            CALLS_BEGIN.to_string(),
            format!("{CALLS_BEGIN}  "),
            format!("{CALLS_BEGIN}{CALLS_END}"),
            format!("{CALLS_BEGIN}text"),
            format!("{CALLS_BEGIN}{CALL_BEGIN}"),
            format!("{CALLS_BEGIN}{CALL_BEGIN}f{{\"a\": 1}}{CALL_END}{CALLS_END}"),
            format!("{CALLS_BEGIN}{}{CALLS_END}", v31("", "{}")),
            format!("{CALLS_BEGIN}{}{CALLS_END}", v31("a b", "{}")),
            format!("{CALLS_BEGIN}{}{CALLS_END}", v31("f", "[1]")),
            format!("{CALLS_BEGIN}{}{CALLS_END}", v31("f", "\"[1]\"")),
            format!("{CALLS_BEGIN}{CALL_BEGIN}function{SEP}a b\n{{}}{CALL_END}"),
            format!("{CALLS_BEGIN}{CALL_BEGIN}function{SEP}f\n```json\n[]\n```{CALL_END}"),
            format!("{CALLS_BEGIN}<｜tool▁call▁beg"),
            format!("{CALLS_BEGIN}<｜tool▁calls▁e"),
        ] {
            let c = deepseek(&bad);
            assert_eq!(c.content, bad, "{bad:?}");
            assert!(c.calls.is_empty() && !c.saw_tool_calls);
        }
    }

    #[test]
    fn a_started_call_is_never_content() {
        // The reply ends after the arguments: the call is whole.
        let c = deepseek(&format!("{CALLS_BEGIN}{CALL_BEGIN}f{SEP}{{\"a\": 1}}"));
        assert_eq!(
            (c.content.as_str(), names_args(&c)),
            ("", vec![("f", r#"{"a":1}"#)])
        );
        // Cut off inside the arguments: the call keeps what it got.
        let call = v3("write", "{\"text\": \"abc");
        let cut = &call[..call.find("bc").unwrap()];
        let c = deepseek(&format!("{CALLS_BEGIN}{cut}"));
        assert_eq!(c.content, "");
        assert!(c.cut_call);
        assert_eq!(c.calls[0].2, "write");
        assert_eq!(c.calls[0].3, "{\"text\":\"a");
        // Arguments that break off: what was valid went out, the rest is
        // content from the break on.
        let c = deepseek(&format!(
            "{CALLS_BEGIN}{CALL_BEGIN}f{SEP}{{\"a\": {CALL_END}"
        ));
        assert_eq!(c.calls[0].3, "{\"a\":");
        assert_eq!(c.content, CALL_END);
        let c = deepseek(&format!("{CALLS_BEGIN}{}{CALLS_END}", v3("f", "{oops")));
        assert_eq!(c.calls[0].3, "{");
        assert_eq!(c.content, format!("oops\n```{CALL_END}{CALLS_END}"));
    }

    #[test]
    fn parsing_resumes_after_malformed() {
        // A bad call: the section's raw text is content, later sections parse.
        let bad = format!("{CALLS_BEGIN}{}", v31("f", "[1]"));
        let text = format!("{bad}{}", section(&[v31("g", "{}")]));
        let c = deepseek(&text);
        assert_eq!(c.content, bad);
        assert_eq!(names_args(&c), vec![("g", "{}")]);
        // A good call, then one whose arguments break off: the second call
        // ends at the break, the rest is content.
        let text = section(&[v31("a", "{}"), v31("h", "{oops")]);
        let c = deepseek(&text);
        assert_eq!(c.content, format!("oops{CALL_END}{CALLS_END}"));
        assert_eq!(c.calls.len(), 2);
        assert_eq!(c.calls[1].3, "{");
        // Text where a marker should be, after a call.
        let text = format!("{CALLS_BEGIN}{} then text", v31("a", "{}"));
        let c = deepseek(&text);
        assert_eq!(c.content, " then text");
        assert_eq!(c.calls.len(), 1);
    }

    #[test]
    fn holds_back_only_marker_prefix() {
        let mut p = DeepSeekParser::new(0);
        assert_eq!(
            p.push("abc<｜tool▁"),
            vec![ParsedDelta::Content("abc".into())]
        );
        assert_eq!(p.push("x"), vec![ParsedDelta::Content("<｜tool▁x".into())]);
        assert!(p.push(CALLS_BEGIN).is_empty());
        // The call starts once its arguments begin, and they stream.
        let out = p.push("<｜tool▁call▁begin｜>f<｜tool▁sep｜>{\"a\": \"é");
        assert!(matches!(
            &out[..],
            [
                ParsedDelta::ToolCallStart { index: 0, .. },
                ParsedDelta::ToolCallArguments { index: 0, text }
            ] if text == "{\"a\":\"é"
        ));
        let out = p.push("\"}<｜tool▁call▁");
        assert!(
            matches!(&out[..], [ParsedDelta::ToolCallArguments { index: 0, text }] if text == "\"}")
        );
        assert!(p.push("end｜>").is_empty());
        assert!(p.push(CALLS_END).is_empty());
        assert!(p.saw_tool_calls());
        assert!(p.finish().is_empty());
    }

    #[test]
    fn fences() {
        assert_eq!(strip_fence("```json\n{}\n```"), "{}");
        assert_eq!(strip_fence(" ```\n{}```"), "{}");
        assert_eq!(strip_fence("```{}"), "{}");
        assert_eq!(strip_fence("{\"a\": \"```\"}"), "{\"a\": \"```\"}");
        assert_eq!(strip_fence(""), "");
    }

    #[test]
    fn random_fragments() {
        let good = v31("f", "{\"a\":1}");
        let good_v3 = v3("g", "{}");
        let frags = [
            CALLS_BEGIN,
            CALLS_END,
            CALL_BEGIN,
            CALL_END,
            SEP,
            "<｜tool▁",
            "function",
            "f",
            "{",
            "}",
            "\"",
            "\n",
            " ",
            "```json\n",
            &good,
            &good_v3,
            "🚀",
            "｜",
        ];
        check_random_texts(&random_texts(&frags, 5, 300, 10), deepseek, |_, _| {});
    }
}
