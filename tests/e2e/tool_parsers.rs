//! The Qwen3-Coder, DeepSeek, gpt-oss (harmony), Kimi K2 and GLM tool-call
//! parsers end to end: the `sim` runner scripts a reply in the model's
//! markup, and the client sees `tool_calls`, streamed and not.

use crate::common;

use std::path::PathBuf;

use serde_json::{json, Value};

/// A ChatML template that mentions `tools` (so no fallback prompt is used).
const CHATML_WITH_TOOLS: &str = "{% if tools %}<|im_start|>system\n{{ tools | tojson }}<|im_end|>\n{% endif %}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// A demo model under a fresh directory named `tag`, with `template` as its
/// chat template, and a sim script whose every reply is `reply`.
fn model_with(tag: &str, template: &str, reply: &str) -> (PathBuf, PathBuf) {
    let root = std::env::temp_dir().join(format!("weir-{tag}-{}", std::process::id()));
    let dir = weir::model::demo::ensure_demo_model(&root).expect("demo model");
    let cfg_path = dir.join("tokenizer_config.json");
    let mut tc: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).expect("read")).expect("json");
    tc["chat_template"] = json!(template);
    std::fs::write(&cfg_path, tc.to_string()).expect("write config");
    let script = root.join("script.json");
    std::fs::write(&script, json!({"rules": [], "default": reply}).to_string())
        .expect("write script");
    (dir, script)
}

async fn serve(dir: PathBuf, script: PathBuf, parser: &str) -> common::TestServer {
    let mut cfg = common::config(Some(dir));
    cfg.tool_call_parser = parser.into();
    cfg.runner = common::sim_script(script);
    common::start(cfg).await
}

/// (content, [(name, arguments)], finish_reason) of one chat turn.
async fn turn(
    server: &common::TestServer,
    tools: &Value,
    stream: bool,
) -> (String, Vec<(String, String)>, String) {
    let body = json!({"model": server.model, "stream": stream, "tools": tools,
                      "messages": [{"role": "user", "content": "weather in Paris?"}]});
    if !stream {
        let (status, v) = server.post("/v1/chat/completions", &body).await;
        assert_eq!(status, 200, "{v}");
        let choice = &v["choices"][0];
        let calls = choice["message"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["function"]["name"].as_str().unwrap_or("").to_string(),
                    c["function"]["arguments"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect();
        let content = choice["message"]["content"].as_str().unwrap_or("");
        let reason = choice["finish_reason"].as_str().unwrap_or("");
        return (content.to_string(), calls, reason.to_string());
    }
    let text = server.post_text("/v1/chat/completions", &body).await;
    assert!(
        text.trim_end().ends_with("data: [DONE]"),
        "the stream does not end with [DONE]: {text}"
    );
    let (mut content, mut calls, mut reason) = (String::new(), Vec::new(), String::new());
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(line).expect("chunk is JSON");
        let choice = &v["choices"][0];
        if let Some(c) = choice["delta"]["content"].as_str() {
            content.push_str(c);
        }
        for c in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = c["index"].as_u64().expect("index") as usize;
            if i == calls.len() {
                calls.push((String::new(), String::new()));
            }
            if let Some(n) = c["function"]["name"].as_str() {
                calls[i].0.push_str(n);
            }
            if let Some(a) = c["function"]["arguments"].as_str() {
                calls[i].1.push_str(a);
            }
        }
        if let Some(r) = choice["finish_reason"].as_str() {
            reason = r.to_string();
        }
    }
    (content, calls, reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen3_coder_calls_detected_from_the_template() {
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/templates/Qwen3-Coder.jinja"),
    )
    .expect("template");
    let reply = "Checking.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>";
    let (dir, script) = model_with("qwen3-coder", &template, reply);
    let server = serve(dir, script, "auto").await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"}}}}}]);
    for stream in [false, true] {
        let (content, calls, reason) = turn(&server, &tools, stream).await;
        assert_eq!(content, "Checking.\n", "stream={stream}");
        assert_eq!(
            calls,
            vec![(
                "get_weather".to_string(),
                r#"{"city":"Paris","days":3}"#.to_string()
            )],
            "stream={stream}"
        );
        assert_eq!(reason, "tool_calls", "stream={stream}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deepseek_calls_with_the_parser_named() {
    let reply = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{\"tz\":\"CET\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
    let (dir, script) = model_with("deepseek", CHATML_WITH_TOOLS, reply);
    let server = serve(dir, script, "deepseek_v3").await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather"}},
                       {"type": "function", "function": {"name": "get_time"}}]);
    for stream in [false, true] {
        let (content, calls, reason) = turn(&server, &tools, stream).await;
        assert_eq!(content, "", "stream={stream}");
        assert_eq!(
            calls,
            vec![
                ("get_weather".to_string(), r#"{"city":"Paris"}"#.to_string()),
                ("get_time".to_string(), r#"{"tz":"CET"}"#.to_string())
            ],
            "stream={stream}"
        );
        assert_eq!(reason, "tool_calls", "stream={stream}");
    }
}

/// The chat template `name` from tests/data/templates.
fn real_template(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/templates")
            .join(name),
    )
    .expect("template")
}

/// Each new family's real template is detected, and its markup becomes
/// `tool_calls` (GLM's values typed by the offered tools' schemas).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpt_oss_kimi_and_glm_calls_detected_from_their_templates() {
    // gpt-oss's template reads the description.
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "The weather of a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"}}}}}]);
    let want = vec![(
        "get_weather".to_string(),
        r#"{"city":"Paris","days":3}"#.to_string(),
    )];
    let cases = [
        (
            "gpt-oss",
            "openai-gpt-oss-120b.jinja",
            "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary<|message|>Checking.<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Paris\", \"days\": 3}<|call|>",
            "Checking.",
        ),
        (
            "kimi-k2",
            "moonshotai-Kimi-K2.jinja",
            "Checking.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"city\": \"Paris\", \"days\": 3}<|tool_call_end|><|tool_calls_section_end|>",
            "Checking.",
        ),
        (
            "glm",
            "GLM-4.6.jinja",
            "\n<think>Need the weather.</think>\nChecking.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>",
            "Checking.\n",
        ),
    ];
    for (tag, template, reply, content_want) in cases {
        let (dir, script) = model_with(tag, &real_template(template), reply);
        let server = serve(dir, script, "auto").await;
        for stream in [false, true] {
            let (content, calls, reason) = turn(&server, &tools, stream).await;
            assert_eq!(content, content_want, "{tag} stream={stream}");
            assert_eq!(calls, want, "{tag} stream={stream}");
            assert_eq!(reason, "tool_calls", "{tag} stream={stream}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tool_call_parser_is_refused() {
    let mut cfg = common::config(None);
    cfg.runner = common::sim("echo");
    cfg.tool_call_parser = "deepseek_v4".into();
    let err = weir::runtime::start(cfg).await.err().expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("qwen3_coder") && msg.contains("deepseek_v31") && msg.contains("glm45"),
        "{msg}"
    );
}

/// Each family's sample outputs, cut in two at every char boundary and fed
/// one char at a time, give the same deltas as the whole text in one piece
/// (adjacent text and argument deltas joined: a cut may only split a delta,
/// never move, add or drop anything).
#[test]
fn every_family_gives_the_same_deltas_however_the_text_is_cut() {
    use weir::parse::{build, ParsedDelta, ReasoningFormat, ToolFormat};

    /// Joins adjacent `Content`, adjacent `Reasoning` and adjacent argument
    /// pieces of one call.
    fn joined(deltas: Vec<ParsedDelta>) -> Vec<ParsedDelta> {
        let mut out: Vec<ParsedDelta> = Vec::new();
        for d in deltas {
            match (out.last_mut(), d) {
                (Some(ParsedDelta::Content(a)), ParsedDelta::Content(b))
                | (Some(ParsedDelta::Reasoning(a)), ParsedDelta::Reasoning(b)) => a.push_str(&b),
                (
                    Some(ParsedDelta::ToolCallArguments { index: i, text: a }),
                    ParsedDelta::ToolCallArguments { index: j, text: b },
                ) if *i == j => a.push_str(&b),
                (_, d) => out.push(d),
            }
        }
        out
    }

    let tools = json!([{"type": "function", "function": {"name": "write",
        "parameters": {"type": "object", "properties": {
            "path": {"type": "string"}, "content": {"type": "string"},
            "line": {"type": "integer"}}}}}]);
    let samples: &[(ToolFormat, ReasoningFormat, bool, &str)] = &[
        (ToolFormat::Hermes, ReasoningFormat::None, false,
         "I'll check both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}\n</tool_call>"),
        (ToolFormat::Hermes, ReasoningFormat::Think, false,
         "<think>\nThe user wants the weather; call the tool.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich 🚀\"}}\n</tool_call>\n\nDone."),
        (ToolFormat::Hermes, ReasoningFormat::None, false,
         "Not a call: <tool_call>{\"name\": }</tool_call> and <tool_ then text"),
        (ToolFormat::Qwen3Coder, ReasoningFormat::None, false,
         "Writing it.\n<tool_call>\n<function=write>\n<parameter=path>\nsrc/main.rs\n</parameter>\n<parameter=content>\nfn main() {\n    println!(\"<tool_call> naïve\");\n}\n</parameter>\n<parameter=line>\n3\n</parameter>\n</function>\n</tool_call>"),
        (ToolFormat::Llama3, ReasoningFormat::None, false,
         "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}; {\"name\": \"get_time\", \"parameters\": {\"tz\": \"é\"}}"),
        (ToolFormat::Llama3, ReasoningFormat::None, false,
         "The answer is {probably} 42, naïve 🚀."),
        (ToolFormat::Mistral, ReasoningFormat::None, false,
         "Checking.[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"n\": [1, 2]}}, {\"name\": \"b\", \"arguments\": {}}]"),
        (ToolFormat::Mistral, ReasoningFormat::Think, false,
         "<think>plan</think>[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{}\n\nok [TOOL_CALLS]!"),
        (ToolFormat::DeepSeek, ReasoningFormat::Think, false,
         "<think>\nNeed the weather.\n</think>\n\nSure.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
        (ToolFormat::DeepSeek, ReasoningFormat::Think, true,
         "plan</think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁call▁begin｜>bad name<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
        (ToolFormat::Harmony, ReasoningFormat::Harmony, false,
         "<|channel|>analysis<|message|>Write it, naïve 🚀.<|end|><|start|>assistant to=functions.write<|channel|>commentary json<|message|>{\"path\": \"a.rs\", \"content\": \"fn main() {}\\n\", \"line\": 3}<|call|>"),
        (ToolFormat::Harmony, ReasoningFormat::Harmony, false,
         "<|channel|>analysis<|message|>Greet.<|end|><|start|>assistant<|channel|>final<|message|>Hello <|chan naïve 🚀."),
        (ToolFormat::KimiK2, ReasoningFormat::Think, false,
         "<think>plan</think>Sure.<|tool_calls_section_begin|><|tool_call_begin|>functions.write:0<|tool_call_argument_begin|>{\"path\": \"a.rs\"}<|tool_call_end|><|tool_call_begin|>functions.write:1<|tool_call_argument_begin|>{\"line\": 3}<|tool_call_end|><|tool_calls_section_end|>"),
        (ToolFormat::Glm, ReasoningFormat::Think, false,
         "\n<think>plan</think>\nWriting.\n<tool_call>write\n<arg_key>path</arg_key>\n<arg_value>src/main.rs</arg_value>\n<arg_key>content</arg_key>\n<arg_value>fn main() {\n    println!(\"<tool_call> naïve\");\n}\n</arg_value>\n<arg_key>line</arg_key>\n<arg_value>3</arg_value>\n</tool_call>"),
    ];
    for &(tool_format, reasoning, open, text) in samples {
        let run = |pieces: &[&str]| {
            let mut p = build(tool_format, reasoning, open, 9, Some(&tools));
            let mut deltas = Vec::new();
            for piece in pieces {
                deltas.extend(p.push(piece));
            }
            deltas.extend(p.finish());
            (joined(deltas), p.saw_tool_calls())
        };
        let whole = run(&[text]);
        assert!(
            text.contains("Not a call") || text.contains("naïve 🚀.") || whole.1,
            "{tool_format:?} sample has no call: {whole:?}"
        );
        for cut in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let got = run(&[&text[..cut], &text[cut..]]);
            assert_eq!(got, whole, "{tool_format:?} cut at {cut} of {text:?}");
        }
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let pieces: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(
            run(&pieces),
            whole,
            "{tool_format:?} char by char: {text:?}"
        );
    }
}
