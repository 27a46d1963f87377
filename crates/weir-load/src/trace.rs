//! Trace replay: the Mooncake-style JSONL that aiperf and NVIDIA Dynamo use.
//!
//! Each line: `{"timestamp": ms, "input_length": n, "output_length": m,
//! "hash_ids": [..], "session_id": ..?}`. `hash_ids` name the prompt's
//! blocks of `block_size` tokens (512 in Mooncake's traces): two requests
//! that share a hash id share that block of prompt. We synthesize each block
//! as words drawn from the hash id alone, so equal ids give equal text and
//! the shared-prefix structure survives; the last block is cut to the
//! request's `input_length`. The synthesized words are common English words,
//! about one token each in BPE vocabularies, so lengths land near the trace's.
//!
//! Requests go out at their timestamps (open loop). Lines with the same
//! `session_id` run in order: a turn goes at its timestamp or when the
//! session's previous turn ends, whichever is later, and its latency counts
//! from that instant.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::body::request_body;
use super::client::{self, Endpoint, TokenCounter};
use super::interrupt::{join_unless_aborted, Stop, StopLevel};
use super::report::RunReport;
use super::session::{RequestOptions, SessionRng};
use super::stats::{Recorder, Slo};

/// One trace line.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct TraceRecord {
    /// Send time, ms from the trace's start.
    #[serde(default)]
    pub timestamp: f64,
    /// Prompt tokens.
    pub input_length: usize,
    /// Output tokens (sent as `max_tokens`).
    pub output_length: usize,
    /// Prompt blocks; equal ids are equal text.
    #[serde(default)]
    pub hash_ids: Vec<u64>,
    /// Turns of one session run in order.
    #[serde(default)]
    pub session_id: Option<serde_json::Value>,
}

/// Errors reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("cannot read trace {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a trace record.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The path given.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// No records.
    #[error("{0}: the trace has no records")]
    Empty(String),
}

/// Reads a JSONL trace (blank lines skipped).
pub fn read(path: &Path) -> Result<Vec<TraceRecord>, TraceError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TraceError::Read {
        path: name.clone(),
        source,
    })?;
    parse(&text, &name)
}

/// Parses JSONL trace text; `name` is used in errors.
pub fn parse(text: &str, name: &str) -> Result<Vec<TraceRecord>, TraceError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: TraceRecord = serde_json::from_str(line).map_err(|e| TraceError::Line {
            path: name.into(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if rec.output_length == 0 {
            return Err(TraceError::Line {
                path: name.into(),
                line: i + 1,
                message: "output_length must be at least 1".into(),
            });
        }
        out.push(rec);
    }
    if out.is_empty() {
        return Err(TraceError::Empty(name.into()));
    }
    Ok(out)
}

/// Common English words, each about one BPE token with its leading space.
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
    "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
    "been", "if", "more", "when", "will", "would", "who", "so", "no", "time", "out", "up", "do",
    "said", "about", "what", "its", "into", "than", "them", "only", "some", "could", "new", "like",
    "other", "then", "first", "any", "these", "may", "now", "over", "also", "after", "two", "my",
    "made", "many", "before", "must", "well", "back", "through", "years", "much", "where", "your",
    "way", "down", "should", "because", "long", "each", "just", "state", "people", "those", "both",
    "how", "work", "world", "still", "own", "see", "men", "make", "even", "here", "between",
    "life", "being", "under", "never", "day", "same", "another", "know", "while", "last", "might",
    "us", "great", "old", "year", "off", "come", "since", "against", "go", "came", "right", "used",
    "take", "three", "system", "small",
];

/// The text of prompt block `hash_id`, `words` words long (a prefix of the
/// full block when shorter, so a cut last block still matches a full one's start).
pub fn block_text(hash_id: u64, words: usize) -> String {
    let mut rng = SessionRng::new(0x5EED_B10C, hash_id);
    let mut s = String::with_capacity(words * 5);
    for _ in 0..words {
        s.push(' ');
        s.push_str(WORDS[rng.below(WORDS.len())]);
    }
    s
}

/// The synthesized prompt of a record.
pub fn prompt_text(rec: &TraceRecord, block_size: usize) -> String {
    let mut left = rec.input_length;
    let mut s = String::new();
    let mut ids = rec.hash_ids.iter().copied();
    let mut synthetic = u64::MAX;
    while left > 0 {
        // Blocks past the listed ids are unique to this request.
        let id = ids.next().unwrap_or_else(|| {
            synthetic = synthetic.wrapping_sub(1);
            synthetic ^ (rec.timestamp.to_bits().rotate_left(17))
        });
        let n = left.min(block_size);
        s.push_str(&block_text(id, n));
        left -= n;
    }
    s
}

/// Replays `records` (sorted by timestamp here) and reports.
#[allow(clippy::too_many_arguments)]
pub async fn replay(
    records: Vec<TraceRecord>,
    endpoint: Endpoint,
    options: RequestOptions,
    counter: Option<Arc<TokenCounter>>,
    block_size: usize,
    speedup: f64,
    slo: Option<Slo>,
    quiet: bool,
    stop: &Stop,
) -> RunReport {
    let start = Instant::now();
    let rec = Arc::new(Recorder::new(start, start, None, slo));
    let live = super::driver::Live::start(rec.clone(), "trace".into(), quiet);
    // Group by session; lines without a session are sessions of their own.
    let mut sessions: Vec<Vec<TraceRecord>> = Vec::new();
    let mut by_id: std::collections::HashMap<String, usize> = Default::default();
    let mut records = records;
    records.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
    for r in records {
        match r.session_id.as_ref().map(|v| v.to_string()) {
            Some(id) => {
                let i = *by_id.entry(id).or_insert_with(|| {
                    sessions.push(Vec::new());
                    sessions.len() - 1
                });
                sessions[i].push(r);
            }
            None => sessions.push(vec![r]),
        }
    }
    let shared = Arc::new((endpoint, options, counter));
    let mut tasks = tokio::task::JoinSet::new();
    for turns in sessions {
        let (shared, rec, stop) = (shared.clone(), rec.clone(), stop.clone());
        tasks.spawn(async move {
            let (endpoint, options, counter) = &*shared;
            let at = |r: &TraceRecord| {
                start + Duration::from_secs_f64(r.timestamp.max(0.0) / 1e3 / speedup.max(1e-9))
            };
            let first = at(&turns[0]);
            rec.live
                .active
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut ready = first;
            let mut all_good = true;
            let mut ended_early = false;
            for (i, r) in turns.iter().enumerate() {
                let intended = at(r).max(ready);
                tokio::select! {
                    biased;
                    _ = stop.reached(StopLevel::Drain) => {
                        ended_early = true;
                        break;
                    }
                    _ = tokio::time::sleep_until(intended.into()) => {}
                }
                let messages = [json!({"role": "user", "content": prompt_text(r, block_size)})];
                let max_tokens = Some(r.output_length.min(u32::MAX as usize) as u32);
                let body = request_body(options, endpoint.api, &messages, &[], max_tokens, None);
                let out = client::send(endpoint, body, intended, counter.as_deref()).await;
                all_good &= rec.record_turn(&out, i + 1);
                ready = intended + out.e2e;
                if out.error.is_some() {
                    ended_early = true;
                    break;
                }
            }
            if !ended_early {
                rec.record_session(first, first.elapsed(), all_good);
            }
            rec.live
                .active
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
    join_unless_aborted(&mut tasks, stop).await;
    let client = live.stop().await;
    rec.report("trace".into(), None, None, start.elapsed(), client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mooncake_lines_and_names_bad_ones() {
        let text = r#"{"timestamp": 0, "input_length": 700, "output_length": 10, "hash_ids": [1, 2]}

{"timestamp": 50, "input_length": 600, "output_length": 5, "hash_ids": [1, 3], "session_id": "a"}
"#;
        let recs = parse(text, "t.jsonl").unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].hash_ids, vec![1, 3]);
        let err = parse("{\"timestamp\": 1}\n", "t.jsonl")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.jsonl:1:"), "{err}");
        assert!(parse("\n", "t.jsonl").is_err());
    }

    #[test]
    fn shared_hash_ids_share_prompt_text() {
        let a = TraceRecord {
            timestamp: 0.0,
            input_length: 700,
            output_length: 1,
            hash_ids: vec![1, 2],
            session_id: None,
        };
        let b = TraceRecord {
            timestamp: 9.0,
            input_length: 600,
            output_length: 1,
            hash_ids: vec![1, 3],
            session_id: None,
        };
        let (ta, tb) = (prompt_text(&a, 512), prompt_text(&b, 512));
        let shared = block_text(1, 512);
        assert!(ta.starts_with(&shared) && tb.starts_with(&shared));
        assert_ne!(
            ta[shared.len()..].split(' ').nth(1),
            tb[shared.len()..].split(' ').nth(1)
        );
        assert_eq!(ta.split_whitespace().count(), 700);
        assert_eq!(tb.split_whitespace().count(), 600);
        // Beyond the listed ids, blocks differ between requests.
        let c = TraceRecord {
            timestamp: 1.0,
            input_length: 1100,
            output_length: 1,
            hash_ids: vec![1],
            session_id: None,
        };
        let d = TraceRecord {
            timestamp: 2.0,
            ..c.clone()
        };
        assert_ne!(prompt_text(&c, 512), prompt_text(&d, 512));
    }
}
