//! A model whose chat template knows no tools still gets them: through the
//! documented fallback system prompt, with calls parsed back in the Hermes
//! format (the `sim` runner scripts the model's reply).

mod common;

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
