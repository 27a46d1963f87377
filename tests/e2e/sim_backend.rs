//! The `sim` runner drives the whole real pipeline (scheduler, stream actors,
//! HTTP) with no arithmetic: echo and scripted replies come back exactly,
//! tokenized with the model's tokenizer and streamed token by token.

use crate::common;

use serde_json::json;

async fn chat(server: &common::TestServer, content: &str, stream: bool) -> String {
    let body = json!({"model": server.model, "stream": stream, "max_tokens": 200,
                      "messages": [{"role": "system", "content": "be brief"},
                                   {"role": "user", "content": content}]});
    if !stream {
        let (status, v) = server.post("/v1/chat/completions", &body).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
        return v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let text = server.post_text("/v1/chat/completions", &body).await;
    assert!(
        text.trim_end().ends_with("data: [DONE]"),
        "the stream does not end with [DONE]: {text}"
    );
    let mut out = String::new();
    let mut chunks = 0;
    let mut finish = None;
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            out.push_str(c);
            chunks += 1;
        }
        if let Some(r) = v["choices"][0]["finish_reason"].as_str() {
            finish = Some(r.to_string());
        }
    }
    assert!(chunks > 2, "streamed token by token: {text}");
    assert_eq!(finish.as_deref(), Some("stop"), "{text}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_repeats_the_last_user_message() {
    let mut cfg = common::config(None);
    cfg.runner = common::sim("echo");
    let server = common::start(cfg).await;
    let msg = "Echo this back, with unicode: naïve café 🚀 and JSON {\"a\": [1, 2]}";
    assert_eq!(chat(&server, msg, false).await, msg);
    assert_eq!(chat(&server, msg, true).await, msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_rules_pick_the_reply_by_regex() {
    let dir = std::env::temp_dir().join(format!("weir-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("rules.json");
    std::fs::write(
        &script,
        json!({"rules": [
            {"match": "(?i)weather", "role": "user", "reply": "It is sunny.\nNo rain today."},
            {"match": "file", "reply": "<tool_call>\n{\"name\": \"write\", \"arguments\": {\"path\": \"a.txt\"}}\n</tool_call>"}
        ], "default": "I do not know."})
        .to_string(),
    )
    .unwrap();
    let mut cfg = common::config(None);
    cfg.runner = common::sim_script(script);
    let server = common::start(cfg).await;
    assert_eq!(
        chat(&server, "What is the WEATHER like?", true).await,
        "It is sunny.\nNo rain today."
    );
    assert!(chat(&server, "make a file", false)
        .await
        .starts_with("<tool_call>\n{\"name\": \"write\""));
    assert_eq!(chat(&server, "hello", false).await, "I do not know.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraints_are_not_applied_to_sim_replies_but_are_still_checked() {
    let mut cfg = common::config(None);
    cfg.runner = common::sim("echo");
    let server = common::start(cfg).await;
    let msg = "not JSON at all";
    let body = |rf: serde_json::Value| {
        json!({"model": server.model, "max_tokens": 50, "response_format": rf,
               "messages": [{"role": "user", "content": msg}]})
    };
    // One-hot replies carry no distribution to mask: the echo comes back as is.
    let (status, v) = server
        .post(
            "/v1/chat/completions",
            &body(json!({"type": "json_object"})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], msg, "{v}");
    // The grammar is still compiled: a schema it rejects is a 400.
    let bad = json!({"type": "json_schema", "json_schema": {"name": "x",
        "schema": {"type": "string", "pattern": "(unclosed"}}});
    let (status, v) = server.post("/v1/chat/completions", &body(bad)).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["error"]["param"], "response_format.json_schema.schema",
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logprob_bytes_rebuild_the_text_across_split_characters() {
    let mut cfg = common::config(None);
    cfg.runner = common::sim("echo");
    let server = common::start(cfg).await;
    let text = "naïve 日本語 🚀 café";
    let (status, body) = server
        .post(
            "/v1/chat/completions",
            &json!({"model": server.model, "messages": [{"role": "user", "content": text}],
                    "max_tokens": 64, "logprobs": true, "top_logprobs": 2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["content"], text);
    let entries = choice["logprobs"]["content"].as_array().expect("logprobs");
    let bytes: Vec<u8> = entries
        .iter()
        .flat_map(|e| e["bytes"].as_array().expect("bytes").iter())
        .map(|b| b.as_u64().expect("byte") as u8)
        .collect();
    // The raw token bytes concatenate to the text, then the end-of-turn
    // token (listed, as vLLM lists it, but not part of the content).
    assert!(bytes.starts_with(text.as_bytes()), "{bytes:?}");
    let rest = &bytes[text.len()..];
    assert!(rest.is_empty() || rest == b"<|im_end|>", "{rest:?}");
    // Some tokens hold only part of a character: their bytes are not UTF-8.
    assert!(
        entries.iter().any(|e| {
            let b: Vec<u8> = e["bytes"]
                .as_array()
                .expect("bytes")
                .iter()
                .map(|b| b.as_u64().unwrap_or(0) as u8)
                .collect();
            std::str::from_utf8(&b).is_err()
        }),
        "the demo tokenizer splits one of these characters"
    );
}
