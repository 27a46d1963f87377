//! Parity with Hugging Face transformers: the tiny models in tests/models
//! (made by scripts/make_test_models.py) and their goldens, served through
//! the real HTTP API on the CPU backend. Greedy tokens must match exactly;
//! logprobs within a stated tolerance. Each model with the KV cache `auto`
//! picks (f32 for these float checkpoints), and the f32 / f16 ones again
//! with `--kv-cache-dtype bf16`, held to the bf16 checkpoint's rules.

use crate::common;

use serde_json::{json, Value};
use weir::backend::KvDtype;
use weir::runtime::{LoadOptions, RunnerKind};

/// Logprob tolerance of the chosen token. The goldens are float32
/// transformers; weir computes in f32 too, but bf16 weights go through
/// `vdpbf16ps` with activations rounded to bf16 (as a bf16 PyTorch run would
/// round them), which moves these tiny models' large logits (std-0.25 init).
/// Measured (AMD Zen 4, AVX-512 BF16): the chosen token's logprob is off by
/// at most 0.217 on qwen2-bf16 and 3e-5 on the f32 and f16 models.
fn tolerance(dtype: &str) -> f64 {
    match dtype {
        "bfloat16" => 0.25,
        "float16" => 0.02,
        _ => 0.002,
    }
}

/// Logprob tolerance of the top-5 alternatives of a bf16 model: they sit
/// further out in the tail, where activation rounding moves them more.
/// Measured: at most 0.487 off on qwen2-bf16 (7e-5 on the others, which keep
/// [`tolerance`]). There, 9 of the golden alternatives are missing from
/// weir's top 5, each the golden's 5th and at most 0.21 above weir's own 5th
/// (so within this tolerance of a value weir ranks 6th or lower); the f32
/// and f16 models miss none, and a missing one fails them.
const BF16_ALT_TOLERANCE: f64 = 0.5;

/// How many golden alternatives a bf16 model may miss from weir's top 5 over
/// all its cases (9 measured on qwen2-bf16, over 114 positions compared).
const BF16_MAX_MISSING_ALTERNATIVES: usize = 12;

/// Compares `name` served with its KV cache in `kv` (`None`: `auto`).
/// Chosen-token tolerance with a bf16 KV cache on an f32 / f16 checkpoint:
/// the bf16 checkpoint's (K and V rounded to bf16, as a bf16 transformers
/// run rounds them). Measured (AMD EPYC, AVX2 and scalar, 2026-12-07): at
/// most 0.099 off over the five models, against 2.5e-5 with an f32 cache.
const KV_BF16_TOLERANCE: f64 = 0.25;

/// Golden alternatives a model may miss from weir's top 5 with a bf16 KV
/// cache (measured 3-11 per model over 132-144 positions; none with f32).
const KV_BF16_MAX_MISSING_ALTERNATIVES: usize = 16;

async fn check_model(name: &str, kv: Option<KvDtype>) {
    let dir = common::model_dir(name);
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("golden.json")).expect("golden.json"),
    )
    .expect("golden is JSON");
    let mut cfg = common::config(Some(dir.clone()));
    cfg.runner = RunnerKind::Cpu(LoadOptions {
        kv_cache_dtype: kv,
        ..Default::default()
    });
    let server = common::start(cfg).await;
    let tok = weir::tokenize::Tokenizer::from_dir(&dir).expect("tokenizer");
    let stored = golden["dtype_stored"].as_str().unwrap_or("float32");
    // A bf16 cache rounds K and V to bf16 as a bf16 checkpoint's run does:
    // held to the bf16 rules (see KV_BF16_TOLERANCE).
    let tol = match kv {
        Some(KvDtype::Bf16) => tolerance(stored).max(KV_BF16_TOLERANCE),
        _ => tolerance(stored),
    };
    let (mut missing, mut positions) = (0, 0);
    let mut worst = 0.0f64;
    for case in golden["cases"].as_array().expect("cases") {
        let prompt: Vec<u32> = serde_json::from_value(case["prompt_ids"].clone()).unwrap();
        let want: Vec<u32> = serde_json::from_value(case["greedy_ids"].clone()).unwrap();
        let (status, body) = server
            .post(
                "/v1/completions",
                &json!({"model": server.model, "prompt": prompt, "max_tokens": want.len(),
                        "temperature": 0, "ignore_eos": true, "logprobs": 5,
                        "return_token_ids": true}),
            )
            .await;
        assert_eq!(status, 200, "{name}: {body}");
        let choice = &body["choices"][0];
        let got: Vec<u32> = serde_json::from_value(choice["token_ids"].clone())
            .unwrap_or_else(|_| panic!("{name}: no token_ids in {choice}"));
        // f32 / f16 checkpoints: greedy tokens match exactly. bf16: weir
        // rounds activations to bf16 (as a bf16 PyTorch run does), so near
        // ties may flip; as in vLLM's `check_logprobs_close`, a divergence
        // is allowed only where each side's token is in the other's top 5,
        // and comparison stops there.
        let top = case["top_logprobs"].as_array().unwrap();
        let mut agree = got.len();
        if tol > 0.1 {
            if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
                let gold_top: Vec<u64> = top[i]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p[0].as_u64().unwrap())
                    .collect();
                assert!(
                    gold_top.contains(&(got[i] as u64)),
                    "{name} / {} pos {i}: weir's token {} is not in the golden top 5 {gold_top:?}",
                    case["name"],
                    got[i]
                );
                let alts = choice["logprobs"]["top_logprobs"][i].as_object().unwrap();
                // Keyed as weir keys them: the token's raw bytes as UTF-8.
                let gold_text = String::from_utf8_lossy(&tok.token_bytes(want[i])).into_owned();
                assert!(
                    alts.contains_key(&gold_text),
                    "{name} / {} pos {i}: golden token {gold_text:?} is not in weir's top 5",
                    case["name"]
                );
                agree = i;
            }
        } else {
            assert_eq!(got, want, "{name} / {}: greedy tokens differ", case["name"]);
        }
        // The chosen token's logprob, position by position.
        let lps = choice["logprobs"]["token_logprobs"]
            .as_array()
            .expect("token_logprobs");
        let alt_tol = if tol > 0.1 { BF16_ALT_TOLERANCE } else { tol };
        for (pos, (lp, gold)) in lps.iter().zip(top).take(agree).enumerate() {
            let gold_lp = gold[0][1].as_f64().unwrap();
            let lp = lp.as_f64().unwrap();
            worst = worst.max((lp - gold_lp).abs());
            assert!(
                (lp - gold_lp).abs() <= tol,
                "{name} / {} pos {pos}: logprob {lp} vs golden {gold_lp} (tol {tol})",
                case["name"]
            );
            // The top-5 alternatives agree on their text and logprobs. weir keys
            // them by the token's bytes read as UTF-8, so partial UTF-8 pieces
            // share the key U+FFFD: golden alternatives are grouped by key, and
            // weir's value must be within tolerance of one of its group's.
            positions += 1;
            let alts = choice["logprobs"]["top_logprobs"][pos].as_object().unwrap();
            let weir_fifth = alts
                .values()
                .map(|v| v.as_f64().unwrap())
                .fold(f64::INFINITY, f64::min);
            let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
            for g in gold.as_array().unwrap() {
                let id = g[0].as_u64().unwrap() as u32;
                let text = String::from_utf8_lossy(&tok.token_bytes(id)).into_owned();
                let lp = g[1].as_f64().unwrap();
                match groups.iter_mut().find(|(t, _)| *t == text) {
                    Some((_, lps)) => lps.push(lp),
                    None => groups.push((text, vec![lp])),
                }
            }
            for (text, gold_lps) in &groups {
                match alts.get(text) {
                    Some(v) => {
                        let v = v.as_f64().unwrap();
                        let d = gold_lps
                            .iter()
                            .map(|g| (v - g).abs())
                            .fold(f64::INFINITY, f64::min);
                        assert!(
                            d <= alt_tol,
                            "{name} / {} pos {pos} alt {text:?}: off by {d} (tol {alt_tol})",
                            case["name"]
                        );
                    }
                    // bf16 only: an alternative at the top-5 boundary may swap
                    // with the 6th, but only one weir could have ranked below
                    // its own 5th within the tolerance (see BF16_ALT_TOLERANCE).
                    None => {
                        missing += 1;
                        let best = gold_lps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        assert!(
                            tol > 0.1 && best <= weir_fifth + alt_tol,
                            "{name} / {} pos {pos}: golden alternative {text:?} (logprob {best}) \
                             is not in weir's top 5 {alts:?}",
                            case["name"]
                        );
                    }
                }
            }
        }
    }
    eprintln!(
        "{name} (kv cache {kv:?}): chosen logprobs within {worst:.2e} of transformers, \
         {missing} golden alternatives missing from weir's top 5 over {positions} positions"
    );
    let most_missing = match kv {
        Some(KvDtype::Bf16) => KV_BF16_MAX_MISSING_ALTERNATIVES,
        _ => BF16_MAX_MISSING_ALTERNATIVES,
    };
    assert!(
        missing <= most_missing,
        "{name}: {missing} golden alternatives missing from weir's top 5 over {positions} positions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_gqa_with_llama3_rope_matches_transformers() {
    check_model("llama-gqa", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen2_with_bias_matches_transformers() {
    check_model("qwen2-bias", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen2_bf16_matches_transformers() {
    check_model("qwen2-bf16", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qwen3_with_qk_norm_and_yarn_matches_transformers() {
    check_model("qwen3-qknorm", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistral_with_sliding_window_matches_transformers() {
    check_model("mistral", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_f16_llama_matches_transformers() {
    check_model("llama-sharded", None).await;
}

/// The f32 and f16 checkpoints with `--kv-cache-dtype bf16`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bf16_kv_cache_stays_within_bf16_tolerances() {
    for name in [
        "llama-gqa",
        "qwen2-bias",
        "qwen3-qknorm",
        "mistral",
        "llama-sharded",
    ] {
        check_model(name, Some(KvDtype::Bf16)).await;
    }
}
