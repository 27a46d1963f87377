//! A model whose chat template knows no tools still gets them: through the
//! documented fallback system prompt, in the markup its output parser reads
//! (Hermes, or DeepSeek's for the DeepSeek templates), with calls parsed
//! back from it (the `sim` runner scripts the model's reply).

use crate::common;

use serde_json::{json, Value};

const PLAIN_CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_reach_a_template_without_tool_support() {
    let root = std::env::temp_dir().join(format!("weir-fallback-{}", std::process::id()));
    let dir = weir::model::demo::ensure_demo_model(&root).expect("demo model");
    let cfg_path = dir.join("tokenizer_config.json");
    let mut tc: Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    tc["chat_template"] = json!(PLAIN_CHATML);
    std::fs::write(&cfg_path, tc.to_string()).unwrap();
    let script = root.join("script.json");
    std::fs::write(
        &script,
        json!({"rules": [{"match": "weather", "reply":
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"}],
            "default": "ok"})
        .to_string(),
    )
    .unwrap();
    let mut cfg = common::config(Some(dir));
    cfg.runner = common::sim_script(script);
    let server = common::start(cfg).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let messages = json!([{"role": "user", "content": "weather in Oslo?"}]);

    let (status, rendered) = server
        .post(
            "/tokenize",
            &json!({"model": server.model, "messages": messages, "tools": tools}),
        )
        .await;
    assert_eq!(status, 200, "{rendered}");
    let prompt = rendered["prompt"].as_str().unwrap();
    assert!(
        prompt.starts_with("<|im_start|>system\n# Tools"),
        "{prompt}"
    );
    assert!(prompt.contains("\"name\":\"get_weather\""), "{prompt}");

    let (status, v) = server
        .post(
            "/v1/chat/completions",
            &json!({"model": server.model, "messages": messages, "tools": tools}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Oslo\"}");

    // The next turn carries the call and its result as text the template can hold.
    let turn2 = json!([
        {"role": "user", "content": "weather in Oslo?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "rainy"}]);
    let (status, rendered) = server
        .post(
            "/tokenize",
            &json!({"model": server.model, "messages": turn2, "tools": tools}),
        )
        .await;
    assert_eq!(status, 200, "{rendered}");
    let prompt = rendered["prompt"].as_str().unwrap();
    assert!(
        prompt.contains("<tool_response>\nrainy\n</tool_response>"),
        "{prompt}"
    );
    assert!(
        prompt.contains("<tool_call>\n{\"name\":\"get_weather\""),
        "{prompt}"
    );
}

/// A prepared agent turn in the wire form: one call, its result.
fn deepseek_turn() -> (Value, Value) {
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let messages = json!([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "weather in Oslo?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0a1b2c3d4e5f60718293a4b5",
            "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_0a1b2c3d4e5f60718293a4b5", "content": "rainy"},
    ]);
    (messages, tools)
}

fn deepseek_template(file: &str) -> weir::tokenize::ChatTemplate {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/templates")
        .join(file);
    let source = std::fs::read_to_string(&path).expect("template");
    weir::tokenize::ChatTemplate::new(
        &source,
        Some("<｜begin▁of▁sentence｜>".into()),
        Some("<｜end▁of▁sentence｜>".into()),
    )
    .expect("compiles")
}

/// Every call the DeepSeek parser reads from `text`, as (name, arguments).
fn deepseek_calls(text: &str) -> Vec<(String, String)> {
    use weir::parse::{ReasoningFormat, ToolFormat};
    let mut parser =
        weir::parse::build(ToolFormat::DeepSeek, ReasoningFormat::None, false, 7, None);
    let mut deltas = parser.push(text);
    deltas.extend(parser.finish());
    weir::parse::whole_calls(&deltas)
        .into_iter()
        .map(|c| (c.name, c.arguments))
        .collect()
}

#[test]
fn deepseek_templates_get_deepseek_markup_that_the_parser_reads() {
    use weir::parse::ToolFormat;
    use weir::tokenize::conversation::for_template;
    use weir::tokenize::tool_fallback::{rewrite_messages, template_ignores_tools, FallbackFormat};

    let (messages, tools) = deepseek_turn();
    for file in [
        "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
        "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
        "deepseek-ai-DeepSeek-V3.1.jinja",
    ] {
        let template = deepseek_template(file);
        let detected = weir::parse::detect(template.source()).tools;
        assert_eq!(detected, ToolFormat::DeepSeek, "{file}");
        assert!(template_ignores_tools(template.source()), "{file}");
        let format = FallbackFormat::for_parser(detected);
        assert_eq!(format.parser(), ToolFormat::DeepSeek);

        let prepared = for_template(&messages, detected).expect("prepared");
        let rewritten = rewrite_messages(&prepared, &tools, format);
        let prompt = template
            .render(&rewritten, None, true, &serde_json::Map::new())
            .unwrap_or_else(|e| panic!("{file}: {e}"));

        // The documented tool prompt, after the system text.
        assert!(
            prompt.starts_with(
                "<｜begin▁of▁sentence｜>Be brief.\n\n## Tools\nYou have access to the following tools:\n\n\
                 ### get_weather\nDescription: Weather of a city.\n\n\
                 Parameters: {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}\n\n\
                 IMPORTANT: ALWAYS adhere to this exact format for tool use:\n\
                 <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>tool_call_name<｜tool▁sep｜>tool_call_arguments<｜tool▁call▁end｜>\
                 {additional_tool_calls}<｜tool▁calls▁end｜>\n"
            ),
            "{file}: {prompt}"
        );
        assert!(!prompt.contains("<tool_call>"), "{file}: no Hermes markup");
        // The earlier call in the same markup, its arguments a mapping (not
        // the wire string), and its result in DeepSeek's output markup.
        let call = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Oslo\"}\
                    <｜tool▁call▁end｜><｜tool▁calls▁end｜>";
        assert!(prompt.contains(call), "{file}: {prompt}");
        assert!(
            prompt.contains("<｜User｜><｜tool▁output▁begin｜>rainy<｜tool▁output▁end｜>"),
            "{file}: {prompt}"
        );
        // What the prompt shows, the parser reads back.
        assert_eq!(
            deepseek_calls(call),
            [("get_weather".to_string(), "{\"city\":\"Oslo\"}".to_string())],
            "{file}"
        );
        // And so is the format line, filled in as the prompt says: two calls
        // chained without separators.
        let two = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜>\
                   <｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Rome\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
        assert_eq!(deepseek_calls(two).len(), 2, "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deepseek_model_without_tool_support_gets_its_calls_parsed() {
    let root = std::env::temp_dir().join(format!("weir-fallback-ds-{}", std::process::id()));
    let dir = weir::model::demo::ensure_demo_model(&root).expect("demo model");
    let cfg_path = dir.join("tokenizer_config.json");
    let mut tc: Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    tc["chat_template"] =
        json!(deepseek_template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja").source());
    std::fs::write(&cfg_path, tc.to_string()).unwrap();
    let script = root.join("script.json");
    // The template opens `<think>`; the model closes it and calls in the
    // markup the fallback prompt asked for.
    std::fs::write(
        &script,
        json!({"rules": [{"match": "weather", "reply":
            "Oslo, then.</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Oslo\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"}],
            "default": "ok"})
        .to_string(),
    )
    .unwrap();
    let mut cfg = common::config(Some(dir));
    cfg.runner = common::sim_script(script);
    let server = common::start(cfg).await;
    let (messages, tools) = deepseek_turn();
    let first_turn = json!([messages[1]]);

    let (status, rendered) = server
        .post(
            "/tokenize",
            &json!({"model": server.model, "messages": messages, "tools": tools}),
        )
        .await;
    assert_eq!(status, 200, "{rendered}");
    let prompt = rendered["prompt"].as_str().unwrap();
    assert!(
        prompt.contains(
            "IMPORTANT: ALWAYS adhere to this exact format for tool use:\n<｜tool▁calls▁begin｜>"
        ),
        "{prompt}"
    );
    assert!(
        prompt.contains("<｜tool▁output▁begin｜>rainy<｜tool▁output▁end｜>"),
        "{prompt}"
    );

    let (status, v) = server
        .post(
            "/v1/chat/completions",
            &json!({"model": server.model, "messages": first_turn, "tools": tools}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather", "{v}");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Oslo\"}");
    assert!(
        !choice["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("tool▁call"),
        "{v}"
    );
}
