//! Hugging Face chat templates, rendered with minijinja the way transformers renders them.
//!
//! `transformers.utils.chat_template_utils` compiles a template in a Jinja2
//! `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)` with the
//! `loopcontrols` extension, its own `tojson` filter (`json.dumps` with
//! `ensure_ascii=False`), and the globals `raise_exception`, `strftime_now`,
//! `dict` and `namespace`. Before rendering it drops `None`-valued message keys
//! and copies a message's reasoning into both `reasoning_content` and `thinking`.
//! [`ChatTemplate`] reproduces all of that, and where minijinja and Jinja2 differ
//! it follows Python: values print as Python prints them (`True`, `None`,
//! `{'a': 1}`), `tojson` lays JSON out as `json.dumps` does, and string methods
//! that minijinja-contrib's `pycompat` lacks (or counts in bytes) are added here.
//! `tests/e2e/template_parity.rs` checks the output byte for byte against
//! transformers on real templates.

use std::fmt::Write as _;

use chrono::NaiveDateTime;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};

/// Name under which the template source is stored in its environment.
const TEMPLATE_NAME: &str = "chat_template";

/// Template variables that callers cannot override through `extra`.
const RESERVED_VARS: [&str; 4] = ["messages", "tools", "documents", "add_generation_prompt"];

/// Message keys a message's reasoning may arrive under, as in transformers.
const REASONING_FIELDS: [&str; 3] = ["reasoning_content", "thinking", "reasoning"];

/// Why a chat template could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template source does not parse (a problem with the model, found at load).
    #[error("chat template does not parse: {0:#}")]
    Syntax(#[source] minijinja::Error),
    /// The template called `raise_exception(message)`: the conversation is one the
    /// model does not accept (for example a system role), so it is a client error.
    #[error("{0}")]
    Raised(String),
    /// Rendering failed for another reason (a template bug hit by this input, a type error).
    #[error("chat template failed to render: {0:#}")]
    Render(#[source] minijinja::Error),
    /// `messages` was not a JSON array of objects.
    #[error("messages must be a JSON array of objects")]
    InvalidMessages,
}

impl TemplateError {
    /// Whether the request, not the server, is at fault (the template refused the input).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            TemplateError::Raised(_) | TemplateError::InvalidMessages
        )
    }
}

/// Marker carried as the source of the minijinja error that `raise_exception` returns.
#[derive(Debug)]
struct RaisedByTemplate(String);

impl std::fmt::Display for RaisedByTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RaisedByTemplate {}

/// A compiled chat template with the special tokens it is rendered with.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source`; `bos_token` / `eos_token` become the template variables of the same names.
    pub fn new(
        source: &str,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_unknown_method_callback(python_method);
        env.set_formatter(python_formatter);
        env.add_filter("tojson", tojson_filter);
        env.add_filter("string", |v: &Value| py_str(v));
        env.add_filter("trim", trim_filter);
        env.add_test("iterable", is_iterable);
        env.add_function("raise_exception", raise_exception);
        set_clock(&mut env, None);
        env.add_template_owned(TEMPLATE_NAME, source.to_owned())
            .map_err(TemplateError::Syntax)?;
        Ok(Self {
            env,
            source: source.to_owned(),
            bos_token,
            eos_token,
        })
    }

    /// The template's Jinja source (output parsers are detected from it).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Makes `strftime_now` read `now` instead of the local clock (for reproducible tests).
    pub fn with_fixed_now(mut self, now: NaiveDateTime) -> Self {
        set_clock(&mut self.env, Some(now));
        self
    }

    /// The `bos_token` variable the template sees.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    /// The `eos_token` variable the template sees.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// Renders a conversation to the prompt text.
    ///
    /// `messages` / `tools` are the OpenAI-shaped JSON values; `extra` holds additional
    /// template variables (e.g. `enable_thinking`, a request's `chat_template_kwargs`).
    /// `extra` may override `bos_token` / `eos_token` but not `messages`, `tools`,
    /// `documents` or `add_generation_prompt`.
    pub fn render(
        &self,
        messages: &serde_json::Value,
        tools: Option<&serde_json::Value>,
        add_generation_prompt: bool,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, TemplateError> {
        let messages = normalize_messages(messages)?;
        let mut ctx = serde_json::Map::new();
        if let Some(bos) = &self.bos_token {
            ctx.insert("bos_token".into(), bos.clone().into());
        }
        if let Some(eos) = &self.eos_token {
            ctx.insert("eos_token".into(), eos.clone().into());
        }
        for (k, v) in extra {
            if !RESERVED_VARS.contains(&k.as_str()) {
                ctx.insert(k.clone(), v.clone());
            }
        }
        ctx.insert("messages".into(), serde_json::Value::Array(messages));
        ctx.insert(
            "tools".into(),
            tools.cloned().unwrap_or(serde_json::Value::Null),
        );
        ctx.insert("documents".into(), serde_json::Value::Null);
        ctx.insert("add_generation_prompt".into(), add_generation_prompt.into());
        let tmpl = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(TemplateError::Render)?;
        tmpl.render(Value::from_serialize(&ctx))
            .map_err(classify_render_error)
    }
}

/// Turns a minijinja error into `Raised` when it came from `raise_exception`.
fn classify_render_error(err: Error) -> TemplateError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = cur {
        if let Some(raised) = e.downcast_ref::<RaisedByTemplate>() {
            return TemplateError::Raised(raised.0.clone());
        }
        cur = e.source();
    }
    TemplateError::Render(err)
}

/// What transformers does to a conversation before rendering: drop keys whose value is
/// `None` (`_normalize_chat_messages`), then fill `thinking` and `reasoning_content` from
/// whichever reasoning field is set (`_alias_reasoning_fields`), keeping Python's key order.
fn normalize_messages(
    messages: &serde_json::Value,
) -> Result<Vec<serde_json::Value>, TemplateError> {
    let list = messages.as_array().ok_or(TemplateError::InvalidMessages)?;
    let mut out = Vec::with_capacity(list.len());
    for msg in list {
        let obj = msg.as_object().ok_or(TemplateError::InvalidMessages)?;
        let obj: serde_json::Map<String, serde_json::Value> = obj
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let reasoning = REASONING_FIELDS.iter().find_map(|k| obj.get(*k)).cloned();
        let obj = match reasoning {
            Some(r) => {
                // {"thinking": r, **message, "reasoning_content": r}
                let mut m = serde_json::Map::new();
                m.insert("thinking".into(), r.clone());
                for (k, v) in obj {
                    m.insert(k, v);
                }
                m.insert("reasoning_content".into(), r);
                m
            }
            None => obj,
        };
        out.push(serde_json::Value::Object(obj));
    }
    Ok(out)
}

/// Jinja2's `is iterable`: `none` is not (minijinja can loop over it, Python cannot).
fn is_iterable(value: &Value) -> bool {
    !value.is_none() && value.try_iter().is_ok()
}

/// `raise_exception(message)`: fails the render with the template's own message.
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message.clone())
        .with_source(RaisedByTemplate(message)))
}

/// Installs `strftime_now(format)`, reading the local clock or a fixed instant.
fn set_clock(env: &mut Environment<'static>, fixed: Option<NaiveDateTime>) {
    env.add_function(
        "strftime_now",
        move |format: String| -> Result<String, Error> {
            let now = fixed.unwrap_or_else(|| chrono::Local::now().naive_local());
            let mut out = String::new();
            write!(out, "{}", now.format(&format)).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("strftime_now: unsupported format {format:?}"),
                )
            })?;
            Ok(out)
        },
    );
}

fn write_err(_: std::fmt::Error) -> Error {
    Error::new(ErrorKind::WriteFailure, "could not write output")
}

/// Prints values the way Jinja2 does, that is, with Python's `str()`.
fn python_formatter(
    out: &mut minijinja::Output,
    state: &State,
    value: &Value,
) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None | ValueKind::Bool | ValueKind::Seq | ValueKind::Map => {
            out.write_str(&py_str(value)).map_err(write_err)
        }
        ValueKind::Number if !value.is_integer() => {
            out.write_str(&py_str(value)).map_err(write_err)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Jinja2's `trim(value, chars=None)`: strips `str(value)`, so a list prints as Python's repr.
fn trim_filter(value: &Value, chars: Option<String>) -> String {
    let s = py_str(value);
    match chars {
        Some(chars) => s.trim_matches(|c| chars.contains(c)).to_owned(),
        None => s.trim().to_owned(),
    }
}

/// Python's `str(value)`.
fn py_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::String => value.as_str().unwrap_or_default().to_owned(),
        _ => {
            let mut s = String::new();
            py_repr(value, &mut s);
            s
        }
    }
}

/// Python's `repr(value)` for the JSON-like values a template sees.
fn py_repr(value: &Value, out: &mut String) {
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => {
            if value.is_integer() {
                let _ = write!(out, "{value}");
            } else {
                out.push_str(&py_float_repr(f64::try_from(value.clone()).unwrap_or(0.0)));
            }
        }
        ValueKind::String => py_str_repr(value.as_str().unwrap_or_default(), out),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            if let Ok(iter) = value.try_iter() {
                for (i, item) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    py_repr(&item, out);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(iter) = value.try_iter() {
                for (i, key) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    py_repr(&key, out);
                    out.push_str(": ");
                    py_repr(&value.get_item(&key).unwrap_or_default(), out);
                }
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

/// Python's `repr(str)`: single quotes unless the text holds `'` and no `"`.
fn py_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form outside 1e-4..1e16.
pub(crate) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp < 0 {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        } else if exp + 1 >= n {
            format!("{}{}.0", digits, "0".repeat((exp + 1 - n) as usize))
        } else {
            let (a, b) = digits.split_at((exp + 1) as usize);
            format!("{a}.{b}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    }
}

/// Options of Python's `json.dumps` that transformers' `tojson` exposes.
struct JsonStyle {
    ensure_ascii: bool,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

/// `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`,
/// laid out exactly as Python's `json.dumps`.
fn tojson_filter(
    value: &Value,
    ensure_ascii: Option<Value>,
    indent: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    // Positional order is Python's: `x|tojson(4)` sets ensure_ascii (truthy), not indent.
    let ensure_ascii = match kwargs.get::<Option<Value>>("ensure_ascii")? {
        Some(v) => v.is_true(),
        None => ensure_ascii.is_some_and(|v| v.is_true()),
    };
    let indent = match kwargs.get::<Option<Value>>("indent")? {
        Some(v) => Some(v),
        None => indent,
    };
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) if v.is_integer() => Some(" ".repeat(v.as_i64().unwrap_or(0).max(0) as usize)),
        Some(v) => match v.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "tojson: indent must be an integer or a string",
                ))
            }
        },
    };
    let separators: Option<Value> = kwargs.get("separators")?;
    let (item_sep, key_sep) = match separators {
        Some(v) if !v.is_none() => {
            let parts: Vec<Value> = v.try_iter()?.collect();
            match (
                parts.first().and_then(|p| p.as_str()),
                parts.get(1).and_then(|p| p.as_str()),
            ) {
                (Some(a), Some(b)) if parts.len() == 2 => (a.to_owned(), b.to_owned()),
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "tojson: separators must be a pair of strings",
                    ))
                }
            }
        }
        _ if indent.is_some() => (",".to_owned(), ": ".to_owned()),
        _ => (", ".to_owned(), ": ".to_owned()),
    };
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let style = JsonStyle {
        ensure_ascii,
        indent,
        item_sep,
        key_sep,
        sort_keys,
    };
    let mut out = String::new();
    py_json(value, &style, 0, &mut out)?;
    Ok(Value::from(out))
}

fn py_json_newline(style: &JsonStyle, depth: usize, out: &mut String) {
    if let Some(ind) = &style.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn py_json(value: &Value, style: &JsonStyle, depth: usize, out: &mut String) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if value.is_integer() {
                let _ = write!(out, "{value}");
            } else {
                out.push_str(&py_float_repr(f64::try_from(value.clone())?));
            }
        }
        ValueKind::String => py_json_str(value.as_str().unwrap_or_default(), style, out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&style.item_sep);
                }
                py_json_newline(style, depth + 1, out);
                py_json(item, style, depth + 1, out)?;
            }
            py_json_newline(style, depth, out);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if style.sort_keys {
                keys.sort();
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&style.item_sep);
                }
                py_json_newline(style, depth + 1, out);
                let key_text = match key.kind() {
                    ValueKind::String => key.as_str().unwrap_or_default().to_owned(),
                    ValueKind::None => "null".to_owned(),
                    ValueKind::Bool => if key.is_true() { "true" } else { "false" }.to_owned(),
                    _ => {
                        let mut s = String::new();
                        py_json(key, style, depth, &mut s)?;
                        s
                    }
                };
                py_json_str(&key_text, style, out);
                out.push_str(&style.key_sep);
                py_json(&value.get_item(key)?, style, depth + 1, out)?;
            }
            py_json_newline(style, depth, out);
            out.push('}');
        }
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "Object of type Undefined is not JSON serializable",
            ))
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("Object of type {} is not JSON serializable", value.kind()),
            ))
        }
    }
    Ok(())
}

/// A JSON string literal as Python's `json.dumps` writes it.
fn py_json_str(s: &str, style: &JsonStyle, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if style.ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python string methods minijinja-contrib's `pycompat` lacks or counts in bytes,
/// then everything else `pycompat` offers.
fn python_method(
    state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let Some(s) = value.as_str() {
        if let Some(rv) = extra_string_method(s, method, args)? {
            return Ok(rv);
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// Char index of a byte offset (Python indexes strings by code point).
fn char_index(s: &str, byte: usize) -> i64 {
    s[..byte].chars().count() as i64
}

fn extra_string_method(s: &str, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    use minijinja::value::from_args;
    let rv = match method {
        "find" | "index" => {
            let (what,): (&str,) = from_args(args)?;
            match s.find(what) {
                Some(b) => Value::from(char_index(s, b)),
                None if method == "find" => Value::from(-1),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "substring not found",
                    ))
                }
            }
        }
        "rfind" | "rindex" => {
            let (what,): (&str,) = from_args(args)?;
            match s.rfind(what) {
                Some(b) => Value::from(char_index(s, b)),
                None if method == "rfind" => Value::from(-1),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "substring not found",
                    ))
                }
            }
        }
        "count" => {
            let (what,): (&str,) = from_args(args)?;
            if what.is_empty() {
                Value::from(s.chars().count() + 1)
            } else {
                Value::from(s.matches(what).count())
            }
        }
        "rsplit" => {
            let (sep, maxsplit): (Option<&str>, Option<i64>) = from_args(args)?;
            let maxsplit = maxsplit.filter(|n| *n >= 0).map(|n| n as usize);
            let mut parts: Vec<Value> = match (sep, maxsplit) {
                (Some(sep), Some(n)) => s.rsplitn(n + 1, sep).map(Value::from).collect(),
                (Some(sep), None) => s.rsplit(sep).map(Value::from).collect(),
                (None, n) => {
                    let mut rest = s.trim_end();
                    let mut parts = Vec::new();
                    while !rest.is_empty() {
                        if n.is_some_and(|n| parts.len() == n) {
                            parts.push(Value::from(rest));
                            break;
                        }
                        match rest.rfind(char::is_whitespace) {
                            Some(i) => {
                                let ws = rest[i..].chars().next().map_or(1, char::len_utf8);
                                parts.push(Value::from(&rest[i + ws..]));
                                rest = rest[..i].trim_end();
                            }
                            None => {
                                parts.push(Value::from(rest));
                                rest = "";
                            }
                        }
                    }
                    parts
                }
            };
            parts.reverse();
            Value::from(parts)
        }
        "removeprefix" => {
            let (p,): (&str,) = from_args(args)?;
            Value::from(s.strip_prefix(p).unwrap_or(s))
        }
        "removesuffix" => {
            let (p,): (&str,) = from_args(args)?;
            Value::from(s.strip_suffix(p).unwrap_or(s))
        }
        "partition" | "rpartition" => {
            let (sep,): (&str,) = from_args(args)?;
            let found = if method == "partition" {
                s.find(sep)
            } else {
                s.rfind(sep)
            };
            let parts: [&str; 3] = match found {
                Some(i) => [&s[..i], sep, &s[i + sep.len()..]],
                None if method == "partition" => [s, "", ""],
                None => ["", "", s],
            };
            Value::from(parts.iter().map(|p| Value::from(*p)).collect::<Vec<_>>())
        }
        "swapcase" => Value::from(
            s.chars()
                .flat_map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<Vec<_>>()
                    } else {
                        c.to_uppercase().collect::<Vec<_>>()
                    }
                })
                .collect::<String>(),
        ),
        _ => return Ok(None),
    };
    Ok(Some(rv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(src: &str, messages: serde_json::Value) -> Result<String, TemplateError> {
        ChatTemplate::new(src, Some("<s>".into()), Some("</s>".into()))?.render(
            &messages,
            None,
            false,
            &serde_json::Map::new(),
        )
    }

    #[test]
    fn float_repr_matches_python() {
        for (f, want) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789.125, "123456789.125"),
            (1e15, "1000000000000000.0"),
            (-2.5, "-2.5"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
        ] {
            assert_eq!(py_float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn tojson_matches_python_layout() {
        let msgs =
            json!([{"role": "user", "content": "é \"q\" <b>", "n": [1, 2.0, true, null], "e": {}}]);
        let out = render("{{ messages[0] | tojson }}", msgs.clone()).unwrap();
        assert_eq!(
            out,
            r#"{"role": "user", "content": "é \"q\" <b>", "n": [1, 2.0, true, null], "e": {}}"#
        );
        let out = render("{{ messages[0].n | tojson(indent=2) }}", msgs.clone()).unwrap();
        assert_eq!(out, "[\n  1,\n  2.0,\n  true,\n  null\n]");
        let out = render(
            "{{ messages[0].content | tojson(ensure_ascii=True) }}",
            msgs,
        )
        .unwrap();
        assert_eq!(out, r#""\u00e9 \"q\" <b>""#);
    }

    #[test]
    fn prints_values_like_python() {
        let msgs = json!([{"a": true, "b": null, "c": {"k": ["x", 1]}, "d": 2.0}]);
        let out = render(
            "{{ messages[0].a }} {{ messages[0].c }} {{ messages[0].d }} {{ none }}",
            msgs,
        )
        .unwrap();
        // `b` was dropped because it is null, as transformers does.
        assert_eq!(out, "True {'k': ['x', 1]} 2.0 None");
    }

    #[test]
    fn raise_exception_is_a_client_error() {
        let err = render(
            "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
            json!([{"role": "system", "content": "x"}]),
        )
        .unwrap_err();
        assert!(matches!(&err, TemplateError::Raised(m) if m == "System role not supported"));
        assert!(err.is_client_error());
    }

    #[test]
    fn syntax_error_at_load() {
        let err = ChatTemplate::new("{% if %}", None, None).unwrap_err();
        assert!(matches!(err, TemplateError::Syntax(_)));
        assert!(!err.is_client_error());
    }

    #[test]
    fn python_string_methods() {
        let src = "{{ 'a,b,c'.rsplit(',', 1) }}|{{ 'héllo'.find('l') }}|{{ 'xyz'.removeprefix('x') }}|{{ '  a b  '.split() }}|{{ ' q '.strip() }}|{{ 'k=v'.partition('=') }}";
        assert_eq!(
            render(src, json!([])).unwrap(),
            "['a,b', 'c']|2|yz|['a', 'b']|q|['k', '=', 'v']"
        );
    }

    #[test]
    fn trims_blocks_and_loops() {
        let src = "{% for m in messages %}\n  {% if not loop.last %}{{ m.content }},{% else %}{{ m.content }}{% endif %}\n{% endfor %}\n";
        let msgs = json!([{"content": "a"}, {"content": "b"}]);
        assert_eq!(render(src, msgs).unwrap(), "a,b");
    }

    #[test]
    fn reasoning_fields_are_aliased() {
        let msgs = json!([{"role": "assistant", "content": "x", "reasoning": "r"}]);
        let out = render("{{ messages[0] | tojson }}", msgs).unwrap();
        assert_eq!(
            out,
            r#"{"thinking": "r", "role": "assistant", "content": "x", "reasoning": "r", "reasoning_content": "r"}"#
        );
    }

    #[test]
    fn fixed_clock() {
        let now =
            NaiveDateTime::parse_from_str("2025-07-26T09:30:15", "%Y-%m-%dT%H:%M:%S").unwrap();
        let t = ChatTemplate::new("{{ strftime_now('%d %b %Y') }}", None, None)
            .unwrap()
            .with_fixed_now(now);
        let out = t
            .render(&json!([]), None, false, &serde_json::Map::new())
            .unwrap();
        assert_eq!(out, "26 Jul 2025");
    }
}
