//! Batch invariance: a seeded request gives the same tokens alone as inside
//! a busy batch (16 concurrent requests), on the real CPU kernels. The
//! server's `vllm:iteration_sequences` histogram shows that "alone" ran one
//! sequence per step and "in a batch" really shared steps. Also with a bf16
//! KV cache (`--kv-cache-dtype bf16`).

use crate::common;

use serde_json::json;
use weir::backend::KvDtype;
use weir::runtime::{LoadOptions, RunnerKind};

/// Engine steps so far, and how many of them held more than `more_than`
/// sequences, from the `vllm:iteration_sequences` histogram.
fn steps(metrics: &str, more_than: &str) -> (f64, f64) {
    let bucket = |le: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("vllm:iteration_sequences_bucket{")
                    && l.contains(&format!("le=\"{le}\"}}"))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no iteration_sequences bucket le={le} in\n{metrics}"))
    };
    let all = bucket("+Inf");
    (all, all - bucket(more_than))
}

async fn generate(server: &common::TestServer, seed: u64) -> Vec<u64> {
    let (status, body) = server
        .post(
            "/v1/completions",
            &json!({"model": server.model, "prompt": format!("Request number {seed} says"),
                    "max_tokens": 12, "temperature": 0.9, "top_p": 0.95, "seed": seed,
                    "ignore_eos": true, "return_token_ids": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body["choices"][0]["token_ids"].clone()).expect("token_ids")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_seeded_requests_match_sequential_ones() {
    for (model, kv) in [
        ("qwen2-bf16", None),
        ("llama-gqa", None),
        ("llama-gqa", Some(KvDtype::Bf16)),
    ] {
        let mut cfg = common::config(Some(common::model_dir(model)));
        cfg.runner = RunnerKind::Cpu(LoadOptions {
            kv_cache_dtype: kv,
            ..Default::default()
        });
        // A small budget forces chunked prefill and mixed decode/prefill steps.
        cfg.max_num_batched_tokens = 24;
        let server = common::start(cfg).await;
        let mut alone = Vec::new();
        for seed in 0..16 {
            alone.push(generate(&server, seed).await);
        }
        let (alone_steps, shared) = steps(&server.metrics().await, "1.0");
        assert!(
            alone_steps >= 16.0 * 12.0,
            "{model}: {alone_steps} steps alone"
        );
        assert_eq!(shared, 0.0, "{model}: a request run alone shared a step");
        let handles: Vec<_> = (0..16)
            .map(|seed| {
                let s = server.clone();
                tokio::spawn(async move { generate(&s, seed).await })
            })
            .collect();
        for (seed, h) in handles.into_iter().enumerate() {
            let batched = h.await.expect("task");
            assert_eq!(
                batched, alone[seed],
                "{model}: seed {seed} differs in a batch"
            );
        }
        // The 16 really ran together: steps with more than 8 of them.
        let (all_steps, big) = steps(&server.metrics().await, "8.0");
        let batched_steps = all_steps - alone_steps;
        eprintln!("{model}: {batched_steps} batched steps, {big} with more than 8 sequences");
        assert!(
            big > 0.0,
            "{model}: no step held more than 8 of the 16 concurrent requests \
             ({batched_steps} steps)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_under_a_tiny_cache_loses_nothing_and_changes_nothing() {
    for kv in [KvDtype::F32, KvDtype::Bf16] {
        preemption_changes_nothing(kv).await;
    }
}

async fn preemption_changes_nothing(kv: KvDtype) {
    let model = "qwen2-bias";
    let runner = RunnerKind::Cpu(LoadOptions {
        kv_cache_dtype: Some(kv),
        ..Default::default()
    });
    let mut cfg = common::config(Some(common::model_dir(model)));
    cfg.runner = runner.clone();
    let reference = common::start(cfg).await;
    let mut alone = Vec::new();
    for seed in 0..8 {
        alone.push(generate(&reference, seed).await);
    }
    // 6 blocks of 16 slots: 8 requests of ~6 prompt + 12 output tokens
    // cannot all stay resident, so the scheduler must preempt and recompute.
    let mut cfg = common::config(Some(common::model_dir(model)));
    cfg.runner = runner;
    cfg.num_kv_blocks = Some(6);
    cfg.max_model_len = Some(64);
    let server = common::start(cfg).await;
    let handles: Vec<_> = (0..8)
        .map(|seed| {
            let s = server.clone();
            tokio::spawn(async move { generate(&s, seed).await })
        })
        .collect();
    for (seed, h) in handles.into_iter().enumerate() {
        assert_eq!(
            h.await.expect("task"),
            alone[seed],
            "seed {seed} changed under preemption ({kv:?} cache)"
        );
    }
    let metrics = server.metrics().await;
    let preemptions = common::TestServer::metric(&metrics, "vllm:num_preemptions_total");
    assert!(
        preemptions > 0.0,
        "the tiny cache should have forced preemptions"
    );
    let usage = common::TestServer::metric(&metrics, "vllm:kv_cache_usage_perc");
    assert_eq!(usage, 0.0, "every block back after the run");
}
