//! GGUF files served directly (`weir serve --model file.gguf`), written by
//! gguf-py as llama.cpp's converter writes them
//! (`scripts/make_gguf_models.py`: its tensor names, its q/k row
//! permutation for `llama`, gguf-py's Q8_0 quantizer). The same weights
//! reached through the safetensors checkpoint must give the same tokens
//! and the same logprobs, bit for bit: the BF16 / F16 files hold the
//! checkpoint's own values, and gguf-py's Q8_0 bytes equal weir's own
//! quantizer's (`quant::tests::gguf_py_goldens_bit_for_bit`), so
//! `--quantize q8_0` of the checkpoint is the reference for the Q8_0 file.

use crate::common;

use serde_json::{json, Value};
use weir::quant::QuantFormat;
use weir::runtime::{LoadOptions, RunnerKind};

/// Greedy completions (tokens and logprobs) of a few golden prompts.
async fn outputs(server: &common::TestServer, model: &str) -> Vec<(Vec<u64>, Vec<f64>)> {
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(common::model_dir(model).join("golden.json")).unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    for case in golden["cases"].as_array().unwrap().iter().take(3) {
        let (status, body) = server
            .post(
                "/v1/completions",
                &json!({"model": server.model, "prompt": case["prompt_ids"], "max_tokens": 12,
                        "temperature": 0, "ignore_eos": true, "logprobs": 1,
                        "return_token_ids": true}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let c = &body["choices"][0];
        let ids = serde_json::from_value(c["token_ids"].clone()).unwrap();
        let lps = serde_json::from_value(c["logprobs"]["token_logprobs"].clone()).unwrap();
        out.push((ids, lps));
    }
    out
}

async fn serve(path: std::path::PathBuf, quantize: Option<QuantFormat>) -> common::TestServer {
    let mut cfg = common::config(Some(path));
    cfg.runner = RunnerKind::Cpu(LoadOptions {
        quantize,
        ..Default::default()
    });
    common::start(cfg).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gguf_file_serves_what_its_checkpoint_serves() {
    for model in ["qwen2-bf16", "llama-sharded"] {
        let dir = common::model_dir(model);
        let reference = outputs(&serve(dir.clone(), None).await, model).await;
        let file = dir.join(format!("{model}.gguf"));
        let server = serve(file, None).await;
        assert_eq!(server.model, model, "served under the file's stem");
        assert_eq!(outputs(&server, model).await, reference, "{model}.gguf");

        let reference = outputs(&serve(dir.clone(), Some(QuantFormat::Q8_0)).await, model).await;
        let server = serve(dir.join(format!("{model}-q8_0.gguf")), None).await;
        assert_eq!(
            outputs(&server, model).await,
            reference,
            "{model}-q8_0.gguf"
        );
    }
}

/// One file per family and rope form, written as llama.cpp's converter
/// writes them (`scripts/make_gguf_models.py`), F32, served against its
/// checkpoint: tokens equal, logprobs within 1e-4.
/// - `llama-gqa`: Llama 3.1's rope scaling, which the converter stores as a
///   `rope_freqs` tensor of one divisor per frequency (computed with the
///   converter's code in f32; the checkpoint's inverse frequencies come
///   from the `llama3` parameters in f64, so the last bits differ).
///   Reading that file as plain RoPE changes the tokens from the fourth on
///   (tried).
/// - `qwen3-qknorm`: the `qwen3` architecture (q/k norms), YaRN from
///   `rope.scaling.*`.
/// - `mistral`: a Mistral checkpoint is a `llama` file; linear rope
///   scaling. (llama.cpp drops its sliding window of 128; the prompts and
///   completions here are shorter, as they are under Mistral v0.2+'s
///   32k context, which has none.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_family_s_file_serves_what_its_checkpoint_serves() {
    for model in ["llama-gqa", "qwen3-qknorm", "mistral"] {
        let dir = common::model_dir(model);
        let reference = outputs(&serve(dir.clone(), None).await, model).await;
        let got = outputs(&serve(dir.join(format!("{model}.gguf")), None).await, model).await;
        for ((ids, lps), (want_ids, want_lps)) in got.iter().zip(&reference) {
            assert_eq!(ids, want_ids, "{model}");
            for (a, b) in lps.iter().zip(want_lps) {
                assert!((a - b).abs() < 1e-4, "{model}: {a} vs {b}");
            }
        }
    }
}

/// A GGUF file alone (no tokenizer files beside it) is served with the
/// tokenizer its metadata describes (`tokenizer.ggml.*`, byte-level BPE
/// with the `qwen2` pre-tokenizer): it tokenizes text, special tokens and
/// chat messages exactly as the model's own `tokenizer.json` does, and its
/// chat template comes from the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gguf_file_alone_brings_its_own_tokenizer() {
    let dir = std::env::temp_dir().join(format!("weir-gguf-own-tok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = common::model_dir("qwen2-bf16").join("qwen2-bf16-q8_0.gguf");
    let file = dir.join("qwen2-bf16-q8_0.gguf");
    std::fs::copy(&src, &file).unwrap();
    let alone = serve(file, None).await;
    let beside = serve(src, None).await;
    let texts = [
        "Hello, world! It's 2026-12-07 and I'll pay $1,234.56.",
        "fn main() {\n    println!(\"héllo wörld — 你好 🌍\");\n}\n\n\t  trailing   ",
        "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
        "   leading spaces and\r\nCRLF lines\n\n\nand 'quotes' 've 'LL",
    ];
    for text in texts {
        let body = json!({"model": alone.model, "prompt": text});
        let (s1, a) = alone.post("/tokenize", &body).await;
        let (s2, b) = beside
            .post("/tokenize", &json!({"model": beside.model, "prompt": text}))
            .await;
        assert_eq!((s1, s2), (200, 200), "{a} {b}");
        assert_eq!(a["tokens"], b["tokens"], "{text:?}");
        let (_, d) = alone
            .post(
                "/detokenize",
                &json!({"model": alone.model, "tokens": a["tokens"]}),
            )
            .await;
        assert_eq!(d["prompt"], text);
    }
    let messages = json!([{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Write 3 haiku about Rust 🦀."}]);
    let (_, a) = alone
        .post(
            "/tokenize",
            &json!({"model": alone.model, "messages": messages}),
        )
        .await;
    let (_, b) = beside
        .post(
            "/tokenize",
            &json!({"model": beside.model, "messages": messages}),
        )
        .await;
    assert_eq!(a["tokens"], b["tokens"], "chat template from the file");
    assert!(a["count"].as_u64().unwrap() > 10, "{a}");
    let (status, c) = alone
        .post(
            "/v1/chat/completions",
            &json!({"model": alone.model, "messages": messages, "max_tokens": 5}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A GGUF file whose metadata holds no tokenizer, with no tokenizer files
/// beside it, is refused at start with one line saying what to do; a
/// damaged one names the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gguf_file_without_a_tokenizer_or_damaged_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("weir-gguf-alone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("m.gguf");
    // A Q8_0 test file, its tokenizer model renamed to an unsupported one
    // (same length, so the file stays valid).
    let mut bytes =
        std::fs::read(common::model_dir("qwen2-bf16").join("qwen2-bf16-q8_0.gguf")).unwrap();
    let key = b"tokenizer.ggml.model";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    // key, then the u32 type (8 = string), the u64 length (4), "gpt2".
    assert_eq!(&bytes[at + 12..at + 16], b"gpt2");
    bytes[at + 12..at + 16].copy_from_slice(b"bert");
    std::fs::write(&file, &bytes).unwrap();
    let err = match weir::runtime::start(common::config(Some(file.clone()))).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started without a tokenizer"),
    };
    assert!(
        err.contains("m.gguf") && err.contains("bert") && err.contains("tokenizer.json"),
        "{err}"
    );

    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(common::model_dir("qwen2-bf16").join(f), dir.join(f)).unwrap();
    }
    let err = match weir::runtime::start(common::config(Some(file.clone()))).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started from half a file"),
    };
    assert!(
        err.contains("m.gguf") && err.contains("past the end"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
