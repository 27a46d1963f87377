//! Request lifecycle through the real server: a client that disconnects
//! mid-stream frees its KV blocks, and the server keeps serving; `/health`
//! and requests turn 503 once the engine stops.

use crate::common;

use std::time::Duration;

use serde_json::json;

fn gauge(metrics: &str, name: &str) -> f64 {
    common::TestServer::metric(metrics, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_mid_stream_frees_blocks() {
    let mut cfg = common::config(None);
    cfg.runner = weir::runtime::RunnerKind::Sim {
        mode: "random".into(),
        script: None,
        speed: weir::runner::sim::SimSpeed {
            prefill_us_per_token: 1.0,
            decode_step_us: 5000.0,
            decode_us_per_seq: 1.0,
        },
    };
    let server = common::start(cfg).await;
    let mut streams = Vec::new();
    for _ in 0..4 {
        let resp = server
            .http
            .post(format!("{}/v1/chat/completions", server.base))
            .json(
                &json!({"model": server.model, "stream": true, "max_tokens": 100000,
                          "messages": [{"role": "user", "content": "go on forever"}]}),
            )
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), 200);
        streams.push(resp);
    }
    // Read a little of each stream, then hang up.
    for r in &mut streams {
        let first = r.chunk().await.expect("chunk").expect("some bytes");
        assert!(first.starts_with(b"data: "));
    }
    let busy = server.metrics().await;
    assert!(gauge(&busy, "vllm:kv_cache_usage_perc") > 0.0, "{busy}");
    drop(streams);
    let mut freed = false;
    for _ in 0..200 {
        let m = server.metrics().await;
        if gauge(&m, "vllm:num_requests_running") == 0.0
            && gauge(&m, "vllm:kv_cache_usage_perc") == 0.0
        {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(freed, "blocks were not freed after the clients left");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_turns_503_when_the_engine_stops() {
    let mut cfg = common::config(None);
    cfg.runner = common::sim("echo");
    let server = common::start(cfg).await;
    let health = |s: common::TestServer| async move {
        s.http
            .get(format!("{}/health", s.base))
            .send()
            .await
            .expect("health request")
            .status()
            .as_u16()
    };
    assert_eq!(health(server.clone()).await, 200);
    server.engine.shutdown();
    let mut status = 200;
    for _ in 0..50 {
        status = health(server.clone()).await;
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 503, "/health after shutdown");
    // A request now gets a clear 503, not a hang or a 500.
    let (code, body) = server
        .post(
            "/v1/chat/completions",
            &json!({"model": server.model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}),
        )
        .await;
    assert_eq!(code, 503, "{body}");
    assert!(body["error"]["message"].as_str().is_some(), "{body}");
}
