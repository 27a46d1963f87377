//! The `sim` model runner: no arithmetic, real pipeline.
//!
//! [`SimRunner`] implements [`ModelRunner`] by returning
//! [`Logits::OneHot`] for every sampling sequence, so the scheduler, the
//! stream actors and the HTTP layer all run for real while the "model" is
//! an echo, a script or random text. Each step sleeps for a modelled GPU
//! step time ([`SimSpeed`]), so load tests see realistic batching.
//!
//! Per sequence the reply is decided once, on the first step that samples
//! it, from the sequence's [`PromptHint`] (the last user-or-tool message),
//! and tokenized with the model's real tokenizer. Each sampling step then
//! returns the reply's token at index `all_tokens.len() - prompt_len` (the
//! number of tokens already generated), and `eos` once the reply is used
//! up. The token is a function of the sequence's length, so a preempted
//! and recomputed sequence continues exactly where it was.
//!
//! Constrained decoding (`response_format`, a forced `tool_choice`) is not
//! applied to this runner's output in any mode: a one-hot "distribution"
//! has nothing to mask, so echo, script and random replies come back as
//! they are (a script can be written to contain the expected JSON or
//! tool-call markup). Such requests are still validated and their grammars
//! compiled, so a schema the grammar library rejects is a 400 here too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regex::Regex;
use serde::Deserialize;

use crate::backend::BackendError;
use crate::engine::request::SeqId;
use crate::engine::sampling::random_u64;
use crate::runner::{ForwardSeq, Logits, ModelRunner, PromptHint};

/// Turns reply text into token ids: the model's real tokenizer, as a
/// closure so this module does not depend on the tokenizer type.
pub type SimEncode = Box<dyn Fn(&str) -> Vec<u32> + Send>;

/// Errors loading a sim script.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The script file could not be read.
    #[error("cannot read sim script {path}: {source}")]
    Read {
        /// The file asked for.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The script is not valid JSON of the documented shape.
    #[error("invalid sim script: {0}")]
    Json(#[from] serde_json::Error),
    /// A rule's `match` is not a valid regex.
    #[error("invalid regex in sim script rule {index} ({pattern:?}): {source}")]
    Regex {
        /// Position of the rule in `rules` (0-based).
        index: usize,
        /// The pattern as written.
        pattern: String,
        /// The regex crate's complaint.
        source: regex::Error,
    },
}

/// Which text the sim produces.
#[derive(Clone, Debug)]
pub enum SimMode {
    /// Reply with the prompt hint's text (the last user or tool message).
    Echo,
    /// An endless stream of ids drawn from the runner's `random_ids`,
    /// seeded by the sequence id; only `max_tokens` (or a stop) ends it.
    Random,
    /// Reply from a script of regex rules.
    Script(SimScript),
}

/// Which hint role a rule applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RoleFilter {
    /// The last message was a user message.
    User,
    /// The last message was a tool result.
    Tool,
    /// A raw completion prompt.
    Prompt,
    /// Anything.
    #[default]
    Any,
}

impl RoleFilter {
    fn accepts(self, role: &str) -> bool {
        match self {
            RoleFilter::Any => true,
            RoleFilter::User => role == "user",
            RoleFilter::Tool => role == "tool",
            RoleFilter::Prompt => role == "prompt",
        }
    }
}

/// One compiled script rule.
#[derive(Clone, Debug)]
struct SimRule {
    pattern: Regex,
    role: RoleFilter,
    reply: String,
}

/// A script: rules tried in order; the first whose regex matches the last
/// user-or-tool message's text ([`PromptHint`]) gives the reply.
///
/// # File format
///
/// ```json
/// {
///   "rules": [
///     {"match": "(?i)weather", "role": "user",
///      "reply": "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>"},
///     {"match": ".", "role": "tool", "reply": "It is sunny in Paris."},
///     {"match": "^think", "reply": "<think>Let me see.</think>Done."}
///   ],
///   "default": "I am a simulated model."
/// }
/// ```
///
/// - `match` (required): a [`regex`] crate pattern, searched anywhere in the
///   hint's text (anchor with `^`/`$`; flags such as `(?i)` or `(?s)` inline).
/// - `role` (optional, default `"any"`): `"user"`, `"tool"`, `"prompt"` (a
///   raw completion prompt) or `"any"`; the rule only applies when the
///   hint's role is that one.
/// - `reply` (required): the exact text generated, markup included: model
///   family syntax such as `<tool_call>…</tool_call>` or `<think>…</think>`
///   is emitted verbatim for the parsers downstream to pick up. No
///   substitution of any kind is done.
/// - `default` (optional, default `""`): the reply when no rule matches; an
///   empty reply ends the sequence at once with eos.
///
/// Unknown fields are rejected, so a misspelt key fails loudly at start-up.
#[derive(Clone, Debug)]
pub struct SimScript {
    rules: Vec<SimRule>,
    default_reply: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    #[serde(default)]
    rules: Vec<RuleFile>,
    #[serde(default)]
    default: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(rename = "match")]
    pattern: String,
    #[serde(default)]
    role: RoleFilter,
    reply: String,
}

impl SimScript {
    /// Load a script from a JSON file (format in the type's docs).
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Parse a script from JSON text (format in the type's docs).
    pub fn from_json(s: &str) -> Result<Self, SimError> {
        let file: ScriptFile = serde_json::from_str(s)?;
        let rules = file
            .rules
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                let pattern = Regex::new(&r.pattern).map_err(|source| SimError::Regex {
                    index,
                    pattern: r.pattern.clone(),
                    source,
                })?;
                Ok(SimRule {
                    pattern,
                    role: r.role,
                    reply: r.reply,
                })
            })
            .collect::<Result<Vec<_>, SimError>>()?;
        Ok(Self {
            rules,
            default_reply: file.default,
        })
    }

    /// The reply for `hint`: the first rule whose role filter accepts the
    /// hint's role and whose regex matches its text, else the default.
    pub fn reply_for(&self, hint: &PromptHint) -> &str {
        self.rules
            .iter()
            .find(|r| r.role.accepts(&hint.role) && r.pattern.is_match(&hint.text))
            .map_or(self.default_reply.as_str(), |r| r.reply.as_str())
    }
}

/// Modelled speed: a step sleeps `prefill_us_per_token * (prompt tokens
/// computed this step) + decode_step_us + decode_us_per_seq * (decoding
/// sequences in the step)`.
///
/// A sequence is *decoding* when it computes exactly one token past its
/// prompt (`len == 1 && start >= prompt_len`); every other computed token
/// (prompt chunks, and the recompute of a preempted sequence) counts as
/// prefill. An empty step costs nothing. All zeros (the `Default`) never
/// sleeps; negative or non-finite terms count as zero.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SimSpeed {
    /// Microseconds per prefill token.
    pub prefill_us_per_token: f64,
    /// Fixed microseconds per non-empty step (kernel launches, sync).
    pub decode_step_us: f64,
    /// Microseconds per decoding sequence in the step.
    pub decode_us_per_seq: f64,
}

impl SimSpeed {
    /// The modelled duration of a step with `prefill_tokens` prompt tokens
    /// and `decoding` decoding sequences.
    pub fn step_cost(&self, prefill_tokens: usize, decoding: usize) -> Duration {
        let term = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
        let us = term(self.prefill_us_per_token) * prefill_tokens as f64
            + term(self.decode_step_us)
            + term(self.decode_us_per_seq) * decoding as f64;
        Duration::try_from_secs_f64(us / 1e6).unwrap_or(Duration::MAX)
    }
}

/// What a sequence replies, decided on its first sampling step.
#[derive(Debug)]
enum Reply {
    /// A fixed token list, then eos.
    Tokens(Vec<u32>),
    /// Endless random ids.
    Random,
}

/// A [`ModelRunner`] that emits echoed, scripted or random text at a
/// modelled speed, with no model.
pub struct SimRunner {
    mode: SimMode,
    speed: SimSpeed,
    vocab_size: usize,
    eos: u32,
    encode: SimEncode,
    random_ids: Vec<u32>,
    replies: HashMap<SeqId, Reply>,
}

impl std::fmt::Debug for SimRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRunner")
            .field("mode", &self.mode)
            .field("speed", &self.speed)
            .field("vocab_size", &self.vocab_size)
            .field("eos", &self.eos)
            .field("random_ids", &self.random_ids.len())
            .field("live_sequences", &self.replies.len())
            .finish_non_exhaustive()
    }
}

impl SimRunner {
    /// A sim runner.
    ///
    /// `encode` turns reply text into token ids (the model's real tokenizer,
    /// passed as a closure so this module does not depend on the tokenizer
    /// type); `eos` is the id emitted after the reply; `vocab_size` is what
    /// [`ModelRunner::vocab_size`] reports; `random_ids` are the "ordinary"
    /// ids random mode draws from, so random text decodes to something
    /// printable (when empty, random mode draws from `0..vocab_size`).
    pub fn new(
        mode: SimMode,
        speed: SimSpeed,
        vocab_size: usize,
        eos: u32,
        encode: SimEncode,
        random_ids: Vec<u32>,
    ) -> Self {
        Self {
            mode,
            speed,
            vocab_size,
            eos,
            encode,
            random_ids,
            replies: HashMap::new(),
        }
    }

    /// Sequences with live per-sequence state (released ones excluded).
    pub fn live_sequences(&self) -> usize {
        self.replies.len()
    }

    fn next_token(&mut self, seq: &ForwardSeq<'_>) -> u32 {
        let generated = seq.all_tokens.len().saturating_sub(seq.prompt_len);
        let reply = self
            .replies
            .entry(seq.seq_id)
            .or_insert_with(|| decide(&self.mode, &*self.encode, seq.hint));
        match reply {
            Reply::Tokens(t) => t.get(generated).copied().unwrap_or(self.eos),
            Reply::Random => {
                let r = random_u64(seq.seq_id.as_u64(), generated as u64);
                if !self.random_ids.is_empty() {
                    self.random_ids[(r % self.random_ids.len() as u64) as usize]
                } else if self.vocab_size > 0 {
                    (r % self.vocab_size as u64) as u32
                } else {
                    self.eos
                }
            }
        }
    }
}

/// A sequence's reply, from its hint.
fn decide(mode: &SimMode, encode: &dyn Fn(&str) -> Vec<u32>, hint: &PromptHint) -> Reply {
    match mode {
        SimMode::Echo => Reply::Tokens(encode(&hint.text)),
        SimMode::Script(script) => Reply::Tokens(encode(script.reply_for(hint))),
        SimMode::Random => Reply::Random,
    }
}

impl ModelRunner for SimRunner {
    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn forward(&mut self, seqs: &[ForwardSeq<'_>]) -> Result<Vec<Logits>, BackendError> {
        let started = Instant::now();
        let mut prefill_tokens = 0usize;
        let mut decoding = 0usize;
        for s in seqs {
            if s.start + s.len > s.all_tokens.len() || s.prompt_len > s.all_tokens.len() {
                return Err(BackendError::InvalidStep(format!(
                    "sequence {}: computes {}..{} (prompt {}) of {} tokens",
                    s.seq_id,
                    s.start,
                    s.start + s.len,
                    s.prompt_len,
                    s.all_tokens.len()
                )));
            }
            if s.len == 1 && s.start >= s.prompt_len {
                decoding += 1;
            } else {
                prefill_tokens += s.len;
            }
        }
        let logits = seqs
            .iter()
            .filter(|s| s.sample)
            .map(|s| Logits::OneHot(self.next_token(s)))
            .collect();
        if !seqs.is_empty() {
            let cost = self.speed.step_cost(prefill_tokens, decoding);
            if let Some(left) = cost.checked_sub(started.elapsed()) {
                // This runs on the executor's own OS thread, never on a
                // tokio worker: blocking is the point.
                std::thread::sleep(left);
            }
        }
        Ok(logits)
    }

    fn release(&mut self, seq_id: SeqId) {
        self.replies.remove(&seq_id);
    }

    fn uses_thread_pool(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const EOS: u32 = 999;

    /// One id per byte: easy to read back.
    fn byte_encode() -> SimEncode {
        Box::new(|s: &str| s.bytes().map(u32::from).collect())
    }

    fn decode(ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .take_while(|&&t| t != EOS)
            .map(|&t| u8::try_from(t).unwrap_or(b'?'))
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn runner(mode: SimMode) -> SimRunner {
        SimRunner::new(
            mode,
            SimSpeed::default(),
            1000,
            EOS,
            byte_encode(),
            vec![10, 20, 30],
        )
    }

    fn hint(role: &str, text: &str) -> PromptHint {
        PromptHint {
            role: role.into(),
            text: text.into(),
        }
    }

    /// Run one sequence to eos (or `max` tokens) the way the engine would:
    /// a prefill step for the prompt, then one decode step per token.
    fn generate(
        r: &mut SimRunner,
        seq_id: SeqId,
        h: &PromptHint,
        max: usize,
    ) -> Result<Vec<u32>, BackendError> {
        let mut tokens: Vec<u32> = vec![1, 2, 3, 4];
        let prompt_len = tokens.len();
        let mut out = Vec::new();
        while out.len() < max {
            let (start, len) = if out.is_empty() {
                (0, prompt_len)
            } else {
                (tokens.len() - 1, 1)
            };
            let seqs = [ForwardSeq {
                seq_id,
                all_tokens: &tokens,
                prompt_len,
                start,
                len,
                block_table: &[],
                sample: true,
                hint: h,
            }];
            let logits = r.forward(&seqs)?;
            let Some(Logits::OneHot(t)) = logits.first() else {
                panic!("expected one one-hot logits, got {logits:?}");
            };
            out.push(*t);
            tokens.push(*t);
            if *t == EOS {
                break;
            }
        }
        Ok(out)
    }

    #[test]
    fn echo_repeats_the_hint_then_eos() -> TestResult {
        let mut r = runner(SimMode::Echo);
        let out = generate(
            &mut r,
            SeqId::new(1, 0).unwrap(),
            &hint("user", "hello there"),
            100,
        )?;
        assert_eq!(decode(&out), "hello there");
        assert_eq!(out.last(), Some(&EOS));
        assert_eq!(out.len(), "hello there".len() + 1);
        // An empty hint ends at once.
        assert_eq!(
            generate(&mut r, SeqId::new(2, 0).unwrap(), &hint("user", ""), 10)?,
            vec![EOS]
        );
        Ok(())
    }

    const SCRIPT: &str = r#"{
        "rules": [
            {"match": "(?i)weather", "role": "user",
             "reply": "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>"},
            {"match": "sunny", "role": "tool", "reply": "It is sunny."},
            {"match": "^think", "reply": "<think>hmm</think>ok"},
            {"match": "think", "reply": "second rule"}
        ],
        "default": "fallback"
    }"#;

    #[test]
    fn script_replies_verbatim_with_markup() -> TestResult {
        let script = SimScript::from_json(SCRIPT)?;
        let mut r = runner(SimMode::Script(script));
        let out = generate(
            &mut r,
            SeqId::new(1, 0).unwrap(),
            &hint("user", "What's the WEATHER?"),
            200,
        )?;
        assert_eq!(
            decode(&out),
            r#"<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>"#
        );
        assert_eq!(
            decode(&generate(
                &mut r,
                SeqId::new(2, 0).unwrap(),
                &hint("user", "nothing"),
                200
            )?),
            "fallback"
        );
        Ok(())
    }

    #[test]
    fn script_rules_are_tried_in_order() -> TestResult {
        let script = SimScript::from_json(SCRIPT)?;
        // Both "^think" and "think" match: the first one wins.
        assert_eq!(
            script.reply_for(&hint("user", "think hard")),
            "<think>hmm</think>ok"
        );
        // Only the later one matches.
        assert_eq!(script.reply_for(&hint("user", "I think")), "second rule");
        Ok(())
    }

    #[test]
    fn script_rules_filter_on_role() -> TestResult {
        let script = SimScript::from_json(SCRIPT)?;
        // "weather" rules are user-only; a tool result saying it falls through.
        assert_eq!(
            script.reply_for(&hint("tool", "weather: sunny")),
            "It is sunny."
        );
        assert_eq!(script.reply_for(&hint("user", "sunny")), "fallback");
        assert_eq!(script.reply_for(&hint("prompt", "weather")), "fallback");
        // "any" (the default) accepts every role.
        assert_eq!(
            script.reply_for(&hint("prompt", "think")),
            "<think>hmm</think>ok"
        );
        let s =
            SimScript::from_json(r#"{"rules": [{"match": "x", "role": "prompt", "reply": "p"}]}"#)?;
        assert_eq!(s.reply_for(&hint("prompt", "x")), "p");
        assert_eq!(s.reply_for(&hint("user", "x")), "");
        Ok(())
    }

    #[test]
    fn script_errors_name_the_problem() -> TestResult {
        let bad_regex =
            r#"{"rules": [{"match": "ok", "reply": "a"}, {"match": "(", "reply": "b"}]}"#;
        match SimScript::from_json(bad_regex) {
            Err(SimError::Regex { index, pattern, .. }) => {
                assert_eq!((index, pattern.as_str()), (1, "("));
            }
            other => panic!("expected a regex error, got {other:?}"),
        }
        let typo = r#"{"rules": [{"regex": "a", "reply": "b"}]}"#;
        assert!(matches!(SimScript::from_json(typo), Err(SimError::Json(_))));
        let bad_role = r#"{"rules": [{"match": "a", "role": "system", "reply": "b"}]}"#;
        assert!(matches!(
            SimScript::from_json(bad_role),
            Err(SimError::Json(_))
        ));
        let missing = Path::new("/nonexistent/weir-sim-script.json");
        assert!(matches!(
            SimScript::from_file(missing),
            Err(SimError::Read { .. })
        ));
        Ok(())
    }

    #[test]
    fn script_loads_from_a_file() -> TestResult {
        let path = std::env::temp_dir().join(format!("weir-sim-{}.json", std::process::id()));
        std::fs::write(&path, SCRIPT)?;
        let loaded = SimScript::from_file(&path);
        let _ = std::fs::remove_file(&path);
        let script = loaded?;
        assert_eq!(script.reply_for(&hint("tool", "sunny")), "It is sunny.");
        Ok(())
    }

    #[test]
    fn random_is_endless_seeded_and_drawn_from_the_list() -> TestResult {
        let mut r = runner(SimMode::Random);
        let h = hint("user", "anything");
        let a = generate(&mut r, SeqId::new(7, 0).unwrap(), &h, 300)?;
        assert_eq!(a.len(), 300);
        assert!(a.iter().all(|t| [10, 20, 30].contains(t)));
        for id in [10, 20, 30] {
            assert!(a.contains(&id));
        }
        // Same sequence id, same stream (even from a fresh runner); another
        // id, another stream.
        let mut r2 = runner(SimMode::Random);
        assert_eq!(generate(&mut r2, SeqId::new(7, 0).unwrap(), &h, 300)?, a);
        assert_ne!(generate(&mut r2, SeqId::new(8, 0).unwrap(), &h, 300)?, a);
        // No list: ids from the vocabulary.
        let mut r3 = SimRunner::new(
            SimMode::Random,
            SimSpeed::default(),
            50,
            EOS,
            byte_encode(),
            Vec::new(),
        );
        assert!(generate(&mut r3, SeqId::new(1, 0).unwrap(), &h, 200)?
            .iter()
            .all(|&t| t < 50));
        Ok(())
    }

    #[test]
    fn batch_returns_logits_only_for_sampling_sequences_in_order() -> TestResult {
        let mut r = runner(SimMode::Echo);
        let (ha, hb, hc) = (hint("user", "abc"), hint("user", "xyz"), hint("user", "q"));
        // a: decoding, 1 token generated; b: prefill chunk, not sampling;
        // c: last prefill chunk, sampling.
        let ta = [1, 2, b'a' as u32];
        let tb = [5, 6, 7, 8];
        let tc = [9, 9];
        let seqs = [
            ForwardSeq {
                seq_id: SeqId::new(1, 0).unwrap(),
                all_tokens: &ta,
                prompt_len: 2,
                start: 2,
                len: 1,
                block_table: &[],
                sample: true,
                hint: &ha,
            },
            ForwardSeq {
                seq_id: SeqId::new(2, 0).unwrap(),
                all_tokens: &tb,
                prompt_len: 4,
                start: 0,
                len: 2,
                block_table: &[],
                sample: false,
                hint: &hb,
            },
            ForwardSeq {
                seq_id: SeqId::new(3, 0).unwrap(),
                all_tokens: &tc,
                prompt_len: 2,
                start: 1,
                len: 1,
                block_table: &[],
                sample: true,
                hint: &hc,
            },
        ];
        let out = r.forward(&seqs)?;
        assert_eq!(
            out,
            vec![Logits::OneHot(b'b' as u32), Logits::OneHot(b'q' as u32)]
        );
        // A non-sampling sequence gets no state yet.
        assert_eq!(r.live_sequences(), 2);
        Ok(())
    }

    #[test]
    fn preempted_sequence_continues_where_it_was() -> TestResult {
        let mut r = runner(SimMode::Echo);
        let h = hint("user", "hello");
        // Prompt [1, 2] plus "he" generated; recomputed from scratch.
        let tokens = [1, 2, b'h' as u32, b'e' as u32];
        let seqs = [ForwardSeq {
            seq_id: SeqId::new(4, 0).unwrap(),
            all_tokens: &tokens,
            prompt_len: 2,
            start: 0,
            len: 4,
            block_table: &[],
            sample: true,
            hint: &h,
        }];
        assert_eq!(r.forward(&seqs)?, vec![Logits::OneHot(b'l' as u32)]);
        Ok(())
    }

    #[test]
    fn state_is_released() -> TestResult {
        let mut r = runner(SimMode::Echo);
        generate(&mut r, SeqId::new(1, 0).unwrap(), &hint("user", "a"), 10)?;
        generate(&mut r, SeqId::new(2, 0).unwrap(), &hint("user", "b"), 10)?;
        assert_eq!(r.live_sequences(), 2);
        r.release(SeqId::new(1, 0).unwrap());
        assert_eq!(r.live_sequences(), 1);
        r.release(SeqId::new(1, 0).unwrap());
        r.release(SeqId::new(2, 0).unwrap());
        assert_eq!(r.live_sequences(), 0);
        // A released id that comes back decides afresh.
        assert_eq!(
            decode(&generate(
                &mut r,
                SeqId::new(1, 0).unwrap(),
                &hint("user", "new"),
                10
            )?),
            "new"
        );
        Ok(())
    }

    #[test]
    fn invalid_step_is_an_error() -> TestResult {
        let mut r = runner(SimMode::Echo);
        let h = hint("user", "x");
        let tokens = [1, 2];
        let seqs = [ForwardSeq {
            seq_id: SeqId::new(1, 0).unwrap(),
            all_tokens: &tokens,
            prompt_len: 2,
            start: 1,
            len: 5,
            block_table: &[],
            sample: true,
            hint: &h,
        }];
        assert!(matches!(
            r.forward(&seqs),
            Err(BackendError::InvalidStep(_))
        ));
        Ok(())
    }

    #[test]
    fn step_cost_follows_the_model() -> TestResult {
        let speed = SimSpeed {
            prefill_us_per_token: 100.0,
            decode_step_us: 5_000.0,
            decode_us_per_seq: 2_500.0,
        };
        assert_eq!(speed.step_cost(100, 2), Duration::from_millis(20));
        assert_eq!(speed.step_cost(0, 0), Duration::from_millis(5));
        let broken = SimSpeed {
            prefill_us_per_token: f64::NAN,
            decode_step_us: -1.0,
            decode_us_per_seq: f64::INFINITY,
        };
        assert_eq!(broken.step_cost(10, 10), Duration::ZERO);
        Ok(())
    }

    #[test]
    fn a_step_sleeps_the_modelled_time() -> TestResult {
        let speed = SimSpeed {
            prefill_us_per_token: 100.0,
            decode_step_us: 5_000.0,
            decode_us_per_seq: 2_500.0,
        };
        let mut r = SimRunner::new(SimMode::Echo, speed, 1000, EOS, byte_encode(), Vec::new());
        let (h1, h2, h3) = (hint("user", "a"), hint("user", "b"), hint("user", "c"));
        let prompt: Vec<u32> = (0..100).collect();
        let d1 = [1, 2, 3];
        let d2 = [4, 5, 6];
        // 100 prefill tokens + 2 decoding sequences: 10 + 5 + 5 = 20 ms.
        let seqs = [
            ForwardSeq {
                seq_id: SeqId::new(1, 0).unwrap(),
                all_tokens: &prompt,
                prompt_len: 100,
                start: 0,
                len: 100,
                block_table: &[],
                sample: true,
                hint: &h1,
            },
            ForwardSeq {
                seq_id: SeqId::new(2, 0).unwrap(),
                all_tokens: &d1,
                prompt_len: 2,
                start: 2,
                len: 1,
                block_table: &[],
                sample: true,
                hint: &h2,
            },
            ForwardSeq {
                seq_id: SeqId::new(3, 0).unwrap(),
                all_tokens: &d2,
                prompt_len: 2,
                start: 2,
                len: 1,
                block_table: &[],
                sample: true,
                hint: &h3,
            },
        ];
        let t = Instant::now();
        let out = r.forward(&seqs)?;
        let took = t.elapsed();
        assert_eq!(out.len(), 3);
        assert!(took >= Duration::from_millis(20), "{took:?}");
        // Generous: a loaded 2-core CI box may oversleep a lot.
        assert!(took < Duration::from_millis(500), "{took:?}");
        // An empty step does not sleep.
        let t = Instant::now();
        assert!(r.forward(&[])?.is_empty());
        assert!(t.elapsed() < Duration::from_millis(5));
        Ok(())
    }
}
