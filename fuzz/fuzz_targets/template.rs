//! Chat-template rendering with hostile conversations: a chat body (raw
//! JSON from the input, or a message list built by `arbitrary`) goes
//! through the server's own path (`validate::chat_input`, then
//! `conversation::for_template` for the template's tool format, the tool
//! fallback prompt where the template ignores tools, then the render)
//! through the real templates of `tests/data/templates/`. A template may
//! refuse a conversation (an error); it must never panic.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use chrono::NaiveDateTime;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use weir::api::validate;
use weir::parse::{self, ToolFormat};
use weir::tokenize::{conversation, tool_fallback, ChatTemplate};

/// One template of the parity goldens, compiled as the server compiles it.
struct Loaded {
    template: ChatTemplate,
    tools: ToolFormat,
    ignores_tools: bool,
}

/// Every template the parity goldens list, with their bos / eos tokens.
fn templates() -> &'static [Loaded] {
    static ALL: OnceLock<Vec<Loaded>> = OnceLock::new();
    ALL.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/templates");
        let goldens: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/goldens.json")).expect("read goldens.json"),
        )
        .expect("parse goldens.json");
        let now = chrono_now();
        goldens["templates"]
            .as_array()
            .expect("templates")
            .iter()
            .map(|t| {
                let file = t["file"].as_str().expect("file");
                let source =
                    std::fs::read_to_string(format!("{dir}/{file}")).expect("read a template");
                let tok = |k: &str| t[k].as_str().map(str::to_owned);
                let template = ChatTemplate::new(&source, tok("bos_token"), tok("eos_token"))
                    .expect("the parity templates compile")
                    .with_fixed_now(now);
                Loaded {
                    tools: parse::detect(&source).tools,
                    ignores_tools: tool_fallback::template_ignores_tools(&source),
                    template,
                }
            })
            .collect()
    })
}

/// A fixed "now" (the goldens' own), so a run is reproducible.
fn chrono_now() -> NaiveDateTime {
    NaiveDateTime::parse_from_str("2025-07-26T09:30:15", "%Y-%m-%dT%H:%M:%S").expect("fixed now")
}

/// A JSON value small enough to stay readable in a crash report.
#[derive(Arbitrary, Debug)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<String>),
}

impl Scalar {
    fn json(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => json!(b),
            Scalar::Int(i) => json!(i),
            Scalar::Float(f) => json!(f),
            Scalar::Text(s) => json!(s),
            Scalar::List(l) => json!(l),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Part {
    Text(String),
    Image(String),
    Odd(String, Scalar),
}

#[derive(Arbitrary, Debug)]
enum Content {
    Absent,
    Null,
    Text(String),
    Parts(Vec<Part>),
    Odd(Scalar),
}

#[derive(Arbitrary, Debug)]
enum Arguments {
    /// What clients send: a JSON object as a string.
    ObjectText(Vec<(String, Scalar)>),
    /// Any string (often not JSON).
    Text(String),
    /// A bare value instead of a string.
    Value(Scalar),
    /// An object instead of a string (some clients do this).
    Object(Vec<(String, Scalar)>),
}

#[derive(Arbitrary, Debug)]
struct Call {
    id: Option<String>,
    name: Option<String>,
    arguments: Option<Arguments>,
}

#[derive(Arbitrary, Debug)]
struct Message {
    role: Role,
    content: Content,
    name: Option<String>,
    tool_calls: Option<Vec<Call>>,
    tool_call_id: Option<String>,
    reasoning_content: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct Tool {
    name: String,
    description: Option<String>,
    parameters: Vec<(String, String)>,
}

#[derive(Arbitrary, Debug)]
struct Conversation {
    messages: Vec<Message>,
    tools: Option<Vec<Tool>>,
    add_generation_prompt: Option<bool>,
    kwargs: Vec<(String, Scalar)>,
}

fn object(pairs: &[(String, Scalar)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.clone(), v.json())).collect()
}

impl Conversation {
    /// The chat body a client would send.
    fn body(&self) -> Map<String, Value> {
        let messages: Vec<Value> = self.messages.iter().map(Message::json).collect();
        let mut body = Map::new();
        body.insert("model".into(), json!("fuzz-model"));
        body.insert("messages".into(), Value::Array(messages));
        if let Some(tools) = &self.tools {
            let tools: Vec<Value> = tools
                .iter()
                .map(|t| {
                    let props: Map<String, Value> = t
                        .parameters
                        .iter()
                        .map(|(k, ty)| (k.clone(), json!({ "type": ty })))
                        .collect();
                    json!({"type": "function", "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": {"type": "object", "properties": props},
                    }})
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(agp) = self.add_generation_prompt {
            body.insert("add_generation_prompt".into(), json!(agp));
        }
        if !self.kwargs.is_empty() {
            body.insert(
                "chat_template_kwargs".into(),
                Value::Object(object(&self.kwargs)),
            );
        }
        body
    }
}

impl Message {
    fn json(&self) -> Value {
        let role = match &self.role {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Other(s) => s.as_str(),
        };
        let mut m = Map::new();
        m.insert("role".into(), json!(role));
        match &self.content {
            Content::Absent => {}
            Content::Null => {
                m.insert("content".into(), Value::Null);
            }
            Content::Text(s) => {
                m.insert("content".into(), json!(s));
            }
            Content::Parts(parts) => {
                let parts: Vec<Value> = parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => json!({"type": "text", "text": t}),
                        Part::Image(url) => json!({"type": "image_url", "image_url": {"url": url}}),
                        Part::Odd(kind, v) => json!({"type": kind, "text": v.json()}),
                    })
                    .collect();
                m.insert("content".into(), Value::Array(parts));
            }
            Content::Odd(v) => {
                m.insert("content".into(), v.json());
            }
        }
        if let Some(name) = &self.name {
            m.insert("name".into(), json!(name));
        }
        if let Some(calls) = &self.tool_calls {
            let calls: Vec<Value> = calls
                .iter()
                .map(|c| {
                    let mut f = Map::new();
                    if let Some(name) = &c.name {
                        f.insert("name".into(), json!(name));
                    }
                    if let Some(args) = &c.arguments {
                        let args = match args {
                            Arguments::ObjectText(pairs) => {
                                json!(Value::Object(object(pairs)).to_string())
                            }
                            Arguments::Text(s) => json!(s),
                            Arguments::Value(v) => v.json(),
                            Arguments::Object(pairs) => Value::Object(object(pairs)),
                        };
                        f.insert("arguments".into(), args);
                    }
                    let mut call = json!({"type": "function", "function": f});
                    if let Some(id) = &c.id {
                        call["id"] = json!(id);
                    }
                    call
                })
                .collect();
            m.insert("tool_calls".into(), Value::Array(calls));
        }
        if let Some(id) = &self.tool_call_id {
            m.insert("tool_call_id".into(), json!(id));
        }
        if let Some(r) = &self.reasoning_content {
            m.insert("reasoning_content".into(), json!(r));
        }
        Value::Object(m)
    }
}

/// What `EngineHandle::render_chat` does, minus the engine: the wire
/// conversation made template-ready, the tool fallback where the template
/// ignores tools, and the retry with `{}` arguments that names the field.
fn render(loaded: &Loaded, body: &Map<String, Value>) {
    let Ok(chat) = validate::chat_input(body) else {
        return;
    };
    let Ok(messages) = conversation::for_template(&chat.messages, loaded.tools) else {
        return;
    };
    let tools = chat.tools.as_ref();
    let fallback =
        loaded.ignores_tools && tools.is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty()));
    let render = |messages: &Value| match (fallback, tools) {
        (true, Some(t)) => loaded.template.render(
            &tool_fallback::rewrite_messages(
                messages,
                t,
                tool_fallback::FallbackFormat::for_parser(loaded.tools),
            ),
            None,
            chat.add_generation_prompt,
            &chat.template_kwargs,
        ),
        _ => loaded.template.render(
            messages,
            tools,
            chat.add_generation_prompt,
            &chat.template_kwargs,
        ),
    };
    if render(&messages).is_err() && !conversation::unmapped_arguments(&messages).is_empty() {
        let _ = render(&conversation::with_empty_arguments(&messages));
    }
}

fuzz_target!(|data: &[u8]| {
    let [pick, mode, rest @ ..] = data else {
        return;
    };
    let all = templates();
    let loaded = &all[*pick as usize % all.len()];
    if mode % 2 == 0 {
        // Raw JSON: what a client can send byte for byte.
        if let Ok(body) = validate::parse_json_object(rest) {
            render(loaded, &body);
        }
    } else if let Ok(conv) = Conversation::arbitrary_take_rest(Unstructured::new(rest)) {
        render(loaded, &conv.body());
    }
});
