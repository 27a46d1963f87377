//! Choosing the next token from a sequence's logits.
//!
//! [`sample`] follows vLLM's order, so a client sees the same semantics here
//! as there:
//!
//! 1. **Logprobs** (when `params.logprobs` is `Some(k)`) come from the *raw*
//!    logits' log-softmax, before penalties and temperature (vLLM's default
//!    "raw logprobs"): the chosen token's logprob, and the `k` most likely
//!    tokens, most likely first (ties: lowest id first).
//! 2. **Penalties**: repetition (CTRL: over prompt and output tokens, each
//!    distinct token once; a positive logit is divided by the penalty, a
//!    negative one multiplied), then frequency (times the token's count in
//!    the output), then presence (once per distinct output token).
//! 3. **Greedy** when [`SamplingParams::is_greedy`]: argmax, ties to the
//!    lowest id.
//! 4. Otherwise **temperature** scaling, then **top-k**, then **top-p** (the
//!    smallest most-likely set whose mass, renormalised after top-k, reaches
//!    `top_p`; never empty), then **min-p** (drop tokens below `min_p` times
//!    the most likely one's probability), then one random draw.
//!
//! # Randomness
//!
//! There is no RNG state anywhere. The draw for a sequence's `n`-th output
//! token is [`uniform`]`(params.seed, n)`: a counter-based generator built
//! on splitmix64 (see [`random_u64`]). So a seeded request gives the same
//! tokens alone, in any batch, in any call order, and after a preemption
//! that recomputes it.
//!
//! # Cost
//!
//! A few linear passes over the vocabulary (a sanitised working copy, the
//! maximum, the exponentials in place, block sums for the draw), with an
//! SSE2-vectorisable `exp` (see `fast_exp`, relative error below 3e-7).
//! No full sort: top-k is one `select_nth_unstable` over packed
//! (value, id) integer keys, top-p a weighted quickselect over the same
//! keys, and only the kept part (or the last 64 undecided) is ever sorted.
//! Logprobs add one exp pass and one selection. Roughly 0.1-0.4 ms per
//! call at a 152k vocabulary on one core, more for flat top-p.
//!
//! # Non-finite logits
//!
//! NaN counts as `-inf`, `+inf` as `f32::MAX` (so infinite logits share the
//! mass between them). When no logit is finite at all the distribution is
//! taken as uniform. Nothing here panics on such input.

use std::collections::HashMap;

use crate::engine::request::SamplingParams;
use crate::runner::Logits;

/// The chosen token and, when asked, its logprob and the top alternatives
/// (ids; the stream actor turns them into text).
#[derive(Clone, Debug, PartialEq)]
pub struct SampledToken {
    /// The chosen token id.
    pub token: u32,
    /// The chosen token's raw logprob; `Some` whenever `params.logprobs` is.
    pub logprob: Option<f32>,
    /// The `k` most likely tokens under the raw distribution, most likely
    /// first (ties: lowest id first); empty unless `params.logprobs` is
    /// `Some(k)` with `k > 0`.
    pub top_logprobs: Vec<(u32, f32)>,
}

/// Choose the next token for one sequence.
///
/// `prompt` and `output` are the sequence's tokens so far (penalties look at
/// them); the random draw is a pure function of `(params.seed,
/// output.len())` so a seeded request gives the same tokens alone or in any
/// batch, and after a preemption.
///
/// `Logits::OneHot(t)` (the `sim` runner) returns `t` with logprob 0.0 and,
/// when `k > 0` alternatives are asked, `top_logprobs = [(t, 0.0)]`;
/// penalties and truncation do not apply to it.
pub fn sample(
    logits: &Logits,
    params: &SamplingParams,
    prompt: &[u32],
    output: &[u32],
) -> SampledToken {
    match logits {
        Logits::OneHot(t) => one_hot(*t, params),
        Logits::Dense(raw) => sample_dense(raw, params, prompt, output),
    }
}

/// The `counter`-th 64-bit output of the random stream keyed by `seed`.
///
/// splitmix64 used as a counter-based generator: the key is
/// `mix(seed + γ)` (so neighbouring seeds give unrelated streams) and the
/// output is `mix(key + (counter + 1)·γ)`, where `mix` is splitmix64's
/// finaliser and `γ` its golden-ratio increment. Outputs for one key are
/// exactly splitmix64's sequence, which passes BigCrush; no state is kept.
pub fn random_u64(seed: u64, counter: u64) -> u64 {
    let key = splitmix_mix(seed.wrapping_add(GOLDEN_GAMMA));
    splitmix_mix(key.wrapping_add(counter.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA)))
}

/// A uniform draw in `[0, 1)` from [`random_u64`]`(seed, counter)` (53 bits).
pub fn uniform(seed: u64, counter: u64) -> f64 {
    (random_u64(seed, counter) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// splitmix64's increment (2^64 / φ, odd).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// splitmix64's output function (Stafford's variant 13).
fn splitmix_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn one_hot(token: u32, params: &SamplingParams) -> SampledToken {
    let (logprob, top_logprobs) = match params.logprobs {
        None => (None, Vec::new()),
        Some(0) => (Some(0.0), Vec::new()),
        Some(_) => (Some(0.0), vec![(token, 0.0)]),
    };
    SampledToken {
        token,
        logprob,
        top_logprobs,
    }
}

fn sample_dense(
    raw: &[f32],
    params: &SamplingParams,
    prompt: &[u32],
    output: &[u32],
) -> SampledToken {
    if raw.is_empty() {
        // No vocabulary: nothing to choose from. Token 0 keeps the engine
        // going; a real runner never returns empty logits.
        return one_hot(0, params);
    }
    let (mut work, none_finite) = sanitize(raw);

    // 1. Raw logprobs, before anything changes `work`.
    let report = params.logprobs.map(|k| {
        let lse = log_sum_exp(&work);
        let top: Vec<(u32, f32)> = top_indices(&work, k)
            .into_iter()
            .map(|i| (i, work[i as usize] - lse))
            .collect();
        (lse, top)
    });

    // 2. Penalties.
    apply_penalties(&mut work, params, prompt, output);

    // 3-4. Choose.
    let token = if params.is_greedy() {
        argmax(&work)
    } else {
        let draw = uniform(params.seed, output.len() as u64);
        sample_tempered(&mut work, params, draw)
    };

    let (logprob, top_logprobs) = match report {
        Some((lse, top)) => {
            let x = if none_finite {
                0.0
            } else {
                sanitize_one(raw[token as usize])
            };
            (Some(x - lse), top)
        }
        None => (None, Vec::new()),
    };
    SampledToken {
        token,
        logprob,
        top_logprobs,
    }
}

/// NaN -> -inf, +inf -> f32::MAX; all -inf -> all 0 (uniform), flagged
/// by the returned bool.
fn sanitize(raw: &[f32]) -> (Vec<f32>, bool) {
    let mut v: Vec<f32> = raw.iter().map(|&x| sanitize_one(x)).collect();
    let none_finite = v.iter().all(|&x| x == f32::NEG_INFINITY);
    if none_finite {
        v.fill(0.0);
    }
    (v, none_finite)
}

/// Branch-free so the copy vectorises.
fn sanitize_one(x: f32) -> f32 {
    if x.is_nan() {
        f32::NEG_INFINITY
    } else {
        x.min(f32::MAX)
    }
}

/// `exp(x)` for `x <= 0`, relative error below 3e-7; `0` below -87 (and
/// for -inf or NaN), exactly `1` at `0`.
///
/// `exp(x) = 2^n · e^f` with `n = round(x·log2 e)` and `f = x - n·ln 2` in
/// [-ln 2 / 2, ln 2 / 2] (Cody-Waite: ln 2 split in two so `n·ln2_hi` is
/// exact); `e^f` by its degree-6 Taylor polynomial (truncation below
/// `0.347^7 / 7!` ≈ 1.2e-7). Rounding uses the 1.5·2^23 trick, whose bits
/// also give `n` for the exponent, so the loops that call it vectorise on
/// plain SSE2 (libm's `expf` does not), which matters at 150k tokens.
#[inline(always)]
fn fast_exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
                                     // 0.693145751953125: 16 significant bits, so n * LN2_HI is exact.
    const LN2_HI: f32 = f32::from_bits(0x3F31_7200);
    const LN2_LO: f32 = 1.428_606_8e-6; // ln 2 - LN2_HI
                                        // exp(-87) ~ 1.6e-38, near the smallest normal f32; below, report 0.
    let valid = x > -87.0;
    let x = if valid { x } else { -87.0 };
    let r = x * std::f32::consts::LOG2_E + MAGIC;
    let n = r - MAGIC;
    let f = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    // r's low mantissa bits hold n (two's complement) since |n| < 2^22;
    // n is in [-126, 0] here, so the biased exponent n + 127 is in [1, 127].
    let bits = r.to_bits().wrapping_sub(MAGIC.to_bits()).wrapping_add(127) << 23;
    let y = p * f32::from_bits(bits);
    if valid {
        y
    } else {
        0.0
    }
}

/// `Σ exp(x - max)` over `v`, in f64, through a small buffer so the
/// exponentials vectorise.
fn sum_exp(v: &[f32], max: f32) -> f64 {
    let mut buf = [0f32; 64];
    let mut sum = 0.0f64;
    for chunk in v.chunks(64) {
        let b = &mut buf[..chunk.len()];
        for (o, &x) in b.iter_mut().zip(chunk) {
            *o = fast_exp(x - max);
        }
        sum += b.iter().map(|&e| e as f64).sum::<f64>();
    }
    sum
}

/// `ln Σ exp(x)`. `v` has a finite maximum (see `sanitize`).
fn log_sum_exp(v: &[f32]) -> f32 {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    max + sum_exp(v, max).ln() as f32
}

/// The `k` largest of `v`, most likely first (ties: lowest id first):
/// one partial selection over [`key`]s, then a sort of the kept part only.
fn top_indices(v: &[f32], k: usize) -> Vec<u32> {
    if k == 0 {
        return Vec::new();
    }
    let mut keys = all_keys(v);
    if k < keys.len() {
        keys.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
        keys.truncate(k);
    }
    keys.sort_unstable_by(|a, b| b.cmp(a));
    keys.into_iter().map(key_id).collect()
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

fn apply_penalties(work: &mut [f32], params: &SamplingParams, prompt: &[u32], output: &[u32]) {
    let rep = params.repetition_penalty;
    if rep != 1.0 && rep > 0.0 {
        let mut seen = vec![false; work.len()];
        for &t in prompt.iter().chain(output) {
            let t = t as usize;
            if t < work.len() && !seen[t] {
                seen[t] = true;
                let x = &mut work[t];
                *x = if *x > 0.0 { *x / rep } else { *x * rep };
            }
        }
    }
    let (freq, pres) = (params.frequency_penalty, params.presence_penalty);
    if (freq != 0.0 || pres != 0.0) && !output.is_empty() {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for &t in output {
            *counts.entry(t).or_insert(0) += 1;
        }
        for (t, n) in counts {
            if let Some(x) = work.get_mut(t as usize) {
                *x -= freq * n as f32 + pres;
            }
        }
    }
}

/// Temperature, top-k, top-p, min-p, then the draw `u` in `[0, 1)`.
///
/// After scaling, `work` is turned in place into unnormalised
/// probabilities `exp(x - max)` (the most likely token weighs exactly 1),
/// and every filter works on those weights.
fn sample_tempered(work: &mut [f32], params: &SamplingParams, u: f64) -> u32 {
    let t = params.temperature as f64;
    // NaN (never past validation) is taken as 1; +inf flattens to uniform.
    if t != 1.0 && !t.is_nan() {
        let lim = f32::MAX as f64;
        for x in work.iter_mut() {
            if x.is_finite() {
                // In f64 and clamped: a tiny temperature must not turn a
                // finite logit into an infinity (inf - inf = NaN below).
                *x = ((*x as f64) / t).clamp(-lim, lim) as f32;
            }
        }
    }
    // The maximum is finite: `sanitize` left at least one finite logit and
    // neither penalties nor scaling make a finite logit infinite.
    let max = work.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for x in work.iter_mut() {
        *x = fast_exp(*x - max);
    }
    let w = &*work;

    // `None`: every token is still a candidate (no key vector needed).
    let mut cands: Option<Vec<u64>> = None;
    if params.top_k > 0 && params.top_k < w.len() {
        let mut keys = all_keys(w);
        keys.select_nth_unstable_by(params.top_k - 1, |a, b| b.cmp(a));
        keys.truncate(params.top_k);
        cands = Some(keys);
    }
    if params.top_p < 1.0 {
        let keys = cands.unwrap_or_else(|| all_keys(w));
        cands = Some(top_p_set(keys, params.top_p as f64));
    }
    if params.min_p > 0.0 {
        // p_i >= min_p * p_max  <=>  w_i >= min_p, since w_max = 1.
        let floor = params.min_p;
        cands = Some(match cands {
            Some(mut c) => {
                c.retain(|&k| key_weight(k) >= floor);
                c
            }
            None => (0..w.len() as u32)
                .filter(|&i| w[i as usize] >= floor)
                .map(|i| key(w, i))
                .collect(),
        });
    }
    let picked = match &cands {
        Some(c) => draw(c.len(), |j| key_weight(c[j]), u).map(|j| key_id(c[j])),
        None => draw(w.len(), |j| w[j], u).map(|j| j as u32),
    };
    // None only when every candidate weighs zero, which the filters prevent
    // (each keeps the most likely token, weight 1) unless min_p > 1 empties
    // the set: fall back to the argmax.
    picked.unwrap_or_else(|| argmax(w))
}

/// A candidate as one sortable integer: the value's order-preserving
/// bits above the complemented id, so descending keys mean value down,
/// then id up (a total order: ties go to the lowest id), and selection
/// compares plain integers in a contiguous array instead of chasing
/// indices. NaN never reaches here (see `sanitize`).
fn key(v: &[f32], id: u32) -> u64 {
    (u64::from(ordered_bits(v[id as usize])) << 32) | u64::from(u32::MAX - id)
}

/// f32 -> u32 preserving order: flip every bit of negatives, the sign bit
/// of the rest.
fn ordered_bits(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// The value a [`key`] was built from.
fn key_weight(k: u64) -> f32 {
    let b = (k >> 32) as u32;
    f32::from_bits(if b >> 31 == 1 { b & 0x7FFF_FFFF } else { !b })
}

/// The token id a [`key`] was built from.
fn key_id(k: u64) -> u32 {
    u32::MAX - (k as u32)
}

fn all_keys(w: &[f32]) -> Vec<u64> {
    (0..w.len() as u32).map(|i| key(w, i)).collect()
}

/// The smallest most-likely subset of `keys` whose weight, as a share of
/// their total, reaches `top_p`; never empty. "Most likely" is the key
/// order, so ties go to lower ids.
///
/// A weighted quickselect, O(V) expected, no full sort: first split off
/// the top 64 (a peaked distribution ends there), then halve the undecided
/// range with `select_nth_unstable`, keeping the upper half whole when its
/// mass falls short, until 64 or fewer remain; those are sorted and walked.
fn top_p_set(mut keys: Vec<u64>, top_p: f64) -> Vec<u64> {
    let mass = |ks: &[u64]| ks.iter().map(|&k| key_weight(k) as f64).sum::<f64>();
    let mut need = top_p * mass(&keys);
    // keys[..lo] is kept and ranks above keys[lo..]; the cut lies in lo..hi.
    let (mut lo, mut hi) = (0, keys.len());
    let mut first = true;
    while hi - lo > 64 {
        let m = if first { 64 } else { (hi - lo) / 2 };
        first = false;
        keys[lo..hi].select_nth_unstable_by(m - 1, |a, b| b.cmp(a));
        let upper = mass(&keys[lo..lo + m]);
        if upper >= need {
            hi = lo + m;
        } else {
            need -= upper;
            lo += m;
        }
    }
    keys[lo..hi].sort_unstable_by(|a, b| b.cmp(a));
    let mut cum = 0.0;
    for j in lo..hi {
        cum += key_weight(keys[j]) as f64;
        if cum >= need {
            keys.truncate(j + 1);
            return keys;
        }
    }
    // Rounding kept the sum just under the target: keep the whole range.
    keys.truncate(hi.max(1));
    keys
}

/// Inverse-CDF draw over `n` candidates with weights `wt(j)`: the index of
/// the first candidate whose cumulative weight exceeds `u` times the total.
///
/// Sums blocks of 256 first (eight independent lanes, so it vectorises),
/// then walks only the block that holds the target. `None` when every
/// weight is zero.
fn draw(n: usize, wt: impl Fn(usize) -> f32, u: f64) -> Option<usize> {
    const BLOCK: usize = 256;
    let block_sum = |b: usize| {
        let (s, e) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
        let mut lanes = [0f32; 8];
        let mut j = s;
        while j + 8 <= e {
            for (l, lane) in lanes.iter_mut().enumerate() {
                *lane += wt(j + l);
            }
            j += 8;
        }
        let tail: f64 = (j..e).map(|j| wt(j) as f64).sum();
        lanes.iter().map(|&x| x as f64).sum::<f64>() + tail
    };
    let sums: Vec<f64> = (0..n.div_ceil(BLOCK)).map(block_sum).collect();
    let target = u * sums.iter().sum::<f64>();
    let mut cum = 0.0;
    let mut last = None;
    for (b, &bs) in sums.iter().enumerate() {
        if bs <= 0.0 {
            continue;
        }
        if cum + bs > target {
            for j in b * BLOCK..((b + 1) * BLOCK).min(n) {
                let x = wt(j);
                if x > 0.0 {
                    cum += x as f64;
                    last = Some(j);
                    if cum > target {
                        return Some(j);
                    }
                }
            }
            // Rounding inside the block: carry on with the next one.
        } else {
            cum += bs;
            // Remember the block's last positive weight for the fallback.
            last = (b * BLOCK..((b + 1) * BLOCK).min(n))
                .rev()
                .find(|&j| wt(j) > 0.0)
                .or(last);
        }
    }
    // Rounding left the total at or below the target: the last
    // positive-weight candidate.
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SamplingParams {
        SamplingParams::default()
    }

    fn greedy() -> SamplingParams {
        SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        }
    }

    fn dense(v: &[f32]) -> Logits {
        Logits::Dense(v.to_vec())
    }

    fn log_probs(p: &[f64]) -> Logits {
        Logits::Dense(p.iter().map(|&x| x.ln() as f32).collect())
    }

    /// Tokens drawn at steps 0..n (output of length step) with one seed.
    fn draws(logits: &Logits, p: &SamplingParams, n: usize) -> Vec<u32> {
        let out = vec![0u32; n];
        (0..n)
            .map(|i| sample(logits, p, &[], &out[..i]).token)
            .collect()
    }

    fn counts(tokens: &[u32], vocab: usize) -> Vec<usize> {
        let mut c = vec![0; vocab];
        for &t in tokens {
            c[t as usize] += 1;
        }
        c
    }

    #[test]
    fn greedy_takes_argmax_and_lowest_id_on_ties() {
        let l = dense(&[0.1, 3.0, -2.0, 3.0, 1.0]);
        assert_eq!(sample(&l, &greedy(), &[], &[]).token, 1);
        // top_k = 1 is greedy too, whatever the temperature.
        let p = SamplingParams {
            top_k: 1,
            temperature: 5.0,
            ..params()
        };
        assert_eq!(sample(&l, &p, &[], &[]).token, 1);
    }

    #[test]
    fn seeded_sampling_is_deterministic() {
        let l = dense(&[0.5, 0.4, 0.3, 0.2, 0.1, 0.0]);
        let p = SamplingParams {
            seed: 42,
            ..params()
        };
        let a = draws(&l, &p, 200);
        let b = draws(&l, &p, 200);
        assert_eq!(a, b);
        let other = draws(
            &l,
            &SamplingParams {
                seed: 43,
                ..p.clone()
            },
            200,
        );
        assert_ne!(a, other, "different seeds should give different streams");
    }

    #[test]
    fn draw_depends_only_on_seed_and_step_not_call_order() {
        let l = dense(&[1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]);
        let pa = SamplingParams {
            seed: 7,
            ..params()
        };
        let pb = SamplingParams {
            seed: 9,
            ..params()
        };
        let out: Vec<u32> = (0..50).collect();
        // "Alone": each sequence on its own, in order.
        let alone_a: Vec<u32> = (0..50)
            .map(|i| sample(&l, &pa, &[], &out[..i]).token)
            .collect();
        let alone_b: Vec<u32> = (0..50)
            .map(|i| sample(&l, &pb, &[], &out[..i]).token)
            .collect();
        // "Batched": interleaved, b first, steps in reverse.
        for i in (0..50).rev() {
            assert_eq!(sample(&l, &pb, &[], &out[..i]).token, alone_b[i]);
            assert_eq!(sample(&l, &pa, &[], &out[..i]).token, alone_a[i]);
        }
        // The prompt does not move the draw (only penalties read it).
        assert_eq!(sample(&l, &pa, &[1, 2, 3], &out[..5]).token, alone_a[5]);
    }

    #[test]
    fn keys_order_values_then_ids() {
        let v = [
            -1.5,
            0.0,
            2.0,
            -0.0,
            f32::NEG_INFINITY,
            f32::MAX,
            2.0,
            -3e-40,
        ];
        let mut keys = all_keys(&v);
        keys.sort_unstable_by(|a, b| b.cmp(a));
        let ids: Vec<u32> = keys.iter().map(|&k| key_id(k)).collect();
        // -0.0 ranks just below 0.0 (total order); equal 2.0s by id.
        assert_eq!(ids, vec![5, 2, 6, 1, 3, 7, 0, 4]);
        for &k in &keys {
            assert_eq!(key_weight(k).to_bits(), v[key_id(k) as usize].to_bits());
        }
    }

    #[test]
    fn fast_exp_matches_exp() {
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            let x = -(i as f32) * 87.0 / 200_000.0;
            let (got, want) = (fast_exp(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 5e-7, "worst relative error {worst:e}");
        assert_eq!(fast_exp(0.0), 1.0);
        assert_eq!(fast_exp(-88.0), 0.0);
        assert_eq!(fast_exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(fast_exp(f32::NAN), 0.0);
    }

    #[test]
    fn uniform_is_in_unit_interval_and_pure() {
        for s in 0..100 {
            for c in 0..100 {
                let u = uniform(s, c);
                assert!((0.0..1.0).contains(&u));
                assert_eq!(u, uniform(s, c));
            }
        }
        assert_ne!(random_u64(0, 0), random_u64(1, 0));
        assert_ne!(random_u64(0, 0), random_u64(0, 1));
    }

    fn chi_square(observed: &[usize], probs: &[f64]) -> f64 {
        let n: usize = observed.iter().sum();
        observed
            .iter()
            .zip(probs)
            .map(|(&o, &p)| {
                let e = p * n as f64;
                (o as f64 - e).powi(2) / e
            })
            .sum()
    }

    #[test]
    fn draws_follow_the_distribution() {
        let probs = [0.1, 0.2, 0.3, 0.4];
        let l = log_probs(&probs);
        // Along one seed's steps.
        let p = SamplingParams {
            seed: 1,
            ..params()
        };
        let c = counts(&draws(&l, &p, 10_000), 4);
        // 3 degrees of freedom: p = 0.001 at 16.3; 30 is generous.
        let x2 = chi_square(&c, &probs);
        assert!(x2 < 30.0, "chi-square {x2} for counts {c:?}");
        // Across seeds at one step.
        let across: Vec<u32> = (0..10_000u64)
            .map(|seed| sample(&l, &SamplingParams { seed, ..params() }, &[], &[]).token)
            .collect();
        let c = counts(&across, 4);
        let x2 = chi_square(&c, &probs);
        assert!(x2 < 30.0, "chi-square {x2} for counts {c:?}");
    }

    #[test]
    fn temperature_sharpens_and_flattens() {
        let probs = [0.1, 0.2, 0.3, 0.4];
        let l = log_probs(&probs);
        let cold = SamplingParams {
            temperature: 0.25,
            seed: 3,
            ..params()
        };
        let hot = SamplingParams {
            temperature: 4.0,
            seed: 3,
            ..params()
        };
        let c_cold = counts(&draws(&l, &cold, 4000), 4);
        let c_hot = counts(&draws(&l, &hot, 4000), 4);
        // T = 0.25: p ∝ p^4 -> token 3 has ~0.66 of the mass.
        assert!(c_cold[3] > 2400, "{c_cold:?}");
        // T = 4: p ∝ p^0.25 -> token 0 has ~0.18 of the mass.
        assert!(c_hot[0] > 500, "{c_hot:?}");
    }

    #[test]
    fn top_k_keeps_only_the_k_most_likely() {
        let l = log_probs(&[0.1, 0.4, 0.2, 0.3]);
        let p = SamplingParams {
            top_k: 2,
            seed: 5,
            ..params()
        };
        let c = counts(&draws(&l, &p, 2000), 4);
        assert_eq!(c[0], 0);
        assert_eq!(c[2], 0);
        assert!(c[1] > 0 && c[3] > 0, "{c:?}");
        // Renormalised 0.4 : 0.3.
        let x2 = chi_square(&[c[1], c[3]], &[4.0 / 7.0, 3.0 / 7.0]);
        assert!(x2 < 25.0, "{c:?}");
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_the_mass() {
        let l = log_probs(&[0.05, 0.5, 0.15, 0.3]);
        let p = SamplingParams {
            top_p: 0.75,
            seed: 11,
            ..params()
        };
        let c = counts(&draws(&l, &p, 2000), 4);
        assert_eq!((c[0], c[2]), (0, 0), "{c:?}");
        assert!(c[1] > 0 && c[3] > 0, "{c:?}");
        // A tiny top_p still keeps one token.
        let p = SamplingParams {
            top_p: 1e-6,
            seed: 11,
            ..params()
        };
        assert!(draws(&l, &p, 200).iter().all(|&t| t == 1));
    }

    #[test]
    fn top_p_over_a_flat_large_vocab_grows_its_window() {
        // 1000 equal logits: the kept set is the 500 lowest ids (ties by
        // id), which needs several growth rounds of the selection window.
        let l = dense(&vec![0.0; 1000]);
        let p = SamplingParams {
            top_p: 0.5,
            seed: 2,
            ..params()
        };
        let d = draws(&l, &p, 3000);
        assert!(d.iter().all(|&t| t < 500), "max {:?}", d.iter().max());
        // And all 500 are kept: 3000 uniform draws over 500 ids miss about
        // 500 * e^-6 = 1.2 of them.
        let seen = counts(&d, 500).iter().filter(|&&c| c > 0).count();
        assert!(seen > 490, "{seen} of the 500 ids drawn");
    }

    #[test]
    fn top_k_then_top_p_renormalises() {
        // top_k = 2 leaves 0.4 : 0.3 -> 0.571 : 0.429; top_p = 0.55 then
        // keeps only the first (it alone reaches 0.55 of the kept mass).
        let l = log_probs(&[0.1, 0.4, 0.2, 0.3]);
        let p = SamplingParams {
            top_k: 2,
            top_p: 0.55,
            seed: 8,
            ..params()
        };
        assert!(draws(&l, &p, 500).iter().all(|&t| t == 1));
    }

    #[test]
    fn min_p_drops_tokens_below_the_relative_floor() {
        // Floor 0.35 * 0.5 = 0.175: keeps 0.5 and 0.3, drops 0.15 and 0.05.
        let l = log_probs(&[0.15, 0.5, 0.05, 0.3]);
        let p = SamplingParams {
            min_p: 0.35,
            seed: 13,
            ..params()
        };
        let c = counts(&draws(&l, &p, 2000), 4);
        assert_eq!((c[0], c[2]), (0, 0), "{c:?}");
        assert!(c[1] > 0 && c[3] > 0, "{c:?}");
    }

    #[test]
    fn presence_penalty_moves_the_argmax() {
        let l = dense(&[2.0, 1.9, 0.0]);
        let p = SamplingParams {
            presence_penalty: 0.5,
            ..greedy()
        };
        assert_eq!(sample(&l, &p, &[], &[]).token, 0);
        assert_eq!(sample(&l, &p, &[], &[0]).token, 1);
        // The prompt does not count for presence.
        assert_eq!(sample(&l, &p, &[0], &[]).token, 0);
    }

    #[test]
    fn frequency_penalty_scales_with_count() {
        let l = dense(&[2.0, 1.9, 0.0]);
        let p = SamplingParams {
            frequency_penalty: 0.06,
            ..greedy()
        };
        // 2.0 - 0.06 = 1.94 > 1.9; 2.0 - 0.12 = 1.88 < 1.9.
        assert_eq!(sample(&l, &p, &[], &[0]).token, 0);
        assert_eq!(sample(&l, &p, &[], &[0, 0]).token, 1);
    }

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative() {
        let p = SamplingParams {
            repetition_penalty: 1.1,
            ..greedy()
        };
        // Positive: 2.0 / 1.1 = 1.82 < 1.9; the prompt counts, once.
        let l = dense(&[2.0, 1.9, 0.0]);
        assert_eq!(sample(&l, &p, &[0], &[]).token, 1);
        assert_eq!(sample(&l, &p, &[0, 0, 0], &[]).token, 1);
        assert_eq!(sample(&l, &p, &[], &[0]).token, 1);
        assert_eq!(sample(&l, &p, &[2], &[]).token, 0);
        // Negative: -1.0 * 1.1 = -1.1 < -1.05.
        let l = dense(&[-1.0, -1.05]);
        assert_eq!(sample(&l, &p, &[0], &[]).token, 1);
        // Out-of-vocabulary ids in the history are ignored.
        assert_eq!(sample(&l, &p, &[99], &[1000]).token, 0);
    }

    fn reference_log_softmax(v: &[f32]) -> Vec<f64> {
        let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let s: f64 = v.iter().map(|&x| (x as f64 - max).exp()).sum();
        v.iter().map(|&x| x as f64 - max - s.ln()).collect()
    }

    #[test]
    fn logprobs_are_raw_log_softmax_sorted() {
        let v: Vec<f32> = (0..50)
            .map(|i| ((i * 37) % 23) as f32 * 0.3 - 2.0)
            .collect();
        let reference = reference_log_softmax(&v);
        let l = Logits::Dense(v.clone());
        // Penalties and temperature must not touch the reported logprobs.
        let p = SamplingParams {
            logprobs: Some(5),
            temperature: 0.7,
            presence_penalty: 1.5,
            repetition_penalty: 1.3,
            seed: 17,
            ..params()
        };
        for step in 0..20 {
            let out: Vec<u32> = (0..step).collect();
            let s = sample(&l, &p, &[3, 4], &out);
            let lp = s.logprob.unwrap_or(f32::NAN);
            assert!((lp as f64 - reference[s.token as usize]).abs() < 1e-5);
            assert_eq!(s.top_logprobs.len(), 5);
            for w in s.top_logprobs.windows(2) {
                assert!(w[0].1 >= w[1].1, "not sorted: {:?}", s.top_logprobs);
            }
            for &(t, lp) in &s.top_logprobs {
                assert!((lp as f64 - reference[t as usize]).abs() < 1e-5);
            }
            // They are the true top 5.
            let mut order: Vec<usize> = (0..v.len()).collect();
            order.sort_by(|&a, &b| reference[b].total_cmp(&reference[a]).then(a.cmp(&b)));
            let ids: Vec<u32> = s.top_logprobs.iter().map(|&(t, _)| t).collect();
            let want: Vec<u32> = order[..5].iter().map(|&i| i as u32).collect();
            assert_eq!(ids, want);
        }
    }

    #[test]
    fn logprobs_zero_still_reports_the_chosen_token() {
        let l = dense(&[0.0, 1.0]);
        let p = SamplingParams {
            logprobs: Some(0),
            ..greedy()
        };
        let s = sample(&l, &p, &[], &[]);
        assert_eq!(s.token, 1);
        assert!(s.logprob.is_some());
        assert!(s.top_logprobs.is_empty());
        // More alternatives than the vocabulary: all of it.
        let p = SamplingParams {
            logprobs: Some(10),
            ..greedy()
        };
        assert_eq!(sample(&l, &p, &[], &[]).top_logprobs.len(), 2);
        // Not asked: nothing.
        let s = sample(&l, &greedy(), &[], &[]);
        assert_eq!((s.logprob, s.top_logprobs.len()), (None, 0));
    }

    #[test]
    fn one_hot_returns_its_token() {
        let p = SamplingParams {
            logprobs: Some(3),
            presence_penalty: 2.0,
            ..params()
        };
        let s = sample(&Logits::OneHot(42), &p, &[], &[42, 42]);
        assert_eq!(
            s,
            SampledToken {
                token: 42,
                logprob: Some(0.0),
                top_logprobs: vec![(42, 0.0)],
            }
        );
        let s = sample(&Logits::OneHot(7), &params(), &[], &[]);
        assert_eq!((s.token, s.logprob), (7, None));
    }

    #[test]
    fn non_finite_logits_do_not_panic() {
        let l = dense(&[f32::NAN, 1.0, f32::INFINITY, f32::NEG_INFINITY]);
        let lp = SamplingParams {
            logprobs: Some(4),
            ..params()
        };
        assert_eq!(sample(&l, &greedy(), &[], &[]).token, 2);
        for step in 0..50 {
            let out = vec![1u32; step];
            let s = sample(&l, &lp, &[], &out);
            assert_eq!(s.token, 2);
            assert!(s.logprob.is_some_and(|x| x.is_finite()));
        }
        // Nothing finite at all: uniform, still no panic.
        let l = dense(&[f32::NAN, f32::NEG_INFINITY, f32::NAN]);
        assert_eq!(sample(&l, &greedy(), &[], &[]).token, 0);
        let all: Vec<u32> = draws(&l, &lp, 300);
        assert!(all.iter().all(|&t| t < 3));
        assert_eq!(counts(&all, 3).iter().filter(|&&c| c > 0).count(), 3);
        // Extreme temperature and truncation together.
        let l = dense(&[1e30, -1e30, 0.0, f32::NAN]);
        let p = SamplingParams {
            temperature: 1e-30,
            top_p: 0.9,
            min_p: 0.1,
            top_k: 3,
            ..params()
        };
        assert_eq!(sample(&l, &p, &[], &[]).token, 0);
        // Empty logits.
        assert_eq!(sample(&dense(&[]), &params(), &[], &[]).token, 0);
    }

    #[test]
    fn large_vocab_with_all_filters() {
        let v: Vec<f32> = (0..150_000u32)
            .map(|i| (random_u64(99, i as u64) % 1000) as f32 / 100.0)
            .collect();
        let l = Logits::Dense(v.clone());
        let p = SamplingParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.9,
            min_p: 0.05,
            logprobs: Some(20),
            seed: 4,
            ..params()
        };
        let top40 = top_indices(&v, 40);
        for step in 0..20 {
            let out = vec![0u32; step];
            let s = sample(&l, &p, &[], &out);
            assert!(top40.contains(&s.token));
            assert_eq!(s.top_logprobs.len(), 20);
        }
    }
}
