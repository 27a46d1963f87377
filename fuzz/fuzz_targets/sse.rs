//! The SSE encoder over arbitrary event sequences (any choice index, deltas
//! after a finish, failures, odd logprobs, text with newlines and control
//! characters) for chat and completion streams. Every frame must be
//! `data: <one line of JSON>\n\n` holding an object, choices must name a
//! real choice, and the stream must end with exactly one `data: [DONE]`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use weir::api::sse::{SseEncoder, StreamConfig, StreamKind, DONE_FRAME};
use weir::engine::request::{FinishReason, StreamEvent, TokenLogprob, ToolCallDelta};

#[derive(Arbitrary, Debug)]
struct Config {
    chat: bool,
    n: u8,
    prompt_tokens: u16,
    include_usage: bool,
    continuous_usage: bool,
    logprobs: bool,
    echo: Option<String>,
    id: String,
    model: String,
}

#[derive(Arbitrary, Debug)]
struct Logprob {
    token: String,
    bytes: Vec<u8>,
    logprob: f32,
    top: Vec<(String, Vec<u8>, f32)>,
}

#[derive(Arbitrary, Debug)]
struct CallDelta {
    index: u8,
    start: Option<(String, String)>,
    arguments: String,
}

#[derive(Arbitrary, Debug)]
enum Reason {
    Stop,
    Length,
    ToolCalls,
    Abort,
}

#[derive(Arbitrary, Debug)]
enum Event {
    Delta {
        choice: u8,
        text: String,
        reasoning: String,
        tool_calls: Vec<CallDelta>,
        token_ids: Vec<u32>,
        logprobs: Vec<Logprob>,
    },
    Finished {
        choice: u8,
        reason: Reason,
        completion_tokens: u16,
        matched_stop: Option<String>,
        cached_tokens: u16,
        reasoning_tokens: u16,
    },
    Failed {
        message: String,
    },
}

impl Event {
    fn engine(self) -> StreamEvent {
        match self {
            Event::Delta {
                choice,
                text,
                reasoning,
                tool_calls,
                token_ids,
                logprobs,
            } => StreamEvent::Delta {
                choice: choice.into(),
                text,
                reasoning,
                tool_calls: tool_calls
                    .into_iter()
                    .map(|c| ToolCallDelta {
                        index: c.index.into(),
                        start: c.start,
                        arguments: c.arguments,
                    })
                    .collect(),
                token_ids,
                logprobs: logprobs
                    .into_iter()
                    .map(|l| TokenLogprob {
                        token: l.token,
                        bytes: l.bytes,
                        logprob: l.logprob,
                        top: l.top,
                    })
                    .collect(),
            },
            Event::Finished {
                choice,
                reason,
                completion_tokens,
                matched_stop,
                cached_tokens,
                reasoning_tokens,
            } => StreamEvent::Finished {
                choice: choice.into(),
                reason: match reason {
                    Reason::Stop => FinishReason::Stop,
                    Reason::Length => FinishReason::Length,
                    Reason::ToolCalls => FinishReason::ToolCalls,
                    Reason::Abort => FinishReason::Abort,
                },
                completion_tokens: completion_tokens.into(),
                matched_stop,
                cached_tokens: cached_tokens.into(),
                reasoning_tokens: reasoning_tokens.into(),
            },
            Event::Failed { message } => StreamEvent::Failed { message },
        }
    }
}

/// Checks that `out` is whole frames, each `data: ` + one line of JSON
/// (an object) + a blank line, or the `[DONE]` frame; returns how many
/// `[DONE]` frames it held.
fn check_frames(out: &str, n: usize) -> usize {
    let mut done = 0;
    let mut rest = out;
    while !rest.is_empty() {
        let end = rest
            .find("\n\n")
            .unwrap_or_else(|| panic!("unterminated frame in {out:?}"));
        let line = &rest[..end];
        rest = &rest[end + 2..];
        let payload = line
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("frame without `data: `: {line:?}"));
        assert!(
            !payload.contains(['\n', '\r']),
            "line break inside a frame: {line:?}"
        );
        if payload == "[DONE]" {
            done += 1;
            continue;
        }
        assert_eq!(done, 0, "a frame after [DONE]");
        let value: Value = serde_json::from_str(payload)
            .unwrap_or_else(|e| panic!("frame is not JSON ({e}): {payload:?}"));
        assert!(value.is_object(), "frame is not an object: {payload}");
        if let Some(choices) = value.get("choices").and_then(Value::as_array) {
            for c in choices {
                let index = c["index"].as_u64().expect("choice index") as usize;
                assert!(index < n, "choice {index} of {n}");
            }
        } else {
            assert!(
                value.get("error").is_some(),
                "neither choices nor error: {payload}"
            );
        }
    }
    done
}

fuzz_target!(|input: (Config, Vec<Event>)| {
    let (cfg, events) = input;
    let n = usize::from(cfg.n % 8) + 1;
    let mut enc = SseEncoder::new(StreamConfig {
        kind: if cfg.chat {
            StreamKind::Chat
        } else {
            StreamKind::Completion
        },
        id: cfg.id,
        created: 1_700_000_000,
        model: cfg.model,
        n,
        prompt_tokens: cfg.prompt_tokens.into(),
        include_usage: cfg.include_usage,
        continuous_usage: cfg.continuous_usage,
        logprobs: cfg.logprobs,
        echo: cfg.echo,
    });
    assert_eq!(check_frames(&enc.open(), n), 0);
    for ev in events {
        // The body stops reading once the encoder is done, then closes.
        if enc.is_done() {
            break;
        }
        let ev = Event::engine(ev);
        assert_eq!(check_frames(&enc.event(&ev), n), 0);
    }
    let close = enc.close();
    assert_eq!(check_frames(&close, n), 1, "close must send one [DONE]");
    assert!(close.ends_with(DONE_FRAME));
    assert!(enc.close().is_empty(), "close is idempotent");
});
