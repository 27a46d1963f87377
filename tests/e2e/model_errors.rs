//! A broken model directory is a one-line error naming the file (and the
//! tensor), never a panic. Each case copies a real tiny model and breaks one
//! thing.

use crate::common;

use std::path::{Path, PathBuf};

fn copy_model(name: &str, tag: &str) -> PathBuf {
    let src = common::model_dir(name);
    let dst = std::env::temp_dir().join(format!("weir-broken-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    dst
}

async fn start_err(dir: &Path) -> String {
    match weir::runtime::start(common::config(Some(dir.to_path_buf()))).await {
        Ok(_) => panic!("{} should not load", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(p, v.to_string()).unwrap();
}

#[tokio::test]
async fn unsupported_architecture_names_it_and_the_file() {
    let dir = copy_model("qwen2-bias", "arch");
    edit_config(&dir, |v| {
        v["architectures"] = serde_json::json!(["GPTNeoXForCausalLM"])
    });
    let e = start_err(&dir).await;
    assert!(
        e.contains("config.json") && e.contains("GPTNeoXForCausalLM"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[tokio::test]
async fn missing_weights_name_the_file() {
    let dir = copy_model("qwen2-bias", "noweights");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let e = start_err(&dir).await;
    assert!(e.contains("model.safetensors"), "{e}");
}

#[tokio::test]
async fn missing_tokenizer_names_the_file() {
    let dir = copy_model("qwen2-bias", "notok");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let e = start_err(&dir).await;
    assert!(e.contains("tokenizer.json"), "{e}");
}

#[tokio::test]
async fn wrong_shape_names_the_tensor() {
    let dir = copy_model("qwen2-bias", "shape");
    edit_config(&dir, |v| v["intermediate_size"] = serde_json::json!(96));
    let e = start_err(&dir).await;
    assert!(
        e.contains("mlp.gate_proj.weight") && e.contains("model.safetensors"),
        "{e}"
    );
    assert!(e.contains("expected [96,"), "{e}");
}

#[tokio::test]
async fn missing_tensor_names_it() {
    let dir = copy_model("qwen2-bias", "tensor");
    edit_config(&dir, |v| v["num_hidden_layers"] = serde_json::json!(3));
    let e = start_err(&dir).await;
    assert!(e.contains("model.layers.2."), "{e}");
}
