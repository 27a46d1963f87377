//! Admission control through the real HTTP server on loopback: a burst far
//! beyond `max_waiting_requests` gets only 200s and 503s (each 503 with
//! `retry-after` and an OpenAI error body that says "Overloaded") and leaves
//! nothing behind; a request that waits past the queue timeout is a 503, or
//! an error frame on a stream; a queued client that hangs up leaves the
//! queue within a second even while one long step runs.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use weir::runner::sim::SimSpeed;
use weir::runtime::RunnerKind;

/// A sim runner at a given modelled speed.
fn sim_at(prefill_us_per_token: f64, decode_step_us: f64) -> RunnerKind {
    RunnerKind::Sim {
        mode: "random".into(),
        script: None,
        speed: SimSpeed {
            prefill_us_per_token,
            decode_step_us,
            decode_us_per_seq: 10.0,
        },
    }
}

fn metric(text: &str, name: &str) -> f64 {
    common::TestServer::metric(text, name)
}

/// `weir:requests_rejected_total` for one reason.
fn rejected(text: &str, reason: &str) -> f64 {
    text.lines()
        .find(|l| {
            l.starts_with("weir:requests_rejected_total{")
                && l.contains(&format!("reason=\"{reason}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// This process may open `needed` files (sockets): the burst holds two per
/// request, the client's and the server's.
fn require_open_files(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(soft) = soft {
        assert!(
            soft >= needed,
            "this test opens about {needed} sockets; raise the open-file limit (ulimit -n {needed}), it is {soft}"
        );
    }
}

/// An OpenAI 503 from admission control: status, both retry headers and
/// the error body.
fn assert_overloaded(status: u16, headers: &reqwest::header::HeaderMap, body: &str) {
    assert_eq!(status, 503, "{body}");
    let secs: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 503 without a numeric retry-after: {headers:?}"));
    assert!((1..=60).contains(&secs), "retry-after {secs}");
    let ms: u64 = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 503 without retry-after-ms: {headers:?}"));
    assert!(
        ms <= secs * 1000 && ms > (secs - 1) * 1000,
        "retry-after {secs} s is retry-after-ms {ms} rounded up"
    );
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    let message = v["error"]["message"].as_str().unwrap_or_default();
    // OpenCode shows "Provider is overloaded" for "Overloaded" in the message.
    assert!(message.starts_with("Overloaded: "), "{body}");
    assert_eq!(v["error"]["type"], "server_error", "{body}");
    assert_eq!(v["error"]["code"], "server_overloaded", "{body}");
    assert!(v["error"]["param"].is_null(), "{body}");
}

/// What one request of the burst got back.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
    stream: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_2000_gets_only_200_or_503_and_leaves_nothing_behind() {
    const BURST: usize = 2000;
    require_open_files(2 * BURST as u64 + 200);
    let mut cfg = common::config(None);
    // Slow enough that the waiting room fills: 8 at a time, 20 ms a step.
    cfg.runner = sim_at(10.0, 20_000.0);
    cfg.max_num_seqs = 8;
    cfg.limits.max_waiting_requests = 64;
    cfg.limits.queue_timeout = None;
    let server = common::start(cfg).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client");

    let tasks: Vec<_> = (0..BURST)
        .map(|i| {
            let (http, base, model) = (http.clone(), server.base.clone(), server.model.clone());
            tokio::spawn(async move {
                // Chat and completions, streamed and not, as clients send them.
                let stream = i % 2 == 1;
                let (path, body) = if i % 4 < 2 {
                    (
                        "/v1/chat/completions",
                        json!({"model": model, "stream": stream, "max_tokens": 4,
                               "messages": [{"role": "user", "content": format!("request {i}")}]}),
                    )
                } else {
                    (
                        "/v1/completions",
                        json!({"model": model, "stream": stream, "max_tokens": 4,
                               "prompt": format!("request {i}")}),
                    )
                };
                let resp = http
                    .post(format!("{base}{path}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("request {i} was not answered: {e}"));
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp
                    .text()
                    .await
                    .unwrap_or_else(|e| panic!("request {i}'s body broke off: {e}"));
                Answer {
                    status,
                    headers,
                    body,
                    stream,
                }
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(BURST);
    for t in tasks {
        answers.push(t.await.expect("request task"));
    }

    let (mut ok, mut refused) = (0, 0);
    for a in &answers {
        match a.status {
            200 if a.stream => {
                assert!(a.body.ends_with("data: [DONE]\n\n"), "{}", a.body);
                assert!(!a.body.contains("\"error\""), "{}", a.body);
                ok += 1;
            }
            200 => {
                let v: Value = serde_json::from_str(&a.body).expect("JSON reply");
                assert!(v["choices"][0]["finish_reason"].is_string(), "{v}");
                ok += 1;
            }
            503 => {
                assert_overloaded(a.status, &a.headers, &a.body);
                refused += 1;
            }
            other => panic!("status {other}: {}", a.body),
        }
    }
    let hints: Vec<&str> = answers
        .iter()
        .filter_map(|a| a.headers.get("retry-after-ms")?.to_str().ok())
        .collect();
    eprintln!(
        "{ok} served, {refused} refused; retry-after-ms from {:?} to {:?}",
        hints.iter().min_by_key(|h| h.parse::<u64>().unwrap_or(0)),
        hints.iter().max_by_key(|h| h.parse::<u64>().unwrap_or(0))
    );
    assert!(ok >= 64, "at least a full waiting room was served: {ok}");
    assert!(refused > 0, "2000 at once must overflow 64 places");
    assert_eq!(ok + refused, BURST);

    let m = server.wait_until_idle(Duration::from_secs(10)).await;
    assert_eq!(rejected(&m, "queue_full"), refused as f64, "{m}");
    assert_eq!(rejected(&m, "queue_timeout"), 0.0, "{m}");
    // Still serving.
    let (status, body) = server
        .post(
            "/v1/chat/completions",
            &json!({"model": server.model, "max_tokens": 3,
                    "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A long request that keeps the only running slot busy: streamed, so it
/// runs until the returned response is dropped.
async fn occupy_the_only_slot(server: &common::TestServer) -> reqwest::Response {
    let mut resp = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .json(
            &json!({"model": server.model, "stream": true, "max_tokens": 100000,
                      "ignore_eos": true,
                      "messages": [{"role": "user", "content": "go on forever"}]}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    // Its first token: it runs.
    let mut seen = String::new();
    while !seen.contains("\"content\":\"") || seen.matches("data: ").count() < 2 {
        let chunk = resp.chunk().await.expect("chunk").expect("some bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    resp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_waits_past_the_queue_timeout_is_refused_as_overloaded() {
    let mut cfg = common::config(None);
    cfg.runner = sim_at(1.0, 5_000.0);
    cfg.max_num_seqs = 1;
    cfg.limits.queue_timeout = Some(Duration::from_millis(300));
    let server = common::start(cfg).await;
    let running = occupy_the_only_slot(&server).await;

    let started = Instant::now();
    let whole = {
        let server = server.clone();
        tokio::spawn(async move {
            let resp = server
                .http
                .post(format!("{}/v1/chat/completions", server.base))
                .json(&json!({"model": server.model, "max_tokens": 3,
                              "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .expect("sent");
            let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
            (status, headers, resp.text().await.expect("body"))
        })
    };
    let streamed = server
        .post_text(
            "/v1/completions",
            &json!({"model": server.model, "max_tokens": 3, "stream": true, "n": 2,
                    "prompt": "hi"}),
        )
        .await;
    let (status, headers, body) = whole.await.expect("task");
    let waited = started.elapsed();

    assert_overloaded(status, &headers, &body);
    assert!(body.contains("in the queue without starting"), "{body}");
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // The stream had begun (200): one error frame says the same, then [DONE].
    let frames: Vec<&str> = streamed.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 2, "{streamed}");
    let error: Value =
        serde_json::from_str(frames[0].trim_start_matches("data: ")).expect("an error frame");
    assert_eq!(error["error"]["code"], "server_overloaded", "{streamed}");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Overloaded: "), "{streamed}");
    assert_eq!(frames[1], "data: [DONE]");

    let m = server.metrics().await;
    assert_eq!(rejected(&m, "queue_timeout"), 2.0, "{m}");
    assert_eq!(metric(&m, "vllm:num_requests_waiting"), 0.0, "{m}");
    assert_eq!(metric(&m, "vllm:num_requests_running"), 1.0, "{m}");
    assert_eq!(server.engine.waiting_requests(), 0);
    drop(running);
    server.wait_until_idle(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_client_that_hangs_up_leaves_within_a_second_during_a_long_step() {
    let mut cfg = common::config(None);
    // A 300-token prompt in chunks of 256 at 20 ms a token: its first
    // step runs about 5 s, so no step ends while the queued clients leave.
    cfg.runner = sim_at(20_000.0, 1_000.0);
    cfg.max_num_seqs = 1;
    cfg.max_num_batched_tokens = 256;
    cfg.limits.queue_timeout = None;
    let server = common::start(cfg).await;

    let long = {
        let server = server.clone();
        tokio::spawn(async move {
            let prompt: Vec<u32> = (100..400).collect();
            server
                .post(
                    "/v1/completions",
                    &json!({"model": server.model, "max_tokens": 1, "prompt": prompt}),
                )
                .await
        })
    };
    // Wait until it started (its place in the waiting room is given back).
    let t0 = Instant::now();
    while server.engine.waiting_requests() != 0
        || metric(&server.metrics().await, "vllm:num_requests_running") != 1.0
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the long request never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Two clients queue behind it: one streamed, one waiting for a whole reply.
    let mut streamed = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .json(
            &json!({"model": server.model, "stream": true, "max_tokens": 3,
                      "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(streamed.status(), 200);
    let role = streamed.chunk().await.expect("chunk").expect("role chunk");
    assert!(role.starts_with(b"data: "));
    let whole = {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .post(
                    "/v1/completions",
                    &json!({"model": server.model, "max_tokens": 3, "prompt": "hi"}),
                )
                .await
        })
    };
    while server.engine.waiting_requests() != 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(4),
            "the clients never queued"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let hung_up = Instant::now();
    drop(streamed);
    whole.abort();
    while server.engine.waiting_requests() != 0 {
        assert!(
            hung_up.elapsed() < Duration::from_secs(1),
            "queued clients that left still wait after 1 s ({} waiting)",
            server.engine.waiting_requests()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!long.is_finished(), "the long step was still running");
    let m = server.metrics().await;
    assert_eq!(metric(&m, "vllm:num_requests_waiting"), 0.0, "{m}");

    let (status, body) = long.await.expect("task");
    assert_eq!(status, 200, "{body}");
    server.wait_until_idle(Duration::from_secs(10)).await;
}

/// The choices of one chat request (completions default `max_tokens` to
/// 16, as OpenAI's) may ask for at most `MAX_TOTAL_TOKENS`
/// together, counted after `max_tokens` is clamped to the context: many
/// choices with no `max_tokens` on a long context are a 400 naming `n`,
/// and the same choices with a small `max_tokens` run. (One choice is
/// bounded by the context alone: clamped, never refused, as
/// tests/python/test_openai_sdk.py checks.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_choices_times_max_tokens_is_capped_after_clamping() {
    let mut cfg = common::config(None);
    cfg.runner = common::sim("echo");
    // Room for the demo's whole 32k context.
    cfg.num_kv_blocks = Some(4096);
    let server = common::start(cfg).await;
    let limit = weir::runtime::limits::MAX_TOTAL_TOKENS;
    let room = server.engine.max_model_len();
    let n = limit / room + 2;
    assert!(
        n <= 128,
        "the demo's context makes {n} choices pass the cap"
    );
    let body = |extra: serde_json::Value| {
        let mut b = serde_json::json!({"model": server.model, "n": n,
            "messages": [{"role": "user", "content": "hi"}]});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let (status, err) = server
        .post("/v1/chat/completions", &body(serde_json::json!({})))
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["param"], "n", "{err}");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("at most {limit} tokens")),
        "{message}"
    );
    let (status, ok) = server
        .post(
            "/v1/chat/completions",
            &body(serde_json::json!({"max_tokens": 4})),
        )
        .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["choices"].as_array().map(Vec::len), Some(n), "{ok}");
}
