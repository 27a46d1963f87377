//! A backend op that fails mid-step (a GPU's out-of-memory or launch
//! error) fails that step's requests with a clear error, and the engine
//! goes on serving: the same real decoder and tiny model, behind a backend
//! that returns an error from one op when told to, served over HTTP.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;
use weir::backend::cpu::{CpuBackend, CpuKvLayer};
use weir::backend::{AttnSeqInfo, AttnShape, Backend, BackendError, HostMatrix};
use weir::model::Decoder;
use weir::runtime::{RunnerFactory, RunnerKind};

/// The CPU backend, except that `attention` fails once after `armed` is set.
struct FaultyBackend {
    armed: Arc<AtomicBool>,
}

impl Backend for FaultyBackend {
    type Matrix = HostMatrix;
    type Vector = Vec<f32>;
    type Buf = Vec<f32>;
    type KvLayer = CpuKvLayer;

    fn name(&self) -> &'static str {
        "faulty-cpu"
    }
    fn upload_matrix(&self, m: HostMatrix) -> Result<HostMatrix, BackendError> {
        CpuBackend.upload_matrix(m)
    }
    fn upload_vector(&self, v: Vec<f32>) -> Result<Vec<f32>, BackendError> {
        CpuBackend.upload_vector(v)
    }
    fn alloc(&self, len: usize) -> Result<Vec<f32>, BackendError> {
        CpuBackend.alloc(len)
    }
    fn alloc_kv(&self, slots: usize, kv_dim: usize) -> Result<CpuKvLayer, BackendError> {
        CpuBackend.alloc_kv(slots, kv_dim)
    }
    fn to_host(&self, buf: &Vec<f32>, len: usize) -> Result<Vec<f32>, BackendError> {
        CpuBackend.to_host(buf, len)
    }
    fn embedding(
        &self,
        t: &HostMatrix,
        ids: &[u32],
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        CpuBackend.embedding(t, ids, out)
    }
    fn matmul(
        &self,
        x: &Vec<f32>,
        m: usize,
        w: &HostMatrix,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        CpuBackend.matmul(x, m, w, out)
    }
    fn add_bias(&self, x: &mut Vec<f32>, rows: usize, b: &Vec<f32>) -> Result<(), BackendError> {
        CpuBackend.add_bias(x, rows, b)
    }
    fn rms_norm(
        &self,
        x: &Vec<f32>,
        w: &Vec<f32>,
        eps: f32,
        rows: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        CpuBackend.rms_norm(x, w, eps, rows, out)
    }
    fn add_rms_norm(
        &self,
        residual: &mut Vec<f32>,
        x: &Vec<f32>,
        w: &Vec<f32>,
        eps: f32,
        rows: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        CpuBackend.add_rms_norm(residual, x, w, eps, rows, out)
    }
    fn split_qkv(
        &self,
        qkv: &Vec<f32>,
        rows: usize,
        q_dim: usize,
        kv_dim: usize,
        q: &mut Vec<f32>,
        k: &mut Vec<f32>,
        v: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        CpuBackend.split_qkv(qkv, rows, q_dim, kv_dim, q, k, v)
    }
    fn rope(
        &self,
        x: &mut Vec<f32>,
        positions: &[u32],
        heads: usize,
        head_dim: usize,
        inv_freq: &[f32],
        scaling: f32,
    ) -> Result<(), BackendError> {
        CpuBackend.rope(x, positions, heads, head_dim, inv_freq, scaling)
    }
    fn silu_mul(
        &self,
        gate_up: &Vec<f32>,
        rows: usize,
        inter: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        CpuBackend.silu_mul(gate_up, rows, inter, out)
    }
    fn write_kv(
        &self,
        k: &Vec<f32>,
        v: &Vec<f32>,
        slots: &[u32],
        kv_dim: usize,
        cache: &mut CpuKvLayer,
    ) -> Result<(), BackendError> {
        CpuBackend.write_kv(k, v, slots, kv_dim, cache)
    }
    fn attention(
        &self,
        q: &Vec<f32>,
        cache: &CpuKvLayer,
        shape: AttnShape,
        seqs: &[AttnSeqInfo<'_>],
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            return Err(BackendError::Device(
                "attention: out of device memory (injected)".into(),
            ));
        }
        CpuBackend.attention(q, cache, shape, seqs, out)
    }
    fn gather_rows(
        &self,
        x: &Vec<f32>,
        rows: &[usize],
        dim: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), BackendError> {
        CpuBackend.gather_rows(x, rows, dim, out)
    }
}

async fn faulty_server() -> (common::TestServer, Arc<AtomicBool>) {
    let armed = Arc::new(AtomicBool::new(false));
    let flag = armed.clone();
    let mut cfg = common::config(Some(common::model_dir("qwen2-bf16")));
    cfg.runner = RunnerKind::Custom(RunnerFactory(Arc::new(move |spec| {
        let backend = FaultyBackend {
            armed: flag.clone(),
        };
        let dec = Decoder::load(
            backend,
            spec.dir,
            spec.model.clone(),
            spec.num_blocks,
            spec.block_size,
        )
        .map_err(|e| e.to_string())?;
        Ok(Box::new(dec) as Box<dyn weir::runner::ModelRunner>)
    })));
    (common::start(cfg).await, armed)
}

fn chat(model: &str, stream: bool) -> serde_json::Value {
    json!({
        "model": model,
        "ignore_eos": true,
        "messages": [{"role": "user", "content": "hello there"}],
        "max_tokens": 4,
        "stream": stream,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_op_fails_its_request_and_the_engine_keeps_serving() {
    let (server, armed) = faulty_server().await;

    // Non-streamed: the failure is a 500 with an OpenAI error body naming it.
    armed.store(true, Ordering::SeqCst);
    let (status, body) = server
        .post("/v1/chat/completions", &chat(&server.model, false))
        .await;
    assert_eq!(status, 500, "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("attention") && msg.contains("injected"),
        "{body}"
    );
    assert!(!armed.load(Ordering::SeqCst), "the fault fired");

    // Streamed: the stream carries an error frame, then ends.
    armed.store(true, Ordering::SeqCst);
    let text = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .json(&chat(&server.model, true))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    assert!(
        text.contains("\"error\"") && text.contains("injected"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // The engine goes on: the same request now succeeds, and nothing the
    // failed requests held is left behind.
    let (status, body) = server
        .post("/v1/chat/completions", &chat(&server.model, false))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["usage"]["completion_tokens"], 4, "{body}");
    let m = server.metrics().await;
    assert_eq!(
        common::TestServer::metric(&m, "vllm:num_requests_running"),
        0.0
    );
    assert_eq!(
        common::TestServer::metric(&m, "vllm:num_requests_waiting"),
        0.0
    );
}
