//! Constrained decoding end to end: a real (random-weight) tiny model, whose
//! free output is garbage, answers in the requested JSON schema and calls
//! the forced tool with arguments that satisfy its schema.

use crate::common;

use serde_json::{json, Value};

async fn server() -> common::TestServer {
    common::start(common::config(Some(common::model_dir("qwen2-bf16")))).await
}

fn forecast_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 12},
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
            "metric": {"type": "boolean"}
        },
        "required": ["city", "days", "metric"],
        "additionalProperties": false
    })
}

/// Check a value against [`forecast_schema`].
fn check_forecast(v: &Value) {
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    assert_eq!(o.len(), 3, "{v}");
    let city = o["city"].as_str().unwrap_or_else(|| panic!("city: {v}"));
    assert!(city.chars().count() <= 12, "{v}");
    let days = o["days"].as_i64().unwrap_or_else(|| panic!("days: {v}"));
    assert!((1..=14).contains(&days), "{v}");
    assert!(o["metric"].is_boolean(), "{v}");
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object",
                "properties": {"city": {"type": "string", "maxLength": 10},
                               "unit": {"enum": ["c", "f"]}},
                "required": ["city", "unit"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "get_time",
            "parameters": {"type": "object",
                "properties": {"zone": {"type": "string", "maxLength": 6}},
                "required": ["zone"], "additionalProperties": false}}}
    ])
}

fn messages() -> Value {
    json!([{"role": "user", "content": "What is the weather in Oslo?"}])
}

/// Check one tool call's arguments against its tool's schema in [`tools`].
fn check_call(call: &Value) -> String {
    assert_eq!(call["type"], "function", "{call}");
    assert!(call["id"].as_str().unwrap().starts_with("call_"), "{call}");
    let name = call["function"]["name"].as_str().unwrap().to_string();
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("arguments do not parse ({e}): {call}"));
    let o = args.as_object().unwrap();
    match name.as_str() {
        "get_weather" => {
            assert_eq!(o.len(), 2, "{args}");
            assert!(o["city"].as_str().unwrap().chars().count() <= 10, "{args}");
            assert!(o["unit"] == "c" || o["unit"] == "f", "{args}");
        }
        "get_time" => {
            assert_eq!(o.len(), 1, "{args}");
            assert!(o["zone"].as_str().unwrap().chars().count() <= 6, "{args}");
        }
        other => panic!("a call to a tool never offered: {other}"),
    }
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_output_follows_the_schema() {
    let s = server().await;
    let rf = json!({"type": "json_schema",
        "json_schema": {"name": "forecast", "strict": true, "schema": forecast_schema()}});
    // Greedy, then seeded sampling with several choices (each its own grammar state).
    for extra in [
        json!({"temperature": 0}),
        json!({"temperature": 1.0, "seed": 7, "n": 3}),
        json!({"temperature": 0.8, "top_p": 0.9, "seed": 12345, "n": 2}),
    ] {
        let mut body = json!({"model": s.model, "messages": messages(),
            "response_format": rf, "max_tokens": 80});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, v) = s.post("/v1/chat/completions", &body).await;
        assert_eq!(status, 200, "{v}");
        for choice in v["choices"].as_array().unwrap() {
            assert_eq!(choice["finish_reason"], "stop", "{v}");
            let content = choice["message"]["content"].as_str().unwrap();
            let parsed: Value = serde_json::from_str(content)
                .unwrap_or_else(|e| panic!("content is not JSON ({e}): {content:?}"));
            check_forecast(&parsed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_object_output_is_an_object() {
    let s = server().await;
    for extra in [json!({"temperature": 0}), json!({"seed": 3, "n": 2})] {
        let mut body = json!({"model": s.model, "messages": messages(),
            "response_format": {"type": "json_object"}, "max_tokens": 200});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, v) = s.post("/v1/chat/completions", &body).await;
        assert_eq!(status, 200, "{v}");
        for choice in v["choices"].as_array().unwrap() {
            let content = choice["message"]["content"].as_str().unwrap();
            assert_eq!(choice["finish_reason"], "stop", "{content:?}");
            let parsed: Value = serde_json::from_str(content)
                .unwrap_or_else(|e| panic!("content is not JSON ({e}): {content:?}"));
            assert!(parsed.is_object(), "{content:?}");
        }
    }
    // The legacy completions endpoint takes response_format too.
    let (status, v) = s
        .post(
            "/v1/completions",
            &json!({"model": s.model, "prompt": "Weather:", "max_tokens": 60,
                "temperature": 0, "response_format": {"type": "json_schema",
                "json_schema": {"name": "f", "schema": forecast_schema()}}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let text = v["choices"][0]["text"].as_str().unwrap();
    check_forecast(&serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text:?}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_tool_choice_gets_exactly_that_call() {
    let s = server().await;
    for extra in [
        json!({"temperature": 0}),
        json!({"temperature": 1.0, "seed": 99, "n": 2}),
    ] {
        let mut body = json!({"model": s.model, "messages": messages(), "tools": tools(),
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "max_tokens": 80});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, v) = s.post("/v1/chat/completions", &body).await;
        assert_eq!(status, 200, "{v}");
        for choice in v["choices"].as_array().unwrap() {
            assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
            let calls = choice["message"]["tool_calls"].as_array().unwrap();
            assert_eq!(calls.len(), 1, "{v}");
            assert_eq!(check_call(&calls[0]), "get_weather");
            let content = &choice["message"]["content"];
            assert!(
                content.is_null() || content.as_str().is_some_and(|c| c.trim().is_empty()),
                "{v}"
            );
        }
    }
}

/// A forced call cut off by `max_tokens` inside its arguments: the reply
/// ends with `length`, the partial call is in `tool_calls`, and none of its
/// markup is in `content`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_call_cut_off_by_max_tokens_is_a_partial_call() {
    let s = server().await;
    let mut cut_in_arguments = 0;
    for max_tokens in [1, 3, 6, 9, 12, 16, 20, 24, 28] {
        let body = json!({"model": s.model, "messages": messages(), "tools": tools(),
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "max_tokens": max_tokens, "temperature": 0});
        let (status, v) = s.post("/v1/chat/completions", &body).await;
        assert_eq!(status, 200, "{v}");
        let choice = &v["choices"][0];
        if choice["finish_reason"] != "length" {
            continue;
        }
        let content = &choice["message"]["content"];
        assert!(
            content.is_null() || content.as_str().is_some_and(|c| c.trim().is_empty()),
            "markup in content: {v}"
        );
        let calls = choice["message"]["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if calls.is_empty() {
            continue;
        }
        assert_eq!(calls.len(), 1, "{v}");
        assert_eq!(calls[0]["function"]["name"], "get_weather", "{v}");
        let args = calls[0]["function"]["arguments"].as_str().unwrap();
        assert!(args.starts_with('{'), "{v}");
        if serde_json::from_str::<Value>(args).is_err() {
            cut_in_arguments += 1;
        }
    }
    assert!(
        cut_in_arguments > 0,
        "no max_tokens cut a call inside its arguments"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_tool_choice_gets_calls_to_offered_tools() {
    let s = server().await;
    for extra in [
        json!({"temperature": 0}),
        json!({"temperature": 1.0, "seed": 5, "n": 3}),
    ] {
        let mut body = json!({"model": s.model, "messages": messages(), "tools": tools(),
            "tool_choice": "required", "max_tokens": 120});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, v) = s.post("/v1/chat/completions", &body).await;
        assert_eq!(status, 200, "{v}");
        for choice in v["choices"].as_array().unwrap() {
            // A choice may run out of tokens after its first complete call:
            // then its last call is cut off (its arguments do not parse).
            let reason = choice["finish_reason"].as_str().unwrap();
            assert!(reason == "tool_calls" || reason == "length", "{v}");
            let calls = choice["message"]["tool_calls"].as_array().unwrap();
            assert!(!calls.is_empty(), "{v}");
            let (last, done) = calls.split_last().unwrap();
            for call in done {
                check_call(call);
            }
            let last_args = last["function"]["arguments"].as_str().unwrap();
            if reason == "length" && serde_json::from_str::<Value>(last_args).is_err() {
                assert!(last["id"].as_str().unwrap().starts_with("call_"), "{v}");
                assert!(last_args.starts_with('{'), "{v}");
            } else {
                check_call(last);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_without_parallel_calls_gets_exactly_one_call() {
    let s = server().await;
    let (status, v) = s
        .post(
            "/v1/chat/completions",
            &json!({"model": s.model, "messages": messages(), "tools": tools(),
                "tool_choice": "required", "parallel_tool_calls": false,
                "max_tokens": 80, "seed": 21, "n": 4}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    for choice in v["choices"].as_array().unwrap() {
        assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
        let calls = choice["message"]["tool_calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{v}");
        check_call(&calls[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_forced_call_arrives_in_pieces_that_join_to_the_call() {
    let s = server().await;
    let resp = s
        .http
        .post(format!("{}/v1/chat/completions", s.base))
        .json(
            &json!({"model": s.model, "messages": messages(), "tools": tools(),
            "tool_choice": {"type": "function", "function": {"name": "get_time"}},
            "max_tokens": 60, "temperature": 0, "stream": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        text.trim_end().ends_with("data: [DONE]"),
        "the stream does not end with [DONE]: {text}"
    );
    // Join the pieces as the AI SDK does: the first delta of an index
    // carries id, type and name; later ones only append arguments, and the
    // arguments never parse before the last piece.
    let mut calls: Vec<Value> = Vec::new();
    let mut pieces = 0;
    let mut finish = None;
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(line).unwrap();
        let choice = &chunk["choices"][0];
        for tc in choice["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = tc["index"].as_u64().unwrap() as usize;
            let piece = tc["function"]["arguments"].as_str().unwrap();
            if index == calls.len() {
                assert!(
                    tc["id"].is_string() && tc["function"]["name"].is_string(),
                    "{tc}"
                );
                calls.push(tc.clone());
            } else {
                assert_eq!(index + 1, calls.len(), "{text}");
                assert!(
                    tc.get("id").is_none() && tc["function"].get("name").is_none(),
                    "{tc}"
                );
                let args = calls[index]["function"]["arguments"].as_str().unwrap();
                assert!(
                    serde_json::from_str::<Value>(args).is_err(),
                    "arguments went on after they parsed: {text}"
                );
                calls[index]["function"]["arguments"] = Value::String(format!("{args}{piece}"));
            }
            pieces += 1;
        }
        if let Some(r) = choice["finish_reason"].as_str() {
            finish = Some(r.to_string());
        }
    }
    assert_eq!(finish.as_deref(), Some("tool_calls"), "{text}");
    assert_eq!(calls.len(), 1, "{text}");
    assert!(pieces > 2, "the call was not streamed: {text}");
    assert_eq!(check_call(&calls[0]), "get_time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_the_library_rejects_are_400s_naming_the_field() {
    let s = server().await;
    let bad = json!({"type": "object",
        "properties": {"a": {"type": "string", "pattern": "(unclosed"}}});
    let (status, v) = s
        .post(
            "/v1/chat/completions",
            &json!({"model": s.model, "messages": messages(), "response_format":
                {"type": "json_schema", "json_schema": {"name": "x", "schema": bad}}}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["error"]["param"], "response_format.json_schema.schema",
        "{v}"
    );
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("response_format.json_schema.schema"), "{msg}");

    let mut t = tools();
    t[1]["function"]["parameters"] = bad;
    let (status, v) = s
        .post(
            "/v1/chat/completions",
            &json!({"model": s.model, "messages": messages(), "tools": t,
                "tool_choice": "required"}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["param"], "tools[1].function.parameters", "{v}");

    for (rf, param) in [
        (json!({"type": "xml"}), "response_format.type"),
        (
            json!({"type": "json_schema"}),
            "response_format.json_schema",
        ),
        (
            json!({"type": "json_schema", "json_schema": {"schema": 3}}),
            "response_format.json_schema.schema",
        ),
        (json!("json"), "response_format"),
    ] {
        let (status, v) = s
            .post(
                "/v1/chat/completions",
                &json!({"model": s.model, "messages": messages(), "response_format": rf}),
            )
            .await;
        assert_eq!(status, 400, "{rf}: {v}");
        assert_eq!(v["error"]["param"], param, "{rf}: {v}");
    }
}

async fn constrained_completion(s: &common::TestServer, seed: u64) -> (String, Value) {
    let (status, v) = s
        .post(
            "/v1/completions",
            &json!({"model": s.model, "prompt": format!("Forecast {seed}:"), "max_tokens": 40,
                "temperature": 1.0, "seed": seed, "return_token_ids": true,
                "response_format": {"type": "json_schema",
                    "json_schema": {"name": "f", "schema": forecast_schema()}}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "stop", "{v}");
    (
        choice["text"].as_str().unwrap().to_string(),
        choice["token_ids"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preempted_constrained_sequences_keep_their_grammar_state() {
    let model = common::model_dir("qwen2-bias");
    let reference = common::start(common::config(Some(model.clone()))).await;
    let mut alone = Vec::new();
    for seed in 0..8 {
        alone.push(constrained_completion(&reference, seed).await);
    }
    // 6 blocks of 16 slots cannot hold 8 sequences of ~30 tokens: the
    // scheduler preempts and the executor rebuilds grammar states by replay.
    let mut cfg = common::config(Some(model));
    cfg.num_kv_blocks = Some(6);
    cfg.max_model_len = Some(64);
    let server = common::start(cfg).await;
    let handles: Vec<_> = (0..8)
        .map(|seed| {
            let s = server.clone();
            tokio::spawn(async move { constrained_completion(&s, seed).await })
        })
        .collect();
    for (seed, h) in handles.into_iter().enumerate() {
        let (text, ids) = h.await.expect("task");
        check_forecast(&serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}")));
        assert_eq!(
            (text, ids),
            alone[seed],
            "seed {seed} changed under preemption"
        );
    }
    let metrics = server.metrics().await;
    let preemptions = common::TestServer::metric(&metrics, "vllm:num_preemptions_total");
    assert!(
        preemptions > 0.0,
        "the tiny cache should have forced preemptions"
    );
}
