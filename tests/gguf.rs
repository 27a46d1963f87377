//! GGUF files served directly (`weir serve --model file.gguf`), written by
//! gguf-py as llama.cpp's converter writes them
//! (`scripts/make_gguf_models.py`: its tensor names, its q/k row
//! permutation for `llama`, gguf-py's Q8_0 quantizer). The same weights
//! reached through the safetensors checkpoint must give the same tokens
//! and the same logprobs, bit for bit: the BF16 / F16 files hold the
//! checkpoint's own values, and gguf-py's Q8_0 bytes equal weir's own
//! quantizer's (`quant::tests::gguf_py_goldens_bit_for_bit`), so
//! `--quantize q8_0` of the checkpoint is the reference for the Q8_0 file.

mod common;

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
    cfg.runner = RunnerKind::Cpu(LoadOptions { quantize });
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

/// Without the tokenizer files beside it, a GGUF file is refused at start
/// with one line saying what to do; a damaged one names the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gguf_file_without_a_tokenizer_or_damaged_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("weir-gguf-alone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("m.gguf");
    std::fs::copy(
        common::model_dir("qwen2-bf16").join("qwen2-bf16-q8_0.gguf"),
        &file,
    )
    .unwrap();
    let err = match weir::runtime::start(common::config(Some(file.clone()))).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("started without a tokenizer"),
    };
    assert!(
        err.contains("m.gguf") && err.contains("tokenizer.json"),
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
