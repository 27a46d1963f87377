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
                let s = common::TestServer {
                    base: server.base.clone(),
                    model: server.model.clone(),
                    http: server.http.clone(),
                };
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
