//! Backpressure with real stalled sockets: `weir serve --backend sim` runs
//! as its own process and clients connect over raw TCP with a small receive
//! buffer. A client that stops reading must cost the server a bounded
//! buffer, not `max_tokens` events, and be disconnected after
//! `--stream-stall-timeout` with its sequence freed and its usage recorded
//! once; a client that reads slowly but steadily must get every token.
//!
//! Memory is read from `/proc/PID/status` (VmRSS) of the server process and
//! compared with what unbounded buffering would hold, computed from the
//! bytes a reading client receives per token; nothing here asserts timing
//! (deadlines only stop a hung test).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Stall timeout the servers here run with, in seconds.
const STALL_SECS: &str = "2";

/// `weir serve` as its own process; killed on drop.
struct ServerProcess {
    child: std::process::Child,
    port: u16,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Start the sim backend (random tokens) with a fast modelled speed,
    /// room for every sequence of these tests at once, and `extra` flags.
    async fn start(extra: &[&str]) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["serve", "--port", &port.to_string()])
            .args(["--backend", "sim", "--sim-mode", "random"])
            .args(["--served-model-name", "bp"])
            .args(["--sim-prefill-us-per-token", "0"])
            .args(["--sim-decode-us-per-seq", "0"])
            .args(["--num-kv-blocks", "600000", "--max-num-seqs", "1024"])
            .args(["--max-num-batched-tokens", "65536"])
            .args(["--stream-stall-timeout", STALL_SECS])
            .args(extra)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("weir starts");
        let server = ServerProcess { child, port };
        for _ in 0..300 {
            if let Ok(r) = reqwest::get(server.url("/health")).await {
                if r.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("weir serve did not become healthy on port {port}");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The server's resident memory in bytes.
    fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status");
        kib * 1024
    }

    /// The engine's gauges and counters, read from `/metrics`.
    async fn metrics(&self) -> Metrics {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics body");
        let value = |name: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        Metrics {
            running: value("vllm:num_requests_running{"),
            waiting: value("vllm:num_requests_waiting{"),
            kv_usage: value("vllm:kv_cache_usage_perc{"),
            generation_tokens: value("vllm:generation_tokens_total{"),
            aborted: value(
                "vllm:request_success_total{model_name=\"bp\",finished_reason=\"abort\"}",
            ),
            finished: value("vllm:request_success_total{"),
        }
    }

    /// Wait until `requests` requests have ended, no sequence runs or waits
    /// and the KV cache is empty.
    async fn wait_until_idle(&self, requests: usize, deadline: Duration) -> Metrics {
        let started = Instant::now();
        loop {
            let m = self.metrics().await;
            if m.finished >= requests as f64
                && m.running == 0.0
                && m.waiting == 0.0
                && m.kv_usage == 0.0
            {
                return m;
            }
            assert!(
                started.elapsed() < deadline,
                "sequences still held after {deadline:?}: {m:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Metrics {
    running: f64,
    waiting: f64,
    kv_usage: f64,
    generation_tokens: f64,
    aborted: f64,
    finished: f64,
}

/// A streamed completions body: random tokens, `ignore_eos`, and logprobs
/// so every event is large, as an agent asking for logprobs makes them.
fn stream_body(max_tokens: usize) -> Value {
    json!({
        "model": "bp",
        "prompt": "Write a long story about a lighthouse keeper.",
        "max_tokens": max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
        "ignore_eos": true,
        "logprobs": 5,
    })
}

/// Open a connection with a 4 KiB receive buffer and send `body` as a
/// streaming completions request; the response is left unread.
async fn send_stream_request(port: u16, body: &Value) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connect");
    let body = body.to_string();
    let head = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream.write_all(body.as_bytes()).await.expect("send body");
    stream
}

/// The `data:` payloads of an HTTP/1.1 chunked SSE response read raw. Each
/// body chunk holds whole frames, so chunk-size lines never split one.
fn sse_payloads(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

/// Wire bytes per generated token of a stream read in full (the smallest
/// form of what unbounded buffering would hold per token).
async fn wire_bytes_per_token(server: &ServerProcess, max_tokens: usize) -> f64 {
    let body = reqwest::Client::new()
        .post(server.url("/v1/completions"))
        .json(&stream_body(max_tokens))
        .send()
        .await
        .expect("a reading client's request")
        .bytes()
        .await
        .expect("its body");
    let tokens: usize = sse_payloads(&body)
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .filter_map(|v| Some(v["choices"][0]["logprobs"]["tokens"].as_array()?.len()))
        .sum();
    assert_eq!(tokens, max_tokens, "a reading client gets every token");
    body.len() as f64 / tokens as f64
}

/// One short request after the storm: the server still serves.
async fn assert_serves(server: &ServerProcess) {
    let r = reqwest::Client::new()
        .post(server.url("/v1/completions"))
        .json(&json!({"model": "bp", "prompt": "hi", "max_tokens": 8, "ignore_eos": true}))
        .send()
        .await
        .expect("a normal request");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("a JSON reply");
    assert_eq!(v["usage"]["completion_tokens"], 8);
}

/// A thousand clients that never read: the server's memory grows by a
/// small fraction of what their unread tokens would take, every one is
/// disconnected after the stall timeout with its blocks freed and its
/// request counted once, and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stalled_readers_cost_bounded_memory_and_are_freed() {
    const STREAMS: usize = 1000;
    const MAX_TOKENS: usize = 30000;
    // 3 ms a step: every stream makes tokens far faster than it could be
    // read, as a fast GPU does, yet slowly enough that the first streams
    // have not filled their sockets and stalled out before the last of the
    // thousand is sent, on a slow or busy machine too (a socket takes
    // about 4,400 tokens, 13 s, to fill; opening a thousand took up to 6 s
    // on two busy cores).
    let server = ServerProcess::start(&["--sim-decode-step-us", "3000"]).await;
    let per_token = wire_bytes_per_token(&server, 200).await;
    assert_serves(&server).await;
    let unbounded = STREAMS as f64 * MAX_TOKENS as f64 * per_token;
    // A stalled stream holds its bounded buffer of events, hyper's few
    // queued writes and the token ids that reach its stream actor until
    // the stall timeout: far below a tenth of its tokens. (The kernel's
    // socket buffers, about a megabyte per loopback socket, are not in RSS;
    // they only let each stream run longer before it fills.)
    let bound = unbounded / 10.0;
    let before = server.rss_bytes();

    let body = stream_body(MAX_TOKENS);
    let mut sockets = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        sockets.push(send_stream_request(server.port, &body).await);
    }

    let started = Instant::now();
    let mut peak = before;
    let mut peak_running = 0.0f64;
    let idle = loop {
        let m = server.metrics().await;
        let rss = server.rss_bytes();
        peak = peak.max(rss);
        peak_running = peak_running.max(m.running + m.waiting);
        assert!(
            (rss.saturating_sub(before) as f64) < bound,
            "the server grew by {} MB with {STREAMS} stalled readers, over a tenth \
             of the {:.0} MB their unread tokens take ({per_token:.0} B a token)",
            rss.saturating_sub(before) / 1_000_000,
            unbounded / 1e6,
        );
        if m.finished >= STREAMS as f64 + 2.0
            && m.running == 0.0
            && m.waiting == 0.0
            && m.kv_usage == 0.0
        {
            break m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "stalled streams still held after 300 s: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let after = server.rss_bytes();
    eprintln!(
        "backpressure: {STREAMS} stalled readers, max_tokens {MAX_TOKENS}, \
         {per_token:.0} B a token on the wire: unbounded would hold {:.0} MB; \
         RSS before {:.1} MB, peak {:.1} MB (+{:.1} MB), after {:.1} MB; \
         {:.0} tokens generated; freed after {:.1} s",
        unbounded / 1e6,
        before as f64 / 1e6,
        peak as f64 / 1e6,
        (peak - before) as f64 / 1e6,
        after as f64 / 1e6,
        idle.generation_tokens,
        started.elapsed().as_secs_f64(),
    );
    // Every stream really ran, and each one was cut off, not finished.
    assert!(
        peak_running >= STREAMS as f64 * 0.9,
        "only {peak_running} of {STREAMS} streams were seen at once"
    );
    assert_eq!(
        idle.aborted, STREAMS as f64,
        "each stalled request counted once as aborted"
    );
    assert!(
        idle.generation_tokens < (STREAMS * MAX_TOKENS) as f64 / 4.0,
        "{} tokens generated: the stalled streams were not cut off",
        idle.generation_tokens
    );
    assert_serves(&server).await;
    drop(sockets);
}

/// One stalled client among normal ones: disconnected after the stall
/// timeout (its sequence aborted and freed, its connection closed before
/// `[DONE]`), counted once; the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_disconnected_and_its_sequence_freed() {
    const MAX_TOKENS: usize = 30000;
    let server = ServerProcess::start(&["--sim-decode-step-us", "1000"]).await;
    let mut socket = send_stream_request(server.port, &stream_body(MAX_TOKENS)).await;
    // Give it time to fill every buffer, then to be cut off.
    let m = server.wait_until_idle(1, Duration::from_secs(60)).await;
    assert_eq!(
        m.aborted, 1.0,
        "the stalled request is counted once, as aborted"
    );
    assert_eq!(m.finished, 1.0, "and only once");
    // Loopback's large segments let the kernel take about a megabyte of
    // the stream before any buffer of the server's fills.
    assert!(
        m.generation_tokens < MAX_TOKENS as f64 * 0.75,
        "{} of {MAX_TOKENS} tokens made: it ran on instead of being cut off",
        m.generation_tokens
    );
    // The server closed the connection: what was in flight, then the end,
    // and never the stream's normal ending.
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "the server kept the stalled connection open");
    assert!(raw.starts_with(b"HTTP/1.1 200"), "it did start streaming");
    assert!(
        !sse_payloads(&raw).iter().any(|p| p == "[DONE]"),
        "a disconnected stream does not end with [DONE]"
    );
    assert_serves(&server).await;
}

/// A client that reads slowly but never stops for the stall timeout is
/// waited for, however long the whole stream takes, and gets every token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_but_steady_reader_gets_every_token() {
    const MAX_TOKENS: usize = 600;
    let server = ServerProcess::start(&["--sim-decode-step-us", "1000"]).await;
    let mut socket = send_stream_request(server.port, &stream_body(MAX_TOKENS)).await;
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    // 1 KiB every 40 ms (25 KiB/s) against a server that makes tokens at
    // up to a thousand a second: its buffers stay full, and the client's
    // reads come well inside the 2 s stall timeout.
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), socket.read(&mut buf))
            .await
            .expect("the server kept sending")
            .expect("read");
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.ends_with(b"0\r\n\r\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let took = started.elapsed();
    let payloads = sse_payloads(&raw);
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = payloads
        .iter()
        .filter_map(|p| serde_json::from_str(p).ok())
        .collect();
    let tokens: usize = chunks
        .iter()
        .filter_map(|v| Some(v["choices"][0]["logprobs"]["tokens"].as_array()?.len()))
        .sum();
    assert_eq!(tokens, MAX_TOKENS, "every token arrived");
    let usage = chunks
        .iter()
        .find(|v| v["usage"].is_object())
        .expect("a usage chunk");
    assert_eq!(usage["usage"]["completion_tokens"], MAX_TOKENS);
    let finish = chunks
        .iter()
        .find_map(|v| v["choices"][0]["finish_reason"].as_str())
        .expect("a finish reason");
    assert_eq!(finish, "length");
    // The stream lasted several stall timeouts, so the server really waited.
    let stall: f64 = STALL_SECS.parse().expect("seconds");
    assert!(
        took.as_secs_f64() > 2.0 * stall,
        "the read took {took:?}: too fast to have made the server wait"
    );
    let m = server.wait_until_idle(1, Duration::from_secs(30)).await;
    assert_eq!(m.aborted, 0.0, "the slow reader was never cut off");
}
