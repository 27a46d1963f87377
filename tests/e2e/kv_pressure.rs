//! A cache too small for its queue, through the real server: requests that
//! share a cached prefix and do not all fit finish one after another
//! (preempted and recomputed, never stuck), and a client that leaves while
//! its request waits is dropped from the queue within a second.

use crate::common;

use std::time::{Duration, Instant};

use serde_json::json;
use weir::backend::KvDtype;
use weir::runtime::{LoadOptions, RunnerKind};

fn gauge(metrics: &str, name: &str) -> f64 {
    common::TestServer::metric(metrics, name)
}

/// The reproduction filed with the reliability issue: `--num-kv-blocks 64`
/// (16-token blocks, a 1,024-token context), the demo model on the CPU,
/// six concurrent token-id completions sharing a 600-token prefix (300 or
/// 50 more tokens each, 100 or 300 new tokens, `ignore_eos`). Before
/// waiting sequences gave back the cached blocks admission had taken,
/// none finished: after two preemptions six waited, none ran, and two
/// thirds of the cache stayed held for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_requests_sharing_a_prefix_in_a_small_cache_all_finish() {
    let mut cfg = common::config(None);
    cfg.num_kv_blocks = Some(64);
    cfg.max_model_len = Some(1024);
    cfg.max_num_batched_tokens = 512;
    let server = common::start(cfg).await;
    let prefix: Vec<u32> = (0..600).map(|i| 100 + (i * 7) % 9000).collect();
    let mut tasks = Vec::new();
    for i in 0..6u32 {
        let (extra, max_tokens) = if i % 2 == 0 { (300, 100) } else { (50, 300) };
        let mut prompt = prefix.clone();
        prompt.extend((0..extra).map(|j| 9500 + i * 400 + j));
        let s = server.clone();
        tasks.push(tokio::spawn(async move {
            let (status, body) = s
                .post(
                    "/v1/completions",
                    &json!({"model": s.model, "prompt": prompt, "max_tokens": max_tokens,
                            "ignore_eos": true, "temperature": 0}),
                )
                .await;
            (status, body, max_tokens)
        }));
    }
    for t in tasks {
        let (status, body, max_tokens) = tokio::time::timeout(Duration::from_secs(300), t)
            .await
            .expect("every request finishes (no deadlock)")
            .expect("task");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["usage"]["completion_tokens"], max_tokens, "{body}");
        assert_eq!(body["choices"][0]["finish_reason"], "length", "{body}");
    }
    let m = server.wait_until_idle(Duration::from_secs(5)).await;
    assert!(
        gauge(&m, "vllm:num_preemptions_total") >= 1.0,
        "the cache was meant to be too small for all six at once: {m}"
    );
    assert_eq!(gauge(&m, "vllm:kv_cache_usage_perc"), 0.0, "{m}");
    assert_eq!(gauge(&m, "vllm:num_requests_waiting"), 0.0, "{m}");
}

/// A request that cannot be admitted (the cache is held by a long running
/// one) and whose client hangs up leaves the queue within a second, while
/// the running request goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_while_queued_is_dropped_within_a_second() {
    let mut cfg = common::config(None);
    cfg.runner = weir::runtime::RunnerKind::Sim {
        mode: "random".into(),
        script: None,
        speed: weir::runner::sim::SimSpeed {
            prefill_us_per_token: 1.0,
            // 300 steps of 20 ms: the runner outlives the test's checks.
            decode_step_us: 20000.0,
            decode_us_per_seq: 1.0,
        },
    };
    cfg.num_kv_blocks = Some(64);
    cfg.max_model_len = Some(1024);
    let server = common::start(cfg).await;
    // The runner: 700 prompt tokens + up to 300 more hold most of the cache.
    let long: Vec<u32> = (0..700).map(|i| 100 + i).collect();
    let runner = server
        .http
        .post(format!("{}/v1/completions", server.base))
        .json(
            &json!({"model": server.model, "prompt": long, "max_tokens": 300,
                      "ignore_eos": true, "stream": true}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(runner.status(), 200);
    // The waiter: needs 40 blocks, which the runner leaves no room for.
    let waiter_prompt: Vec<u32> = (0..640).map(|i| 5000 + i).collect();
    let s = server.clone();
    let waiter = tokio::spawn(async move {
        s.http
            .post(format!("{}/v1/completions", s.base))
            .json(
                &json!({"model": s.model, "prompt": waiter_prompt, "max_tokens": 10,
                          "stream": true}),
            )
            .send()
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while gauge(&server.metrics().await, "vllm:num_requests_waiting") != 1.0 {
        assert!(Instant::now() < deadline, "the second request never queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Hang up: dropping the response (or the unfinished request) closes
    // the connection.
    waiter.abort();
    let _ = waiter.await;
    let left = Instant::now();
    loop {
        let m = server.metrics().await;
        if gauge(&m, "vllm:num_requests_waiting") == 0.0 {
            break;
        }
        assert!(
            left.elapsed() < Duration::from_secs(1),
            "the abandoned request still waits: {m}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let m = server.metrics().await;
    assert_eq!(
        gauge(&m, "vllm:num_requests_running"),
        1.0,
        "the runner goes on: {m}"
    );
    drop(runner);
    let m = server.wait_until_idle(Duration::from_secs(5)).await;
    assert_eq!(gauge(&m, "vllm:kv_cache_usage_perc"), 0.0, "{m}");
}

/// `--kv-cache-dtype bf16` holds twice the tokens in the same memory: with
/// a cache of 192 KiB (12 f32 blocks of 16 tokens of `llama-gqa`), the
/// context the server offers (`/v1/models`' `max_model_len`, lowered to
/// what the cache holds) doubles, and a request longer than the f32
/// cache's whole capacity completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bf16_cache_holds_twice_the_tokens_in_the_same_memory() {
    let dir = common::model_dir("llama-gqa");
    let mc = weir::model::ModelConfig::from_path(&dir).unwrap();
    let f32_block = 2 * mc.num_layers * mc.num_kv_heads * mc.head_dim * 16 * 4;
    let mut lens = Vec::new();
    for kv in [KvDtype::F32, KvDtype::Bf16] {
        let mut cfg = common::config(Some(dir.clone()));
        cfg.num_kv_blocks = None;
        cfg.kv_cache_gib = Some((12 * f32_block) as f64 / (1u64 << 30) as f64);
        cfg.runner = RunnerKind::Cpu(LoadOptions {
            kv_cache_dtype: Some(kv),
            ..Default::default()
        });
        let server = common::start(cfg).await;
        let models: serde_json::Value = server
            .http
            .get(format!("{}/v1/models", server.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let len = models["data"][0]["max_model_len"].as_u64().unwrap();
        if kv == KvDtype::Bf16 {
            let prompt: Vec<u32> = (0..250).map(|i| 10 + i % 200).collect();
            let (status, body) = server
                .post(
                    "/v1/completions",
                    &json!({"model": server.model, "prompt": prompt, "max_tokens": 20,
                            "ignore_eos": true}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["usage"]["completion_tokens"], 20, "{body}");
        }
        lens.push(len);
    }
    assert_eq!(
        lens,
        [12 * 16, 24 * 16],
        "max_model_len with f32, then bf16"
    );
}
