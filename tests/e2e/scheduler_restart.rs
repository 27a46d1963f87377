//! A panic in the scheduler does not take the engine down: the requests in
//! flight fail with an error saying the engine restarted (a 500 with an
//! OpenAI error body, or an error frame on a stream), their usage is still
//! recorded once, the scheduler comes back with a clean KV cache, `/health`
//! stays 200, the next request is answered exactly as before, and
//! `weir:engine_restarts_total` counts the restart. The panic is real,
//! raised inside the scheduler through its test-only hook, behind the real
//! HTTP server and the `sim` runner.

use crate::common;

use std::time::Duration;

use serde_json::{json, Value};
use weir::runner::sim::SimSpeed;
use weir::runtime::RunnerKind;

/// Echo replies at `step_ms` a step: a long request is still running when
/// the panic comes, and a step is almost always in flight.
async fn slow_echo_server(step_ms: f64) -> common::TestServer {
    let mut cfg = common::config(None);
    cfg.runner = RunnerKind::Sim {
        mode: "echo".into(),
        script: None,
        speed: SimSpeed {
            prefill_us_per_token: 0.0,
            decode_step_us: step_ms * 1000.0,
            decode_us_per_seq: 0.0,
        },
    };
    common::start(cfg).await
}

/// A chat request as an OpenAI client sends it; `long` ones ignore eos and
/// would run for many seconds.
fn chat(model: &str, content: &str, stream: bool, long: bool) -> Value {
    let mut body = json!({
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 900,
        "stream": stream,
    });
    if long {
        body["ignore_eos"] = json!(true);
    }
    body
}

/// The value of the first metric line starting with `prefix` (labels
/// included), NaN when absent.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Wait (up to 10 s) until `/metrics` satisfies `ok`; returns the last text.
async fn metrics_until(server: &common::TestServer, ok: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..200 {
        text = server.metrics().await;
        if ok(&text) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    text
}

/// At most 30 s: a request the engine forgot must fail the test, not hang it.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end within 30 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_panic_fails_requests_in_flight_and_the_engine_heals() {
    let server = slow_echo_server(20.0).await;
    let prompt = "Tell me about the weather in Lisbon.";

    // What the engine answers before anything goes wrong.
    let (status, before) = server
        .post(
            "/v1/chat/completions",
            &chat(&server.model, prompt, false, false),
        )
        .await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["choices"][0]["message"]["content"], prompt);

    // A streamed request, running: its first chunk has come.
    let mut streamed = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&chat(&server.model, "stream me", true, true))
        .send()
        .await
        .expect("stream request sent");
    assert_eq!(streamed.status().as_u16(), 200);
    let first = within("the first chunk", streamed.chunk())
        .await
        .expect("first chunk read")
        .expect("some bytes");
    let mut stream_text = String::from_utf8_lossy(&first).into_owned();

    // A non-streamed request, running too.
    let whole = {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .post(
                    "/v1/chat/completions",
                    &chat(&server.model, "answer me whole", false, true),
                )
                .await
        })
    };
    let m = metrics_until(&server, |m| metric(m, "vllm:num_requests_running") == 2.0).await;
    assert_eq!(metric(&m, "vllm:num_requests_running"), 2.0, "{m}");
    assert_eq!(metric(&m, "weir:engine_restarts_total"), 0.0, "{m}");

    // The panic, while a step is in flight; a new request follows at once,
    // so its first steps queue behind the step the panic orphaned.
    server.engine.inject_scheduler_panic();
    let (status, after) = within(
        "the request after the restart",
        server.post(
            "/v1/chat/completions",
            &chat(&server.model, prompt, false, false),
        ),
    )
    .await;

    // The non-streamed request: a 500 with an OpenAI error body.
    let (status_whole, body_whole) = within("the non-streamed request", whole)
        .await
        .expect("the request task");
    assert_eq!(status_whole, 500, "{body_whole}");
    assert_eq!(body_whole["error"]["type"], "server_error", "{body_whole}");
    let message = body_whole["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("internal error") && message.contains("restarted"),
        "{body_whole}"
    );

    // The streamed request: an error frame, then [DONE].
    within("the streamed request", async {
        while let Some(bytes) = streamed.chunk().await.expect("chunk read") {
            stream_text.push_str(&String::from_utf8_lossy(&bytes));
        }
    })
    .await;
    let error_frame = stream_text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("error").is_some())
        .unwrap_or_else(|| panic!("no error frame: {stream_text}"));
    assert_eq!(error_frame["error"]["type"], "server_error");
    assert!(
        error_frame["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("restarted"),
        "{error_frame}"
    );
    assert!(
        stream_text.trim_end().ends_with("data: [DONE]"),
        "{stream_text}"
    );

    // The request sent right after the panic: answered exactly as before.
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        after["choices"][0]["message"], before["choices"][0]["message"],
        "{after}"
    );
    assert_eq!(after["usage"], before["usage"], "{after}");
    assert_eq!(after["choices"][0]["finish_reason"], "stop", "{after}");

    // Still healthy, one restart counted, nothing left running, waiting or
    // held in the KV cache.
    let health = server
        .http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .expect("health request");
    assert_eq!(health.status().as_u16(), 200);
    // A request's usage is recorded once its last choice has reported,
    // which may come just after its reply.
    let m = metrics_until(&server, |m| {
        metric(m, "vllm:num_requests_running") == 0.0
            && metric(m, "vllm:kv_cache_usage_perc") == 0.0
            && metric(m, "vllm:e2e_request_latency_seconds_count") == 4.0
    })
    .await;
    assert_eq!(metric(&m, "weir:engine_restarts_total"), 1.0, "{m}");
    assert_eq!(metric(&m, "vllm:num_requests_running"), 0.0, "{m}");
    assert_eq!(metric(&m, "vllm:num_requests_waiting"), 0.0, "{m}");
    assert_eq!(metric(&m, "vllm:kv_cache_usage_perc"), 0.0, "{m}");
    // Every request's usage recorded once: the two that failed as aborts,
    // the two answered as stops.
    let reason = |r: &str| {
        m.lines()
            .find(|l| {
                l.starts_with("vllm:request_success_total{")
                    && l.contains(&format!("finished_reason=\"{r}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    assert_eq!(reason("abort"), 2.0, "{m}");
    assert_eq!(reason("stop"), 2.0, "{m}");
    assert_eq!(
        metric(&m, "vllm:e2e_request_latency_seconds_count"),
        4.0,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_engine_restarts_and_serves_the_next_request() {
    // No request in flight: the restart fails nothing and changes nothing
    // a client can see, except the counter.
    let server = slow_echo_server(20.0).await;
    server.engine.inject_scheduler_panic();
    let m = metrics_until(&server, |m| metric(m, "weir:engine_restarts_total") == 1.0).await;
    assert_eq!(metric(&m, "weir:engine_restarts_total"), 1.0, "{m}");
    assert!(server.engine.is_serving());
    let (status, body) = within(
        "the request",
        server.post(
            "/v1/chat/completions",
            &chat(&server.model, "still there?", false, false),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "still there?");
    assert_eq!(body["choices"][0]["finish_reason"], "stop", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_step_in_flight_at_the_panic_is_ignored() {
    // 200 ms a step: the step running when the panic comes is still running
    // when the next request's first step is queued behind it. Its result
    // must be dropped, not taken as the end of the new scheduler's step
    // (which would start a second step while one is in flight).
    let server = slow_echo_server(200.0).await;
    let prompt = "Count my steps.";
    // Every step adds its batch size to this sum, at the step's start.
    let steps = |m: &str| metric(m, "vllm:iteration_sequences_sum");

    let s0 = steps(&server.metrics().await);
    let (status, before) = server
        .post(
            "/v1/chat/completions",
            &chat(&server.model, prompt, false, false),
        )
        .await;
    assert_eq!(status, 200, "{before}");
    let alone = steps(&server.metrics().await) - s0;
    assert!(alone >= 2.0, "{alone}");

    // A long stream runs; just after one of its chunks its next step has
    // started, and the panic comes while that step computes.
    let mut streamed = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&chat(&server.model, "keep going", true, true))
        .send()
        .await
        .expect("stream request sent");
    for _ in 0..2 {
        within("a chunk", streamed.chunk())
            .await
            .expect("chunk read")
            .expect("some bytes");
    }
    // A moment for that step to be counted; it still has most of its
    // 200 ms to run.
    tokio::time::sleep(Duration::from_millis(40)).await;
    let s1 = steps(&server.metrics().await);
    server.engine.inject_scheduler_panic();
    let (status, after) = within(
        "the request after the restart",
        server.post(
            "/v1/chat/completions",
            &chat(&server.model, prompt, false, false),
        ),
    )
    .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        after["choices"][0]["message"], before["choices"][0]["message"],
        "{after}"
    );
    // After the restart only the new request's own steps ran, as many as
    // when it ran alone.
    assert_eq!(steps(&server.metrics().await) - s1, alone);

    let mut rest = String::new();
    within("the streamed request", async {
        while let Some(bytes) = streamed.chunk().await.expect("chunk read") {
            rest.push_str(&String::from_utf8_lossy(&bytes));
        }
    })
    .await;
    assert!(rest.contains("restarted"), "{rest}");
}
