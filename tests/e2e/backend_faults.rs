//! A backend op that fails mid-step (a GPU's out-of-memory or launch
//! error) fails that step's requests with a clear error, and the engine
//! goes on serving: the same real decoder and tiny model, behind a backend
//! that returns an error from one op when told to, served over HTTP.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;
use weir::backend::cpu::CpuBackend;
use weir::backend::{AttnSeqInfo, AttnShape, Backend, BackendError, HostMatrix, KvDtype};
use weir::model::Decoder;
use weir::runtime::{RunnerFactory, RunnerKind};

/// Another backend (the CPU's here), except that `attention` fails once
/// after `armed` is set.
struct FaultyBackend<B> {
    inner: B,
    armed: Arc<AtomicBool>,
}

impl<B: Backend> Backend for FaultyBackend<B> {
    type Matrix = B::Matrix;
    type Vector = B::Vector;
    type Buf = B::Buf;
    type KvLayer = B::KvLayer;

    fn name(&self) -> &'static str {
        "faulty"
    }
    fn upload_matrix(&self, m: HostMatrix) -> Result<Self::Matrix, BackendError> {
        self.inner.upload_matrix(m)
    }
    fn upload_vector(&self, v: Vec<f32>) -> Result<Self::Vector, BackendError> {
        self.inner.upload_vector(v)
    }
    fn alloc(&self, len: usize) -> Result<Self::Buf, BackendError> {
        self.inner.alloc(len)
    }
    fn alloc_kv(
        &self,
        slots: usize,
        kv_dim: usize,
        dtype: KvDtype,
    ) -> Result<Self::KvLayer, BackendError> {
        self.inner.alloc_kv(slots, kv_dim, dtype)
    }
    fn to_host(&self, buf: &Self::Buf, len: usize) -> Result<Vec<f32>, BackendError> {
        self.inner.to_host(buf, len)
    }
    fn embedding(&self, t: &Self::Matrix, ids: &[u32], o: &mut Self::Buf) -> Fallible {
        self.inner.embedding(t, ids, o)
    }
    fn matmul(&self, x: &Self::Buf, m: usize, w: &Self::Matrix, o: &mut Self::Buf) -> Fallible {
        self.inner.matmul(x, m, w, o)
    }
    fn add_bias(&self, x: &mut Self::Buf, rows: usize, b: &Self::Vector) -> Fallible {
        self.inner.add_bias(x, rows, b)
    }
    fn rms_norm(
        &self,
        x: &Self::Buf,
        w: &Self::Vector,
        e: f32,
        r: usize,
        o: &mut Self::Buf,
    ) -> Fallible {
        self.inner.rms_norm(x, w, e, r, o)
    }
    fn add_rms_norm(
        &self,
        res: &mut Self::Buf,
        x: &Self::Buf,
        w: &Self::Vector,
        e: f32,
        r: usize,
        o: &mut Self::Buf,
    ) -> Fallible {
        self.inner.add_rms_norm(res, x, w, e, r, o)
    }
    fn split_qkv(
        &self,
        qkv: &Self::Buf,
        r: usize,
        qd: usize,
        kvd: usize,
        q: &mut Self::Buf,
        k: &mut Self::Buf,
        v: &mut Self::Buf,
    ) -> Fallible {
        self.inner.split_qkv(qkv, r, qd, kvd, q, k, v)
    }
    fn rope(
        &self,
        x: &mut Self::Buf,
        pos: &[u32],
        h: usize,
        hd: usize,
        f: &[f32],
        s: f32,
    ) -> Fallible {
        self.inner.rope(x, pos, h, hd, f, s)
    }
    fn silu_mul(&self, gu: &Self::Buf, r: usize, i: usize, o: &mut Self::Buf) -> Fallible {
        self.inner.silu_mul(gu, r, i, o)
    }
    fn write_kv(
        &self,
        k: &Self::Buf,
        v: &Self::Buf,
        slots: &[u32],
        kvd: usize,
        c: &mut Self::KvLayer,
    ) -> Fallible {
        self.inner.write_kv(k, v, slots, kvd, c)
    }
    fn attention(
        &self,
        q: &Self::Buf,
        c: &Self::KvLayer,
        sh: AttnShape,
        seqs: &[AttnSeqInfo<'_>],
        o: &mut Self::Buf,
    ) -> Fallible {
        if self.armed.swap(false, Ordering::SeqCst) {
            return Err(BackendError::Device(
                "attention: out of device memory (injected)".into(),
            ));
        }
        self.inner.attention(q, c, sh, seqs, o)
    }
    fn gather_rows(&self, x: &Self::Buf, rows: &[usize], d: usize, o: &mut Self::Buf) -> Fallible {
        self.inner.gather_rows(x, rows, d, o)
    }
}

/// What every op returns.
type Fallible = Result<(), BackendError>;

async fn faulty_server() -> (common::TestServer, Arc<AtomicBool>) {
    let armed = Arc::new(AtomicBool::new(false));
    let flag = armed.clone();
    let mut cfg = common::config(Some(common::model_dir("qwen2-bf16")));
    cfg.runner = RunnerKind::Custom(RunnerFactory(Arc::new(move |spec| {
        let backend = FaultyBackend {
            inner: CpuBackend,
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
        .post_text("/v1/chat/completions", &chat(&server.model, true))
        .await;
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
