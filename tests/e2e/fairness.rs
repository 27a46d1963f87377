//! Fair scheduling across tenants, end to end through the real engine (sim
//! runner, scheduler actor, executor, stream actors): a tenant flooding the
//! server does not hold back a light one, and weights 2:1 split the service
//! 2:1 while both tenants are backlogged (docs/fairness.md).

use crate::common;

use std::time::{Duration, Instant};

use weir::engine::fair::{service_bound, TenantService};
use weir::engine::request::{
    GenerateRequest, Prompt, SamplingParams, StreamEvent, Tenant, TenantId,
};
use weir::runtime::EngineHandle;

/// Long prompts make prefill the contended resource: under FIFO a request
/// queued behind the flood waits for every flooding prompt to be computed.
const FLOOD_PROMPT: usize = 1000;

fn tenant(name: &str, weight: u32) -> Tenant {
    Tenant {
        id: TenantId(name.into()),
        weight,
        cache_group: name.into(),
    }
}

/// A request of `len` prompt tokens of its own (no prefix-cache hits
/// between requests), `max_tokens` produced whatever the sim samples.
fn request(t: &Tenant, i: usize, len: usize, max_tokens: usize) -> GenerateRequest {
    let prompt = (0..len)
        .map(|j| 10 + ((i * 31 + j * 17 + i * j) % 4000) as u32)
        .collect();
    GenerateRequest {
        tenant: t.clone(),
        prompt: Prompt::Tokens(prompt),
        params: SamplingParams {
            ignore_eos: true,
            ..Default::default()
        },
        max_tokens: Some(max_tokens),
        seed: Some(i as u64),
        n: 1,
        stop: Vec::new(),
        skip_special_tokens: true,
        cache_salt: None,
        parse_tool_calls: false,
        constraint: None,
        gate: None,
    }
}

/// Runs a request to its end; returns its time to first token.
async fn ttft(engine: EngineHandle, req: GenerateRequest) -> Duration {
    let start = Instant::now();
    let generation = engine.generate(req).await.expect("request accepted");
    let mut first = None;
    while let Ok(ev) = generation.events.recv_async().await {
        match ev {
            StreamEvent::Delta { token_ids, .. } if !token_ids.is_empty() => {
                first.get_or_insert_with(|| start.elapsed());
            }
            StreamEvent::Finished { .. } => break,
            StreamEvent::Failed { .. } | StreamEvent::QueueTimedOut { .. } => {
                panic!("request failed: {ev:?}")
            }
            _ => {}
        }
    }
    first.expect("a token came")
}

async fn engine(max_num_seqs: usize, num_kv_blocks: usize) -> EngineHandle {
    let mut cfg = common::config(None);
    cfg.runner = common::sim("random");
    cfg.max_num_seqs = max_num_seqs;
    cfg.num_kv_blocks = Some(num_kv_blocks);
    cfg.max_model_len = Some(4096);
    weir::runtime::start(cfg).await.expect("engine starts")
}

fn service_of(svc: &[TenantService], name: &str) -> Option<TenantService> {
    svc.iter().find(|t| t.tenant.0 == name).cloned()
}

/// Waits until all of `name`'s `n` requests of `prompt_len` tokens reached
/// the scheduler (admitted since `admitted_before` prompt tokens were
/// charged, or waiting); returns how many were still waiting then.
async fn until_queued(
    engine: &EngineHandle,
    name: &str,
    n: usize,
    prompt_len: usize,
    admitted_before: u64,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let svc = engine.tenant_service().await.expect("scheduler answers");
        if let Some(t) = service_of(&svc, name) {
            let admitted = (t.prefill_tokens - admitted_before) as usize / prompt_len;
            if admitted + t.waiting >= n {
                return t.waiting;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name} never queued {n}: {svc:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// B's four requests, concurrently; their times to first token, sorted.
async fn light_burst(engine: &EngineHandle, b: &Tenant, base: usize) -> Vec<Duration> {
    let tasks: Vec<_> = (0..4)
        .map(|i| tokio::spawn(ttft(engine.clone(), request(b, base + i, 40, 8))))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out.sort();
    out
}

/// Tenant A floods 64 long requests; B's TTFT under the flood, A's TTFTs.
async fn flood_then_burst(
    engine: &EngineHandle,
    a: &Tenant,
    b: &Tenant,
    base: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let svc = engine.tenant_service().await.expect("scheduler answers");
    let before = service_of(&svc, &a.id.0).map_or(0, |t| t.prefill_tokens);
    let flood: Vec<_> = (0..64)
        .map(|i| tokio::spawn(ttft(engine.clone(), request(a, base + i, FLOOD_PROMPT, 64))))
        .collect();
    // B comes once the whole flood reached the scheduler.
    let queued = until_queued(engine, &a.id.0, 64, FLOOD_PROMPT, before).await;
    eprintln!("B arrives with {queued} of A's requests waiting");
    let b_ttft = light_burst(engine, b, base + 100).await;
    let mut a_ttft = Vec::new();
    for t in flood {
        a_ttft.push(t.await.expect("task"));
    }
    a_ttft.sort();
    (b_ttft, a_ttft)
}

/// How much slower B may start under the flood than alone: a factor, plus
/// slack for a loaded 2-core machine (64 streams share its cores).
const TTFT_FACTOR: u32 = 10;
const TTFT_SLACK: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_tenant_does_not_hold_back_a_light_one() {
    let engine = engine(64, 5120).await;
    let a = tenant("proj_a", 1);
    let b = tenant("proj_b", 1);

    // Warm up, then B alone.
    light_burst(&engine, &b, 10_000).await;
    let alone = light_burst(&engine, &b, 20_000).await;
    let alone_worst = *alone.last().expect("four");

    let (fair, a_ttft) = flood_then_burst(&engine, &a, &b, 30_000).await;
    let fair_worst = *fair.last().expect("four");
    let a_median = a_ttft[a_ttft.len() / 2];

    // The same load with B's requests filed under A: one tenant, FIFO.
    let (fifo, _) = flood_then_burst(&engine, &a, &a, 40_000).await;
    let fifo_worst = *fifo.last().expect("four");

    eprintln!(
        "B's worst TTFT: alone {alone_worst:?}, under A's flood {fair_worst:?} \
         (as A's own requests, FIFO: {fifo_worst:?}); A's median TTFT {a_median:?}"
    );
    assert!(
        fair_worst <= alone_worst * TTFT_FACTOR + TTFT_SLACK,
        "B waited {fair_worst:?} under the flood, alone {alone_worst:?}"
    );
    assert!(
        fair_worst < a_median,
        "B ({fair_worst:?}) started before half of A's flood ({a_median:?})"
    );

    let svc = engine.tenant_service().await.expect("scheduler answers");
    let (sa, sb) = (
        service_of(&svc, "proj_a").expect("a served"),
        service_of(&svc, "proj_b").expect("b served"),
    );
    assert_eq!(sa.waiting + sa.running + sb.waiting + sb.running, 0);
    // Every token was charged: 64 x 2 flood requests (the second one's B
    // part under A's name), the prompts are all distinct.
    assert_eq!(sa.decode_tokens, 64 * 2 * 64 + 4 * 8);
    assert_eq!(sb.decode_tokens, 3 * 4 * 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_two_to_one_split_the_service_two_to_one() {
    let engine = engine(64, 5120).await;
    let a = tenant("heavy", 2);
    let b = tenant("light", 1);
    let tasks: Vec<_> = (0..48)
        .flat_map(|i| {
            [
                tokio::spawn(ttft(engine.clone(), request(&a, 2 * i, 600, 32))),
                tokio::spawn(ttft(engine.clone(), request(&b, 2 * i + 1, 600, 32))),
            ]
        })
        .collect();
    // Sample the service until the work is done; the judged window is the
    // longest run of samples in which both tenants had something waiting
    // (a blip while requests are still arriving does not end it).
    let mut runs: Vec<Vec<(TenantService, TenantService)>> = vec![Vec::new()];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let svc = engine.tenant_service().await.expect("scheduler answers");
        let (sa, sb) = (service_of(&svc, "heavy"), service_of(&svc, "light"));
        match (sa, sb) {
            (Some(sa), Some(sb)) if sa.waiting > 0 && sb.waiting > 0 => {
                runs.last_mut().expect("one run").push((sa, sb));
            }
            (Some(sa), Some(sb))
                if sa.waiting + sb.waiting == 0 && sa.running + sb.running == 0 =>
            {
                break;
            }
            _ => {
                if !runs.last().expect("one run").is_empty() {
                    runs.push(Vec::new());
                }
            }
        }
        assert!(Instant::now() < deadline, "the work never ended");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for t in tasks {
        t.await.expect("task");
    }
    let both = runs.into_iter().max_by_key(Vec::len).expect("one run");
    assert!(
        both.len() >= 2,
        "sampled the joint backlog {} times",
        both.len()
    );
    let (a0, b0) = &both[0];
    let (a1, b1) = &both[both.len() - 1];
    let (da, db) = (a1.raw() - a0.raw(), b1.raw() - b0.raw());
    let ratio = da / db;
    let u = service_bound(engine.max_model_len(), 5120 * 16);
    eprintln!(
        "joint backlog over {} samples: heavy {da} light {db} raw tokens, ratio {ratio:.3}; \
         weighted gap {} (2U = {})",
        both.len(),
        (da / 2.0 - db).abs(),
        2.0 * u
    );
    assert!(
        db > 5000.0,
        "the window is long enough to judge ({db} tokens)"
    );
    assert!(
        (1.6..=2.4).contains(&ratio),
        "weights 2:1 gave a {ratio:.3}:1 split"
    );
    assert!((da / 2.0 - db).abs() <= 2.0 * u);
}
