//! The limiter through its public face, on a clock the tests control.

use std::sync::Barrier;
use std::thread;

use super::*;

fn key(id: &str) -> Subject {
    Subject::Key(id.to_string())
}

fn project(id: &str) -> Subject {
    Subject::Project(id.to_string())
}

fn endpoint(id: &str) -> Subject {
    Subject::Endpoint(id.to_string())
}

fn limits(rpm: Option<u64>, tpm: Option<u64>) -> RateLimits {
    RateLimits { rpm, tpm }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn requests_and_tokens_refill_continuously() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let subjects = [(key("k"), limits(Some(60), Some(6_000)))];

    for _ in 0..60 {
        limiter
            .acquire_at(t0, &subjects, 10)
            .expect("within the rpm");
    }
    let refused = limiter
        .acquire_at(t0, &subjects, 10)
        .expect_err("61st request");
    assert_eq!(refused.kind, LimitKind::Requests);
    assert_eq!(
        (refused.limit, refused.used, refused.requested),
        (60, 60, 1)
    );
    assert_eq!(refused.retry_after, secs(1));

    // Half a second later, still half a request short.
    let refused = limiter
        .acquire_at(t0 + ms(500), &subjects, 10)
        .expect_err("refilled only half a request");
    assert_eq!(refused.retry_after, ms(500));
    limiter
        .acquire_at(t0 + secs(1), &subjects, 10)
        .expect("one request refilled");

    // Tokens: 610 used; at 100 tokens a second, 5,390 are free at t0 + 1 s.
    let refused = limiter
        .acquire_at(t0 + secs(2), &subjects, 5_600)
        .expect_err("tokens short");
    assert_eq!(refused.kind, LimitKind::Tokens);
    assert_eq!((refused.used, refused.requested), (410, 5_600));
    // 5,590 free at t0 + 2 s, 10 more needed at 100 a second: 100 ms.
    assert_eq!(refused.retry_after, ms(100));
    limiter
        .acquire_at(t0 + secs(2) + ms(100), &subjects, 5_600)
        .expect("refilled by then");
}

#[test]
fn retry_after_is_rounded_up_to_the_millisecond() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let subjects = [(key("k"), limits(Some(7), None))];
    for _ in 0..7 {
        limiter
            .acquire_at(t0, &subjects, 0)
            .expect("within the rpm");
    }
    let refused = limiter
        .acquire_at(t0, &subjects, 0)
        .expect_err("8th request");
    // 60 / 7 s = 8.571428... s.
    assert_eq!(refused.retry_after, ms(8_572));
    assert_eq!(
        (refused.retry_after_ms(), refused.retry_after_secs()),
        (8_572, 9)
    );
    limiter
        .acquire_at(t0 + refused.retry_after, &subjects, 0)
        .expect("a client that waits retry_after passes");
}

#[test]
fn all_or_nothing_across_subjects() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let k = (key("k"), limits(Some(100), Some(1_000)));
    let e = (endpoint("e"), limits(Some(100), Some(600)));
    let p = (project("p"), limits(Some(2), Some(10_000)));

    limiter
        .acquire_at(t0, &[k.clone(), p.clone()], 100)
        .expect("room");
    let refused = limiter
        .acquire_at(t0, &[k.clone(), e.clone(), p.clone()], 700)
        .expect_err("the endpoint's 600 TPM cannot hold 700");
    assert_eq!(refused.subject, endpoint("e"));
    assert!(refused.too_large());

    // Nothing was taken from the key or the project by the refusal.
    let headers = limiter.headers_at(t0, std::slice::from_ref(&k));
    assert_eq!(headers.requests, Some((100, 99, ms(600))));
    assert_eq!(headers.tokens, Some((1_000, 900, secs(6))));
    let headers = limiter.headers_at(t0, std::slice::from_ref(&p));
    assert_eq!(headers.requests.map(|r| r.1), Some(1));

    // The key is short by 100 tokens (6 s), the project by one request
    // (30 s): the longer wait is the one reported.
    limiter
        .acquire_at(t0, std::slice::from_ref(&p), 0)
        .expect("the project's last request");
    let refused = limiter
        .acquire_at(t0, &[k.clone(), p.clone()], 1_000)
        .expect_err("both short");
    assert_eq!(
        (refused.subject.clone(), refused.kind),
        (project("p"), LimitKind::Requests)
    );
    assert_eq!(refused.retry_after, secs(30));
    let refused = limiter
        .acquire_at(t0 + secs(10), &[k.clone(), p.clone()], 1_000)
        .expect_err("the project is still short at 10 s");
    assert_eq!(refused.retry_after, secs(20));
    limiter
        .acquire_at(t0 + secs(30), &[k, p], 1_000)
        .expect("both have refilled");

    // And the other way round: the key's tokens take longest.
    let k2 = (key("k2"), limits(None, Some(60)));
    let p2 = (project("p2"), limits(Some(60), None));
    limiter
        .acquire_at(t0, &[k2.clone(), p2.clone()], 60)
        .expect("room");
    let refused = limiter
        .acquire_at(t0, &[p2.clone(), k2.clone()], 30)
        .expect_err("both short");
    assert_eq!(
        (refused.subject.clone(), refused.kind),
        (key("k2"), LimitKind::Tokens)
    );
    assert_eq!((refused.used, refused.retry_after), (60, secs(30)));
}

#[test]
fn reconcile_gives_back_and_charges() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let subjects = [
        (key("k"), limits(None, Some(1_000))),
        (project("p"), limits(None, Some(5_000))),
    ];

    let reservation = limiter.acquire_at(t0, &subjects, 500).expect("room");
    assert_eq!(reservation.tokens(), 500);
    assert_eq!(
        reservation.headers_at(t0).tokens,
        Some((1_000, 500, secs(30)))
    );
    reservation.reconcile_at(t0, 200);
    assert_eq!(
        limiter.headers_at(t0, &subjects[..1]).tokens,
        Some((1_000, 800, secs(12)))
    );
    assert_eq!(
        limiter.headers_at(t0, &subjects[1..]).tokens,
        Some((5_000, 4_800, ms(2_400)))
    );

    // An overrun: reserved 100, used 1,500; the key's bucket goes below zero.
    let reservation = limiter.acquire_at(t0, &subjects, 100).expect("room");
    reservation.reconcile_at(t0, 1_500);
    let refused = limiter.acquire_at(t0, &subjects, 1).expect_err("overdrawn");
    assert_eq!((refused.subject.clone(), refused.used), (key("k"), 1_700));
    // 701 tokens at 1,000 a minute.
    assert_eq!(refused.retry_after, ms(42_060));
    assert_eq!(
        limiter.headers_at(t0, &subjects[..1]).tokens,
        Some((1_000, 0, ms(102_000)))
    );

    // Given back only up to the limit.
    let t1 = t0 + secs(120);
    let reservation = limiter
        .acquire_at(t1, &subjects, 1_000)
        .expect("full again");
    reservation.reconcile_at(t1 + secs(60), 0);
    assert_eq!(
        limiter.headers_at(t1 + secs(60), &subjects[..1]).tokens,
        Some((1_000, 1_000, Duration::ZERO))
    );
}

#[test]
fn dropping_a_reservation_keeps_the_charge() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let subjects = [(key("k"), limits(Some(10), Some(1_000)))];
    drop(limiter.acquire_at(t0, &subjects, 400).expect("room"));
    assert_eq!(
        limiter.headers_at(t0, &subjects),
        RateLimitHeaders {
            requests: Some((10, 9, secs(6))),
            tokens: Some((1_000, 600, secs(24))),
        }
    );
}

#[test]
fn a_refund_after_the_bucket_was_swept_changes_nothing() {
    let limiter = RateLimiter::with_sweep_at(1);
    let t0 = Instant::now();
    let subjects = [(key("k"), limits(None, Some(600)))];
    let reservation = limiter.acquire_at(t0, &subjects, 600).expect("room");
    // A minute on, the bucket is full and swept by other traffic.
    let t1 = t0 + secs(60);
    for i in 0..3 {
        drop(limiter.acquire_at(t1, &[(key(&format!("o{i}")), limits(Some(1), None))], 0));
    }
    assert_eq!(
        limiter.headers_at(t1, &subjects).tokens,
        Some((600, 600, Duration::ZERO))
    );
    reservation.reconcile_at(t1, 100);
    assert_eq!(
        limiter.headers_at(t1, &subjects).tokens,
        Some((600, 600, Duration::ZERO))
    );
}

#[test]
fn headers_count_down_and_reset() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let subjects = [(key("k"), limits(Some(3), Some(300)))];

    let expected = [
        (2, "20s", 200, "20s"),
        (1, "40s", 100, "40s"),
        (0, "1m0s", 0, "1m0s"),
    ];
    for (remaining, reset, tokens_left, tokens_reset) in expected {
        let reservation = limiter
            .acquire_at(t0, &subjects, 100)
            .expect("within limits");
        let mut map = HeaderMap::new();
        reservation.headers_at(t0).apply(&mut map);
        let get = |name: &str| {
            map.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        assert_eq!(get("x-ratelimit-limit-requests").as_deref(), Some("3"));
        assert_eq!(
            get("x-ratelimit-remaining-requests"),
            Some(remaining.to_string())
        );
        assert_eq!(get("x-ratelimit-reset-requests").as_deref(), Some(reset));
        assert_eq!(get("x-ratelimit-limit-tokens").as_deref(), Some("300"));
        assert_eq!(
            get("x-ratelimit-remaining-tokens"),
            Some(tokens_left.to_string())
        );
        assert_eq!(
            get("x-ratelimit-reset-tokens").as_deref(),
            Some(tokens_reset)
        );
        assert_eq!(map.len(), 6);
    }

    // The same reservation's headers move with the clock.
    let later = limiter
        .acquire_at(t0 + ms(20_500), &subjects, 50)
        .expect("refilled one");
    assert_eq!(
        later.headers_at(t0 + ms(20_500)),
        RateLimitHeaders {
            requests: Some((3, 0, ms(59_500))),
            tokens: Some((300, 52, ms(49_500))),
        }
    );
    assert_eq!(
        later.headers_at(t0 + ms(30_000)),
        RateLimitHeaders {
            requests: Some((3, 0, secs(50))),
            tokens: Some((300, 100, secs(40))),
        }
    );
    let full = later.headers_at(t0 + secs(90));
    assert_eq!(full.requests, Some((3, 3, Duration::ZERO)));
    assert_eq!(full.tokens, Some((300, 300, Duration::ZERO)));
    let mut map = HeaderMap::new();
    full.apply(&mut map);
    assert_eq!(
        map.get("x-ratelimit-reset-tokens").map(|v| v.as_bytes()),
        Some(&b"0s"[..])
    );
}

#[test]
fn headers_report_the_most_constraining_subject() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let subjects = [
        (key("k"), limits(Some(100), Some(1_000))),
        (project("p"), limits(Some(10), None)),
        (endpoint("e"), limits(None, Some(100_000))),
    ];
    let reservation = limiter.acquire_at(t0, &subjects, 900).expect("room");
    assert_eq!(
        reservation.headers_at(t0),
        RateLimitHeaders {
            requests: Some((10, 9, secs(6))),
            tokens: Some((1_000, 100, secs(54))),
        }
    );

    // Nothing applies: no headers at all.
    let reservation = limiter
        .acquire_at(t0, &[(key("free"), RateLimits::default())], 1_000_000)
        .expect("unlimited");
    assert_eq!(reservation.headers_at(t0), RateLimitHeaders::default());
    let mut map = HeaderMap::new();
    reservation.headers_at(t0).apply(&mut map);
    assert!(map.is_empty());
}

#[test]
fn a_subject_named_twice_is_charged_once() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let k = (key("k"), limits(Some(2), Some(100)));
    limiter
        .acquire_at(t0, &[k.clone(), k.clone()], 100)
        .expect("room");
    let headers = limiter.headers_at(t0, &[k]);
    assert_eq!(headers.requests.map(|r| r.1), Some(1));
    assert_eq!(headers.tokens.map(|t| t.1), Some(0));
}

#[test]
fn a_changed_limit_applies_to_the_next_request() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let small = [(key("k"), limits(Some(1), None))];
    let large = [(key("k"), limits(Some(10), None))];
    limiter.acquire_at(t0, &small, 0).expect("room");
    assert!(limiter.acquire_at(t0, &small, 0).is_err());
    limiter.acquire_at(t0, &large, 0).expect("raised: 9 left");
    assert_eq!(
        limiter.headers_at(t0, &large).requests,
        Some((10, 8, secs(12)))
    );
}

#[test]
fn messages_are_worded_as_openai_words_them() {
    let tpm = RateLimited {
        subject: project("p"),
        kind: LimitKind::Tokens,
        limit: 200_000,
        used: 162_960,
        requested: 42_288,
        retry_after: ms(1_574),
    };
    assert_eq!(
        tpm.message("gpt-4o", "org-abc"),
        "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): \
         Limit 200000, Used 162960, Requested 42288. Please try again in 1.574s."
    );
    let rpm = RateLimited {
        subject: key("k"),
        kind: LimitKind::Requests,
        limit: 3,
        used: 3,
        requested: 1,
        retry_after: secs(20),
    };
    assert_eq!(
        rpm.message("m", "o"),
        "Rate limit reached for m in organization o on requests per min (RPM): \
         Limit 3, Used 3, Requested 1. Please try again in 20s."
    );
    assert!(!rpm.too_large());
    assert_eq!(
        rpm.to_string(),
        "rate limit reached on requests per min (RPM): limit 3, used 3, requested 1; retry in 20s"
    );
}

#[test]
fn a_real_refusal_reads_like_openai() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let subjects = [(project("p"), limits(None, Some(200_000)))];
    limiter.acquire_at(t0, &subjects, 162_960).expect("room");
    let refused = limiter
        .acquire_at(t0, &subjects, 42_288)
        .expect_err("over the TPM");
    // 5,248 tokens short at 3,333.3 a second: 1.57440 s, rounded up.
    assert_eq!(refused.retry_after, ms(1_575));
    assert_eq!(
        refused.message("Qwen2.5-7B-Instruct", "proj_7Hq2"),
        "Rate limit reached for Qwen2.5-7B-Instruct in organization proj_7Hq2 on tokens per \
         min (TPM): Limit 200000, Used 162960, Requested 42288. Please try again in 1.575s."
    );
}

#[test]
fn requests_larger_than_the_limit_are_told_so() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let tight = (key("k"), limits(Some(1), Some(10_000)));
    let small = (endpoint("e"), limits(None, Some(4_096)));
    limiter
        .acquire_at(t0, std::slice::from_ref(&tight), 0)
        .expect("room");

    // The key would pass in a minute; the endpoint never: that comes first.
    let refused = limiter
        .acquire_at(t0, &[tight.clone(), small.clone()], 5_000)
        .expect_err("too large");
    assert!(refused.too_large());
    assert_eq!(refused.subject, endpoint("e"));
    assert_eq!(refused.retry_after, Duration::ZERO);
    assert_eq!(
        refused.message("m", "proj_1"),
        "Request too large for m in organization proj_1 on tokens per min (TPM): \
         Limit 4096, Requested 5000. The input or output tokens must be reduced in order \
         to run successfully."
    );
    assert_eq!(
        refused.to_string(),
        "request too large on tokens per min (TPM): limit 4096, requested 5000"
    );
    // At the limit exactly, it fits.
    limiter
        .acquire_at(t0, std::slice::from_ref(&small), 4_096)
        .expect("exactly the limit");

    let closed = (project("p"), limits(Some(0), None));
    let refused = limiter.acquire_at(t0, &[closed], 0).expect_err("rpm 0");
    assert!(refused.too_large());
    assert_eq!(
        refused.message("m", "o"),
        "Request too large for m in organization o on requests per min (RPM): \
         Limit 0, Requested 1. This limit admits no requests."
    );
}

/// 64 threads at once, all at the same instant (no refill): exactly the
/// limits' worth pass, whichever limit binds.
#[test]
fn sixty_four_threads_never_overshoot() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let subjects = [
        (key("k"), limits(Some(1_000), Some(1_000))),
        (project("p"), limits(Some(7), None)),
    ];
    let tokens_only = [(key("k2"), limits(None, Some(1_000)))];
    let barrier = Barrier::new(64);
    let (granted, granted_tokens) = thread::scope(|scope| {
        let workers: Vec<_> = (0..64)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let a = limiter.acquire_at(t0, &subjects, 100).is_ok();
                    let b = limiter.acquire_at(t0, &tokens_only, 100).is_ok();
                    (a, b)
                })
            })
            .collect();
        workers.into_iter().fold((0, 0), |(a, b), worker| {
            let (x, y) = worker.join().unwrap_or((false, false));
            (a + usize::from(x), b + usize::from(y))
        })
    });
    assert_eq!(granted, 7, "the project's 7 RPM bind");
    assert_eq!(granted_tokens, 10, "1,000 TPM hold ten 100-token requests");
    assert_eq!(
        limiter.headers_at(t0, &subjects).tokens,
        Some((1_000, 300, secs(42)))
    );
}

/// The same on the real clock: what passes is the limit plus at most what
/// refilled while the test ran.
#[test]
fn sixty_four_threads_on_the_real_clock() {
    let limiter = RateLimiter::new();
    let subjects = [(key("k"), limits(Some(6), None))];
    let started = Instant::now();
    let barrier = Barrier::new(64);
    let granted = thread::scope(|scope| {
        let workers: Vec<_> = (0..64)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    limiter.acquire(&subjects, 1).is_ok()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| usize::from(w.join().unwrap_or(false)))
            .sum::<usize>()
    });
    // 6 a minute is one every 10 s.
    let refilled = started.elapsed().as_secs() / 10 + 1;
    assert!(granted >= 6, "granted {granted}");
    assert!(
        granted as u64 <= 6 + refilled,
        "granted {granted}, refilled at most {refilled}"
    );
}

/// Threads that reserve and reconcile concurrently leave exactly what they
/// used charged, and never exceed the limit at any point.
#[test]
fn concurrent_reconciles_account_exactly() {
    let limiter = RateLimiter::new();
    let t0 = Instant::now();
    let subjects = [(key("k"), limits(None, Some(1_000)))];
    let barrier = Barrier::new(64);
    let granted = thread::scope(|scope| {
        let workers: Vec<_> = (0..64)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    match limiter.acquire_at(t0, &subjects, 100) {
                        Ok(reservation) => {
                            reservation.reconcile_at(t0, 40);
                            1
                        }
                        Err(_) => 0,
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or(0))
            .sum::<u64>()
    });
    // At most 1,000 reserved at once, every grant keeps 40: the 24 that fit
    // once earlier ones have been reconciled is the most that can pass.
    assert!((10..=24).contains(&granted), "granted {granted}");
    let remaining = limiter.headers_at(t0, &subjects).tokens.map(|t| t.1);
    assert_eq!(remaining, Some(1_000 - 40 * granted));
}

#[test]
fn idle_buckets_are_swept_as_the_map_grows() {
    let limiter = RateLimiter::with_sweep_at(8);
    let t0 = Instant::now();
    // Busy for a minute: one request of a 1-RPM limit.
    let busy = [(project("busy"), limits(Some(1), None))];
    limiter.acquire_at(t0, &busy, 0).expect("room");

    // A thousand subjects, each idle (full) a second after its request.
    for i in 0..1_000u64 {
        let now = t0 + secs(i / 100) + ms(i % 100);
        let one = [(key(&format!("k{i}")), limits(Some(60), None))];
        limiter.acquire_at(now, &one, 0).expect("room");
        assert!(
            limiter.tracked_buckets() <= 250,
            "{} buckets",
            limiter.tracked_buckets()
        );
    }
    // The busy bucket survived the sweeps with its charge.
    let refused = limiter
        .acquire_at(t0 + secs(10), &busy, 0)
        .expect_err("still used");
    assert_eq!(refused.retry_after, secs(50));

    // A minute on, everything is idle: growing the map past its last size
    // twice over forces a sweep, which leaves only the newest few (these
    // newcomers take no tokens, so their buckets are idle too).
    let later = t0 + secs(120);
    let before = limiter.tracked_buckets();
    assert!(before > 8, "{before} buckets");
    for i in 0..=before {
        let one = [(key(&format!("late{i}")), limits(None, Some(100)))];
        limiter.acquire_at(later, &one, 0).expect("room");
    }
    assert!(
        limiter.tracked_buckets() <= 8,
        "{} buckets",
        limiter.tracked_buckets()
    );
    assert_eq!(
        limiter.headers_at(later, &busy).requests,
        Some((1, 1, Duration::ZERO)),
        "a swept bucket reads as full"
    );
}
