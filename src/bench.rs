//! `weir bench`: serving throughput measured in-process through the real
//! engine (request actor, scheduler, executor, stream actors; no HTTP), with
//! the limit beside each figure.
//!
//! - prefill: time to the first token of one long prompt (best of 3);
//! - decode at batch 1: inter-token time of one request after its first token;
//! - aggregate decode: total tokens / wall time of N concurrent requests.
//!
//! Prompts are random token ids (fixed seed); generation ignores eos, so each
//! request produces exactly `max_tokens`.

use std::time::{Duration, Instant};

use crate::engine::request::{GenerateRequest, Prompt, SamplingParams, StreamEvent, TenantId};
use crate::engine::EngineHandle;

/// What one streamed request took.
struct Timing {
    first: Duration,
    last: Duration,
    tokens: usize,
}

async fn run_one(
    engine: &EngineHandle,
    prompt: Vec<u32>,
    max_tokens: usize,
) -> Result<Timing, String> {
    let start = Instant::now();
    let req = GenerateRequest {
        tenant: TenantId::default(),
        prompt: Prompt::Tokens(prompt),
        params: SamplingParams {
            temperature: 0.0,
            ignore_eos: true,
            ..Default::default()
        },
        max_tokens: Some(max_tokens),
        seed: Some(0),
        n: 1,
        stop: vec![],
        skip_special_tokens: true,
        cache_salt: None,
    };
    let gen = engine.generate(req).await.map_err(|e| e.to_string())?;
    let (mut first, mut last, mut tokens) = (None, Duration::ZERO, 0);
    while let Ok(ev) = gen.events.recv_async().await {
        match ev {
            StreamEvent::Delta { token_ids, .. } if !token_ids.is_empty() => {
                let now = start.elapsed();
                first.get_or_insert(now);
                last = now;
                tokens += token_ids.len();
            }
            StreamEvent::Delta { .. } => {}
            StreamEvent::Finished { .. } => break,
            StreamEvent::Failed { message } => return Err(message),
        }
    }
    Ok(Timing {
        first: first.ok_or("no token generated")?,
        last,
        tokens,
    })
}

/// Multi-threaded read bandwidth over `bytes` of memory, in GB/s (best of 3).
pub fn read_bandwidth_gbs(bytes: usize) -> f64 {
    use rayon::prelude::*;
    let data = vec![1u64; bytes / 8];
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        let sum: u64 = data
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
            .reduce(|| 0, u64::wrapping_add);
        let dt = t.elapsed().as_secs_f64();
        std::hint::black_box(sum);
        best = best.max(bytes as f64 / dt / 1e9);
    }
    best
}

/// Run the benchmark and print a report. `weight_bytes` is the bytes one
/// decode step reads (for the bandwidth fraction).
pub async fn run(
    engine: &EngineHandle,
    weight_bytes: usize,
    prefill_len: usize,
    concurrency: &[usize],
) -> Result<(), String> {
    let vocab = engine.tokenizer().vocab_size().min(16000) as u64;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut prompt = |n: usize| -> Vec<u32> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (1000 + state % (vocab - 1000)) as u32
            })
            .collect()
    };
    let bw = tokio::task::spawn_blocking(|| read_bandwidth_gbs(1 << 30))
        .await
        .map_err(|e| e.to_string())?;
    println!("memory read bandwidth (probe, 1 GiB): {bw:.1} GB/s");
    run_one(engine, prompt(16), 4).await?; // warm-up

    let mut best = Duration::MAX;
    for _ in 0..3 {
        best = best.min(run_one(engine, prompt(prefill_len), 1).await?.first);
    }
    println!(
        "prefill: {:.1} tok/s ({prefill_len} tokens in {:.0} ms)",
        prefill_len as f64 / best.as_secs_f64(),
        best.as_secs_f64() * 1e3
    );

    let t = run_one(engine, prompt(16), 129).await?;
    let per_tok = (t.last - t.first).as_secs_f64() / (t.tokens - 1) as f64;
    let gbs = weight_bytes as f64 / per_tok / 1e9;
    println!(
        "decode, batch 1: {:.1} tok/s ({:.1} ms/token; {:.1} GB/s of weights = {:.0}% of the probe)",
        1.0 / per_tok,
        per_tok * 1e3,
        gbs,
        100.0 * gbs / bw
    );

    for &n in concurrency {
        let start = Instant::now();
        let runs = futures::future::join_all((0..n).map(|_| run_one(engine, prompt(16), 64))).await;
        let wall = start.elapsed().as_secs_f64();
        let mut tokens = 0;
        for r in runs {
            tokens += r?.tokens;
        }
        println!(
            "aggregate decode, {n} concurrent (16-token prompts, 64 tokens each): {:.1} tok/s ({tokens} tokens in {wall:.1} s)",
            tokens as f64 / wall
        );
    }
    Ok(())
}
