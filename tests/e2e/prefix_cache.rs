//! Automatic prefix caching through the real server: later requests reuse
//! the KV of a shared prefix (reported as `cached_tokens`), the outputs are
//! token-identical to a server without caching, tenants' salts isolate,
//! and every block is back in the pool afterwards.

use crate::common;

use serde_json::{json, Value};

fn system_prompt() -> String {
    // Long enough to fill several 16-token blocks, like an agent's system
    // prompt and tool definitions.
    (0..20)
        .map(|i| format!("Rule {i}: answer precisely and cite the file you read."))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn turn(
    server: &common::TestServer,
    user: &str,
    seed: u64,
    salt: Option<&str>,
) -> (Vec<u64>, u64) {
    let mut body = json!({"model": server.model, "max_tokens": 8, "temperature": 0.8,
                          "seed": seed, "ignore_eos": true, "return_token_ids": true,
                          "prompt": format!("{}\nUser: {user}\nAssistant:", system_prompt())});
    if let Some(s) = salt {
        body["cache_salt"] = json!(s);
    }
    let (status, v): (u16, Value) = server.post("/v1/completions", &body).await;
    assert_eq!(status, 200, "{v}");
    let ids = serde_json::from_value(v["choices"][0]["token_ids"].clone()).unwrap();
    let cached = v["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    (ids, cached)
}

use common::TestServer;

fn metric(text: &str, name: &str) -> f64 {
    TestServer::metric(text, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_prefixes_are_reused_and_change_no_token() {
    let model = common::model_dir("qwen2-bias");
    let mut off_cfg = common::config(Some(model.clone()));
    off_cfg.prefix_caching = false;
    let off = common::start(off_cfg).await;
    let on = common::start(common::config(Some(model))).await;
    let users = [
        "list the files",
        "read main.rs",
        "fix the bug",
        "run the tests",
    ];

    let mut expected = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let (ids, cached) = turn(&off, u, i as u64, None).await;
        assert_eq!(cached, 0, "caching is off");
        expected.push(ids);
    }
    // First request fills the cache; the rest hit its full blocks.
    let (first, cached) = turn(&on, users[0], 0, None).await;
    assert_eq!(first, expected[0]);
    assert_eq!(cached, 0);
    for (i, u) in users.iter().enumerate().skip(1) {
        let (ids, cached) = turn(&on, u, i as u64, None).await;
        assert_eq!(
            ids, expected[i],
            "caching changed the tokens of request {i}"
        );
        assert!(
            cached >= 16 * 10,
            "request {i}: only {cached} cached tokens"
        );
    }
    // The same again, concurrently: still identical.
    let handles: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let s = on.clone();
            let u = u.to_string();
            tokio::spawn(async move { turn(&s, &u, i as u64, None).await })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let (ids, cached) = h.await.unwrap();
        assert_eq!(ids, expected[i]);
        assert!(cached > 0);
    }
    // Another salt never hits this one's blocks.
    let (ids, cached) = turn(&on, users[1], 1, Some("tenant-b")).await;
    assert_eq!(ids, expected[1]);
    assert_eq!(cached, 0, "a different cache_salt must not hit");

    let m = on.metrics().await;
    let queries = metric(&m, "vllm:prefix_cache_queries_total");
    let hits = metric(&m, "vllm:prefix_cache_hits_total");
    assert!(
        hits > 0.0 && hits <= queries,
        "hits {hits} queries {queries}"
    );
    assert_eq!(
        metric(&m, "vllm:kv_cache_usage_perc"),
        0.0,
        "all blocks back"
    );
}

/// A random stream of requests over a few shared prefixes, sent in random
/// concurrent batches: every output with caching equals the output without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_request_streams_give_identical_tokens_with_and_without_caching() {
    let model = common::model_dir("llama-gqa");
    let mut off_cfg = common::config(Some(model.clone()));
    off_cfg.prefix_caching = false;
    let off = common::start(off_cfg).await;
    let mut on_cfg = common::config(Some(model));
    // A small cache, so that cached blocks are also evicted along the way.
    on_cfg.num_kv_blocks = Some(40);
    let on = common::start(on_cfg).await;

    let mut state = 0x1234_5678_9abc_def1u64;
    let mut rnd = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let prefixes: Vec<Vec<u32>> = (0..3)
        .map(|p| {
            (0..(40 + 23 * p))
                .map(|i| 1000 + ((i * 37 + p * 101) % 9000) as u32)
                .collect()
        })
        .collect();
    let mut requests = Vec::new();
    for _ in 0..24 {
        let mut prompt = prefixes[rnd(3) as usize].clone();
        prompt.truncate(20 + rnd(prompt.len() as u64 - 19) as usize);
        for _ in 0..rnd(20) {
            prompt.push(1000 + rnd(9000) as u32);
        }
        requests.push((prompt, rnd(1000), 1 + rnd(10) as usize));
    }
    let send = |server: &common::TestServer, (prompt, seed, max): (Vec<u32>, u64, usize)| {
        let s = server.clone();
        tokio::spawn(async move {
            let (status, v) = s
                .post(
                    "/v1/completions",
                    &json!({"model": s.model, "prompt": prompt, "max_tokens": max,
                            "temperature": 0.7, "seed": seed, "ignore_eos": true,
                            "return_token_ids": true}),
                )
                .await;
            assert_eq!(status, 200, "{v}");
            let ids: Vec<u64> =
                serde_json::from_value(v["choices"][0]["token_ids"].clone()).unwrap();
            let cached = v["usage"]["prompt_tokens_details"]["cached_tokens"]
                .as_u64()
                .unwrap();
            (ids, cached)
        })
    };
    let mut expected = Vec::new();
    for r in &requests {
        expected.push(send(&off, r.clone()).await.unwrap().0);
    }
    let mut i = 0;
    let mut total_cached = 0;
    while i < requests.len() {
        let batch = 1 + rnd(6) as usize;
        let end = (i + batch).min(requests.len());
        let handles: Vec<_> = requests[i..end]
            .iter()
            .map(|r| send(&on, r.clone()))
            .collect();
        for (j, h) in handles.into_iter().enumerate() {
            let (ids, cached) = h.await.unwrap();
            assert_eq!(
                ids,
                expected[i + j],
                "request {} differs with caching",
                i + j
            );
            total_cached += cached;
        }
        i = end;
    }
    assert!(total_cached > 0, "the shared prefixes were reused");
    let m = on.metrics().await;
    assert_eq!(
        metric(&m, "vllm:kv_cache_usage_perc"),
        0.0,
        "no block leaked"
    );
}
