//! Request validation: arbitrary bytes as the body of `/v1/chat/completions`,
//! `/v1/completions`, `/tokenize` and `/detokenize`, read and checked the
//! way the handlers do. Never a panic; a refused body is always a 4xx, never
//! a 500; an accepted one holds only values the engine can use.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir::api::validate::{self, ValidRequest, MAX_N, MAX_STOP, MAX_TOP_LOGPROBS};
use weir::api::ApiError;

/// The served model name; the seed corpus uses it.
const MODEL: &str = "fuzz-model";

/// A refusal is the client's fault and renders as OpenAI's error body.
fn check_refusal(err: &ApiError) {
    assert!(
        err.status.is_client_error(),
        "client input gave {}: {}",
        err.status,
        err.message
    );
    let body = err.body();
    assert!(body["error"]["message"].is_string(), "error body {body}");
    let frame = err.sse_frame();
    assert!(frame.starts_with("data: ") && frame.ends_with("\n\n"));
}

/// What validation promises the engine about an accepted request.
fn check_accepted(valid: &ValidRequest) {
    let g = &valid.generate;
    assert_eq!(valid.model, MODEL);
    assert!((1..=MAX_N as usize).contains(&g.n), "n = {}", g.n);
    assert!(g.stop.len() <= MAX_STOP, "{} stop strings", g.stop.len());
    assert!(g.stop.iter().all(|s| !s.is_empty()), "empty stop string");
    assert!(g.max_tokens.is_none_or(|m| m > 0), "max_tokens 0");
    if let Some(k) = valid.options.logprobs {
        assert!(k <= MAX_TOP_LOGPROBS as usize, "logprobs {k}");
    }
    let p = &g.params;
    for (name, v) in [
        ("temperature", p.temperature),
        ("top_p", p.top_p),
        ("min_p", p.min_p),
        ("presence_penalty", p.presence_penalty),
        ("frequency_penalty", p.frequency_penalty),
        ("repetition_penalty", p.repetition_penalty),
    ] {
        assert!(v.is_finite(), "{name} = {v}");
    }
    assert!(p.temperature >= 0.0, "temperature {}", p.temperature);
    assert!(p.top_p > 0.0 && p.top_p <= 1.0, "top_p {}", p.top_p);
    assert!((0.0..=1.0).contains(&p.min_p), "min_p {}", p.min_p);
    assert!(
        p.repetition_penalty > 0.0,
        "repetition_penalty {}",
        p.repetition_penalty
    );
}

fuzz_target!(|data: &[u8]| {
    let body = match validate::parse_json_object(data) {
        Ok(body) => body,
        Err(e) => return check_refusal(&e),
    };
    match validate::chat_request(&body, MODEL) {
        Ok(valid) => check_accepted(&valid),
        Err(e) => check_refusal(&e),
    }
    match validate::completion_request(&body, MODEL) {
        Ok(valid) => check_accepted(&valid),
        Err(e) => check_refusal(&e),
    }
    if let Err(e) = validate::chat_input(&body) {
        check_refusal(&e);
    }
    if let Err(e) = validate::tokens_field(&body) {
        check_refusal(&e);
    }
    if let Err(e) = validate::check_optional_model(&body, MODEL) {
        check_refusal(&e);
    }
});
