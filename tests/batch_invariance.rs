//! Batch invariance: a seeded request gives the same tokens alone as inside
//! a busy batch (16 concurrent requests), on the real CPU kernels.

mod common;

use serde_json::json;

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
    for model in ["qwen2-bf16", "llama-gqa"] {
        let mut cfg = common::config(Some(common::model_dir(model)));
        // A small budget forces chunked prefill and mixed decode/prefill steps.
        cfg.max_num_batched_tokens = 24;
        let server = common::start(cfg).await;
        let mut alone = Vec::new();
        for seed in 0..16 {
            alone.push(generate(&server, seed).await);
        }
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_under_a_tiny_cache_loses_nothing_and_changes_nothing() {
    let model = "qwen2-bias";
    let reference = common::start(common::config(Some(common::model_dir(model)))).await;
    let mut alone = Vec::new();
    for seed in 0..8 {
        alone.push(generate(&reference, seed).await);
    }
    // 6 blocks of 16 slots: 8 requests of ~6 prompt + 12 output tokens
    // cannot all stay resident, so the scheduler must preempt and recompute.
    let mut cfg = common::config(Some(common::model_dir(model)));
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
            "seed {seed} changed under preemption"
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
