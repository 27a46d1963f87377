//! One streamed request, timed the way an agent feels it: chat completions
//! (`choices[].delta` chunks ending in `data: [DONE]`) or the Responses API
//! (typed events ending in `response.completed`).
//!
//! The clock starts at the *intended* send time (not when the socket was
//! written), so a client that falls behind or a queue in front of the server
//! shows up in the figures instead of hiding (coordinated omission).
//!
//! Token counts for inter-token latency come, best first, from the server's
//! running usage (`stream_options.continuous_usage_stats`, exact), from a
//! tokenizer given with `--tokenizer`, or one per content chunk (an estimate;
//! the report says which). A chunk carrying k tokens after an interval dt
//! gives k samples of dt/k: latency per token, not per chunk. A role-only
//! first chunk is not a token.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Deserialize;

/// Which OpenAI API the requests speak (`--api chat|responses|responses-stateless`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    /// `POST /chat/completions`, the whole conversation every turn.
    Chat,
    /// `POST /responses` with `previous_response_id`: each turn sends only
    /// what is new since the last response; the server keeps the rest.
    Responses,
    /// `POST /responses` with `store: false` and the whole conversation
    /// every turn (for servers that keep no state, e.g. llama.cpp's).
    ResponsesStateless,
}

impl Api {
    /// The path under the base URL.
    pub fn path(self) -> &'static str {
        match self {
            Api::Chat => "chat/completions",
            Api::Responses | Api::ResponsesStateless => "responses",
        }
    }

    /// The name `--api` takes and the report records.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Chat => "chat",
            Api::Responses => "responses",
            Api::ResponsesStateless => "responses-stateless",
        }
    }
}

/// Where the token counts behind ITL came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// The server's running `usage.completion_tokens` on each chunk.
    Usage,
    /// Counted with the model's tokenizer.
    Tokenizer,
    /// One token per content chunk (estimate).
    Chunks,
}

impl TokenSource {
    /// The report's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Usage => "usage",
            TokenSource::Tokenizer => "tokenizer",
            TokenSource::Chunks => "chunks",
        }
    }
}

/// A tool call as the stream assembled it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CalledTool {
    /// `id` from the first delta of the call.
    pub id: String,
    /// `function.name`.
    pub name: String,
    /// `function.arguments`, concatenated.
    pub arguments: String,
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq)]
pub enum TurnError {
    /// The server answered with a non-2xx status.
    Http {
        /// HTTP status.
        status: u16,
        /// The body's `error.message`, or the body.
        message: String,
    },
    /// No connection (refused, reset before a response, DNS).
    Connect(String),
    /// `--request-timeout` passed.
    Timeout,
    /// The stream carried an error frame or unparseable data.
    Stream(String),
    /// The stream ended before its end (`data: [DONE]`, `response.completed`).
    Incomplete,
}

impl TurnError {
    /// The error's kind for grouping in reports: `http 429`, `connect`, ...
    pub fn kind(&self) -> String {
        match self {
            TurnError::Http { status, .. } => format!("http {status}"),
            TurnError::Connect(_) => "connect".into(),
            TurnError::Timeout => "timeout".into(),
            TurnError::Stream(_) => "stream".into(),
            TurnError::Incomplete => "incomplete".into(),
        }
    }

    /// A one-line description.
    pub fn message(&self) -> String {
        match self {
            TurnError::Http { status, message } => format!("HTTP {status}: {message}"),
            TurnError::Connect(m) => m.clone(),
            TurnError::Timeout => "request timed out".into(),
            TurnError::Stream(m) => format!("stream: {m}"),
            TurnError::Incomplete => "stream ended before its end event".into(),
        }
    }
}

/// What one request gave.
#[derive(Clone, Debug)]
pub struct TurnOutcome {
    /// When the request was meant to go out.
    pub intended: Instant,
    /// Time to the first token, from `intended`.
    pub ttft: Option<Duration>,
    /// Intended send to the end of the stream.
    pub e2e: Duration,
    /// Per-token inter-token latencies (seconds).
    pub itl: Vec<f32>,
    /// Where the ITL token counts came from.
    pub token_source: TokenSource,
    /// Answer text.
    pub content: String,
    /// Reasoning text (`reasoning_content` or `reasoning`).
    pub reasoning: String,
    /// Tool calls, in index order.
    pub tool_calls: Vec<CalledTool>,
    /// `finish_reason` of choice 0 (Responses: `stop`, `tool_calls`, or
    /// `length` for an incomplete response cut by `max_output_tokens`).
    pub finish_reason: Option<String>,
    /// The Responses API's response id (what the next turn chains from).
    pub response_id: Option<String>,
    /// `usage.prompt_tokens` (0 when the server sent no usage).
    pub prompt_tokens: u64,
    /// `usage.completion_tokens`, else the counted tokens.
    pub output_tokens: u64,
    /// `usage.prompt_tokens_details.cached_tokens` (Responses:
    /// `input_tokens_details`; 0 when absent; never estimated).
    pub cached_tokens: u64,
    /// Whether the server reported usage at all.
    pub usage_reported: bool,
    /// Set when the request failed.
    pub error: Option<TurnError>,
    /// Token arrival times (from `intended`) per received content chunk, with
    /// the number of tokens each carried; the driver bins them into the timeline.
    pub arrivals: Vec<(Duration, u32)>,
}

/// Counts tokens in a text piece (the `--tokenizer` path).
pub type TokenCounter = dyn Fn(&str) -> usize + Send + Sync;

/// The HTTP side: endpoint, key, limits.
#[derive(Clone)]
pub struct Endpoint {
    /// Shared connection pool.
    pub http: reqwest::Client,
    /// What the requests speak.
    pub api: Api,
    /// `{base}/chat/completions` or `{base}/responses`.
    pub url: String,
    /// Bearer key, if any (never logged).
    pub api_key: Option<String>,
    /// Whole-request limit.
    pub timeout: Duration,
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

/// One Responses API stream event: only the fields weir load reads.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    delta: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    item: Option<EventItem>,
    #[serde(default)]
    response: Option<EventResponse>,
    /// An `error` event's message.
    #[serde(default)]
    message: Option<String>,
}

/// An output item (`response.output_item.added` / `.done`).
#[derive(Deserialize)]
struct EventItem {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// The response object of `response.created` / `.completed` / `.failed`.
#[derive(Deserialize)]
struct EventResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    usage: Option<ResponsesUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    incomplete_details: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<PromptDetails>,
}

/// Accumulates one stream's chunks into a [`TurnOutcome`].
struct Accumulator<'c> {
    api: Api,
    out: TurnOutcome,
    counter: Option<&'c TokenCounter>,
    last_token_at: Option<Duration>,
    usage_tokens_seen: u64,
    counted_tokens: u64,
    /// Responses: argument text streamed for the function call being built
    /// (a call that arrives whole counts as one piece at its `done`).
    call_args_streamed: bool,
    done: bool,
}

impl<'c> Accumulator<'c> {
    fn new(api: Api, intended: Instant, counter: Option<&'c TokenCounter>) -> Self {
        Accumulator {
            api,
            out: TurnOutcome {
                intended,
                ttft: None,
                e2e: Duration::ZERO,
                itl: Vec::new(),
                token_source: if counter.is_some() {
                    TokenSource::Tokenizer
                } else {
                    TokenSource::Chunks
                },
                content: String::new(),
                reasoning: String::new(),
                tool_calls: Vec::new(),
                finish_reason: None,
                response_id: None,
                prompt_tokens: 0,
                output_tokens: 0,
                cached_tokens: 0,
                usage_reported: false,
                error: None,
                arrivals: Vec::new(),
            },
            counter,
            last_token_at: None,
            usage_tokens_seen: 0,
            counted_tokens: 0,
            call_args_streamed: false,
            done: false,
        }
    }

    /// One SSE `data:` payload, received at `at` (since intended).
    fn data(&mut self, payload: &str, at: Duration) -> Result<(), TurnError> {
        match self.api {
            Api::Chat => self.chat_chunk(payload, at),
            Api::Responses | Api::ResponsesStateless => self.responses_event(payload, at),
        }
    }

    /// One chat-completions chunk.
    fn chat_chunk(&mut self, payload: &str, at: Duration) -> Result<(), TurnError> {
        if payload == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Chunk<'_> = serde_json::from_str(payload)
            .map_err(|e| TurnError::Stream(format!("bad chunk JSON: {e}")))?;
        if let Some(err) = chunk.error {
            let msg = error_text(&err);
            return Err(TurnError::Stream(msg));
        }
        let mut piece_text = String::new();
        let mut has_token = false;
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(d) = choice.delta {
                // weir and vLLM send the same text as `reasoning_content`
                // and `reasoning`; read the first present.
                let reasoning = d.reasoning_content.as_deref().or(d.reasoning.as_deref());
                for text in [d.content.as_deref(), reasoning].into_iter().flatten() {
                    if !text.is_empty() {
                        has_token = true;
                        piece_text.push_str(text);
                    }
                }
                if let Some(c) = d.content.as_deref() {
                    self.out.content.push_str(c);
                }
                if let Some(r) = reasoning {
                    self.out.reasoning.push_str(r);
                }
                for call in d.tool_calls.into_iter().flatten() {
                    has_token = true;
                    while self.out.tool_calls.len() <= call.index {
                        self.out.tool_calls.push(CalledTool::default());
                    }
                    let slot = &mut self.out.tool_calls[call.index];
                    if let Some(id) = call.id {
                        slot.id = id;
                    }
                    if let Some(f) = call.function {
                        if let Some(n) = f.name {
                            slot.name.push_str(&n);
                        }
                        if let Some(a) = f.arguments {
                            piece_text.push_str(&a);
                            slot.arguments.push_str(&a);
                        }
                    }
                }
            }
            if let Some(r) = choice.finish_reason {
                self.out.finish_reason = Some(r);
            }
        }
        // Tokens this chunk carried.
        let mut tokens: Option<u64> = None;
        if let Some(u) = &chunk.usage {
            self.out.usage_reported = true;
            self.out.prompt_tokens = u.prompt_tokens;
            self.out.cached_tokens = u
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0);
            if u.completion_tokens > self.usage_tokens_seen {
                if has_token {
                    tokens = Some(u.completion_tokens - self.usage_tokens_seen);
                    self.out.token_source = TokenSource::Usage;
                }
                self.usage_tokens_seen = u.completion_tokens;
            }
            self.out.output_tokens = u.completion_tokens;
        }
        if has_token {
            self.tokens_arrived(at, tokens, &piece_text);
        }
        Ok(())
    }

    /// One Responses API event. Text, reasoning and function-call argument
    /// deltas are token pieces; the stream ends at `response.completed` (or
    /// `.incomplete`), whose usage is exact. There is no running usage, so
    /// token counts per piece come from `--tokenizer` or are one per event.
    fn responses_event(&mut self, payload: &str, at: Duration) -> Result<(), TurnError> {
        let ev: Event<'_> = serde_json::from_str(payload)
            .map_err(|e| TurnError::Stream(format!("bad event JSON: {e}")))?;
        match ev.kind.as_ref() {
            "response.created" | "response.in_progress" => {
                if let Some(id) = ev.response.and_then(|r| r.id) {
                    self.out.response_id = Some(id);
                }
            }
            "response.output_text.delta" => {
                let text = ev.delta.unwrap_or_default();
                self.out.content.push_str(&text);
                if !text.is_empty() {
                    self.tokens_arrived(at, None, &text);
                }
            }
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
                let text = ev.delta.unwrap_or_default();
                self.out.reasoning.push_str(&text);
                if !text.is_empty() {
                    self.tokens_arrived(at, None, &text);
                }
            }
            "response.output_item.added"
                if ev.item.as_ref().is_some_and(|i| i.kind == "function_call") =>
            {
                self.call_args_streamed = false;
            }
            "response.function_call_arguments.delta" => {
                let text = ev.delta.unwrap_or_default();
                if !text.is_empty() {
                    self.call_args_streamed = true;
                    self.tokens_arrived(at, None, &text);
                }
            }
            "response.output_item.done" => {
                if let Some(item) = ev.item.filter(|i| i.kind == "function_call") {
                    let call = CalledTool {
                        id: item.call_id.unwrap_or_default(),
                        name: item.name.unwrap_or_default(),
                        arguments: item.arguments.unwrap_or_default(),
                    };
                    if !self.call_args_streamed {
                        let piece = format!("{}{}", call.name, call.arguments);
                        self.tokens_arrived(at, None, &piece);
                    }
                    self.call_args_streamed = false;
                    self.out.tool_calls.push(call);
                }
            }
            kind @ ("response.completed" | "response.incomplete") => {
                let r = ev.response;
                if let Some(r) = &r {
                    if let Some(id) = &r.id {
                        self.out.response_id = Some(id.clone());
                    }
                    if let Some(u) = &r.usage {
                        self.out.usage_reported = true;
                        self.out.prompt_tokens = u.input_tokens;
                        self.out.output_tokens = u.output_tokens;
                        self.out.cached_tokens = u
                            .input_tokens_details
                            .as_ref()
                            .and_then(|d| d.cached_tokens)
                            .unwrap_or(0);
                    }
                }
                let reason = if kind == "response.incomplete" {
                    let why = r
                        .and_then(|r| r.incomplete_details)
                        .and_then(|d| d.get("reason")?.as_str().map(str::to_owned));
                    match why.as_deref() {
                        Some("max_output_tokens") | None => "length".to_owned(),
                        Some(other) => other.to_owned(),
                    }
                } else if self.out.tool_calls.is_empty() {
                    "stop".to_owned()
                } else {
                    "tool_calls".to_owned()
                };
                self.out.finish_reason = Some(reason);
                self.done = true;
            }
            "response.failed" => {
                let msg = ev
                    .response
                    .and_then(|r| r.error)
                    .map(|e| error_text(&e))
                    .unwrap_or_else(|| "response.failed".to_owned());
                return Err(TurnError::Stream(msg));
            }
            "error" => {
                return Err(TurnError::Stream(
                    ev.message
                        .unwrap_or_else(|| payload.chars().take(300).collect()),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// A piece of output arrived at `at`: `tokens` from the server's running
    /// usage when it sent one, else counted or one per piece.
    fn tokens_arrived(&mut self, at: Duration, tokens: Option<u64>, piece_text: &str) {
        let k = match tokens {
            Some(k) => k,
            None if self.out.token_source == TokenSource::Usage => 1,
            None => match self.counter {
                Some(count) => count(piece_text).max(1) as u64,
                None => 1,
            },
        };
        self.counted_tokens += k;
        match self.last_token_at {
            None => self.out.ttft = Some(at),
            Some(prev) => {
                let per = (at.saturating_sub(prev)).as_secs_f64() / k as f64;
                self.out
                    .itl
                    .extend(std::iter::repeat_n(per as f32, k as usize));
            }
        }
        self.out.arrivals.push((at, k as u32));
        self.last_token_at = Some(at);
    }

    fn finish(mut self, at: Duration, error: Option<TurnError>) -> TurnOutcome {
        self.out.e2e = at;
        if !self.out.usage_reported || self.out.output_tokens == 0 {
            self.out.output_tokens = self.out.output_tokens.max(self.counted_tokens);
        } else if self.out.output_tokens > self.counted_tokens {
            // The final usage counts tokens the pieces did not (estimated
            // per chunk, or tokens with no text): they had all arrived by
            // the last piece, so the throughput timeline gets them there.
            if let Some(last) = self.out.arrivals.last_mut() {
                let extra = self.out.output_tokens - self.counted_tokens;
                last.1 = last
                    .1
                    .saturating_add(u32::try_from(extra).unwrap_or(u32::MAX));
            }
        }
        self.out.error = error.or(if !self.done {
            Some(TurnError::Incomplete)
        } else if self.api == Api::Responses && self.out.response_id.is_none() {
            // The next turn has nothing to chain from.
            Some(TurnError::Stream(
                "the response carried no id to continue from".into(),
            ))
        } else {
            None
        });
        self.out
    }
}

/// An error object's `message`, else the object itself as JSON.
fn error_text(err: &serde_json::Value) -> String {
    err.get("message")
        .and_then(|m| m.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| err.to_string())
}

/// Splits an SSE byte stream into `data:` payloads (events end at a blank
/// line; `\r\n` accepted; comments and other fields ignored).
#[derive(Default)]
pub struct SseSplitter {
    buf: Vec<u8>,
}

impl SseSplitter {
    /// Feeds bytes; calls `on_data` with each complete event's data.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_data: impl FnMut(&str) -> Result<(), TurnError>,
    ) -> Result<(), TurnError> {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = find_event_end(&self.buf[start..]) {
            let (event, sep) = (&self.buf[start..start + end.0], end.1);
            let text = std::str::from_utf8(event)
                .map_err(|_| TurnError::Stream("invalid UTF-8 in event".into()))?;
            let mut data = String::new();
            for line in text.lines() {
                let line = line.strip_suffix('\r').unwrap_or(line);
                if let Some(rest) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                }
            }
            if !data.is_empty() {
                on_data(&data)?;
            }
            start += end.0 + sep;
        }
        self.buf.drain(..start);
        Ok(())
    }
}

/// Position of the first blank line (`\n\n` or `\r\n\r\n`) and its length.
fn find_event_end(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'\n' {
            if b[i + 1] == b'\n' {
                return Some((i, 2));
            }
            if b[i + 1] == b'\r' && b.get(i + 2) == Some(&b'\n') {
                return Some((i, 3));
            }
        }
        i += 1;
    }
    None
}

/// An error and its causes, one line: `error sending request: client error
/// (Connect): tcp connect error: Connection refused (os error 111)`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// Sends one streamed request (`body`: the JSON bytes, in `ep.api`'s form)
/// and times it. Never panics; failures come back in `TurnOutcome.error`.
pub async fn send(
    ep: &Endpoint,
    body: Vec<u8>,
    intended: Instant,
    counter: Option<&TokenCounter>,
) -> TurnOutcome {
    let acc = Accumulator::new(ep.api, intended, counter);
    match tokio::time::timeout(ep.timeout, stream(ep, body, intended, acc)).await {
        Ok(out) => out,
        Err(_) => Accumulator::new(ep.api, intended, counter)
            .finish(intended.elapsed(), Some(TurnError::Timeout)),
    }
}

async fn stream<'c>(
    ep: &Endpoint,
    body: Vec<u8>,
    intended: Instant,
    mut acc: Accumulator<'c>,
) -> TurnOutcome {
    let mut req = ep
        .http
        .post(&ep.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(key) = &ep.api_key {
        req = req.bearer_auth(key);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let err = if e.is_timeout() {
                TurnError::Timeout
            } else {
                TurnError::Connect(error_chain(&e.without_url()))
            };
            return acc.finish(intended.elapsed(), Some(err));
        }
    };
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(300).collect());
        return acc.finish(
            intended.elapsed(),
            Some(TurnError::Http {
                status: status.as_u16(),
                message,
            }),
        );
    }
    let mut body = resp.bytes_stream();
    let mut sse = SseSplitter::default();
    while let Some(piece) = body.next().await {
        let bytes = match piece {
            Ok(b) => b,
            Err(e) => {
                return acc.finish(
                    intended.elapsed(),
                    Some(TurnError::Stream(error_chain(&e.without_url()))),
                )
            }
        };
        let at = intended.elapsed();
        if let Err(e) = sse.feed(&bytes, |d| acc.data(d, at)) {
            return acc.finish(at, Some(e));
        }
        if acc.done {
            // The request ends at its end event; read the body's end (briefly) so
            // the connection goes back to the pool, as a real client's does.
            let end = intended.elapsed();
            let drain = async { while body.next().await.is_some() {} };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
            return acc.finish(end, None);
        }
    }
    acc.finish(intended.elapsed(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(acc: &mut Accumulator<'_>, frames: &[(&str, u64)]) {
        for (data, ms) in frames {
            acc.data(data, Duration::from_millis(*ms)).unwrap();
        }
    }

    #[test]
    fn sse_splitter_handles_cuts_and_crlf() {
        let text = "data: {\"a\":1}\n\n: comment\n\ndata: x\r\n\r\ndata: [DONE]\n\n";
        for cut in 0..text.len() {
            let mut s = SseSplitter::default();
            let mut got = Vec::new();
            let (a, b) = text.as_bytes().split_at(cut);
            for part in [a, b] {
                s.feed(part, |d| {
                    got.push(d.to_owned());
                    Ok(())
                })
                .unwrap();
            }
            assert_eq!(got, ["{\"a\":1}", "x", "[DONE]"], "cut at {cut}");
        }
    }

    #[test]
    fn role_chunk_is_not_a_token_and_usage_counts_split_intervals() {
        let mut acc = Accumulator::new(Api::Chat, Instant::now(), None);
        feed_all(
            &mut acc,
            &[
                (
                    r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}],"usage":{"prompt_tokens":10,"completion_tokens":0}}"#,
                    5,
                ),
                (
                    r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":{"prompt_tokens":10,"completion_tokens":1}}"#,
                    100,
                ),
                (
                    r#"{"choices":[{"index":0,"delta":{"content":" there you"}}],"usage":{"prompt_tokens":10,"completion_tokens":4}}"#,
                    160,
                ),
                (
                    r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":4}}"#,
                    161,
                ),
                (
                    r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":8}}}"#,
                    162,
                ),
                ("[DONE]", 162),
            ],
        );
        let out = acc.finish(Duration::from_millis(163), None);
        assert_eq!(out.ttft, Some(Duration::from_millis(100)));
        assert_eq!(out.token_source, TokenSource::Usage);
        assert_eq!(out.itl.len(), 3);
        for v in &out.itl {
            assert!((v - 0.020).abs() < 1e-6, "{v}");
        }
        assert_eq!(out.content, "Hi there you");
        assert_eq!(
            (out.prompt_tokens, out.output_tokens, out.cached_tokens),
            (10, 4, 8)
        );
        assert_eq!(out.finish_reason.as_deref(), Some("stop"));
        assert!(out.error.is_none());
    }

    #[test]
    fn chunks_are_tokens_without_usage_and_tool_calls_assemble() {
        let mut acc = Accumulator::new(Api::Chat, Instant::now(), None);
        feed_all(
            &mut acc,
            &[
                (
                    r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]}"#,
                    10,
                ),
                (
                    r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read","arguments":"{\"filePath\":"}}]}}]}"#,
                    30,
                ),
                (
                    r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"a.rs\"}"}}]}}]}"#,
                    50,
                ),
                (
                    r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
                    51,
                ),
            ],
        );
        let out = acc.finish(Duration::from_millis(52), None);
        assert_eq!(out.token_source, TokenSource::Chunks);
        assert_eq!(out.itl, vec![0.02f32, 0.02]);
        assert_eq!(out.reasoning, "hm");
        assert_eq!(out.output_tokens, 3);
        assert_eq!(
            out.tool_calls,
            vec![CalledTool {
                id: "call_1".into(),
                name: "read".into(),
                arguments: "{\"filePath\":\"a.rs\"}".into()
            }]
        );
        assert_eq!(out.error, Some(TurnError::Incomplete), "no [DONE] seen");
    }

    #[test]
    fn tokenizer_counts_when_no_usage() {
        let count = |s: &str| s.split_whitespace().count();
        let mut acc = Accumulator::new(Api::Chat, Instant::now(), Some(&count));
        feed_all(
            &mut acc,
            &[
                (r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#, 10),
                (
                    r#"{"choices":[{"index":0,"delta":{"content":" b c"}}]}"#,
                    30,
                ),
                ("[DONE]", 30),
            ],
        );
        let out = acc.finish(Duration::from_millis(31), None);
        assert_eq!(out.token_source, TokenSource::Tokenizer);
        assert_eq!(out.itl, vec![0.01f32, 0.01]);
        assert_eq!(out.output_tokens, 3);
    }

    /// Feeds a whole recorded SSE stream, one event per millisecond.
    fn feed_stream(acc: &mut Accumulator<'_>, text: &str) -> Result<(), TurnError> {
        let mut sse = SseSplitter::default();
        let mut ms = 0;
        sse.feed(text.as_bytes(), |d| {
            ms += 1;
            acc.data(d, Duration::from_millis(ms))
        })
    }

    #[test]
    fn responses_stream_recorded_from_llama_cpp() {
        // Recorded from llama.cpp's llama-server (0c1e570) /v1/responses:
        // 12 output tokens of a random-weight model, one of them with text.
        let text = include_str!("../tests/data/streams/llama_cpp_responses.sse");
        let mut acc = Accumulator::new(Api::Responses, Instant::now(), None);
        feed_stream(&mut acc, text).unwrap();
        assert!(acc.done);
        let out = acc.finish(Duration::from_millis(20), None);
        assert!(out.error.is_none(), "{:?}", out.error);
        assert_eq!(
            out.response_id.as_deref(),
            Some("resp_9JFtkdOjyPgNInvK1z82X9MyPVluujSI")
        );
        assert_eq!(out.content, "choice");
        assert_eq!(
            out.ttft,
            Some(Duration::from_millis(5)),
            "the first delta is the 5th event"
        );
        assert_eq!(
            (out.prompt_tokens, out.cached_tokens, out.output_tokens),
            (23, 5, 12)
        );
        assert_eq!(out.finish_reason.as_deref(), Some("stop"));
        assert_eq!(out.token_source, TokenSource::Chunks);
        // The usage's 12 tokens all count in the timeline.
        assert_eq!(out.arrivals.iter().map(|a| a.1).sum::<u32>(), 12);
    }

    #[test]
    fn responses_function_call_stream_assembles_calls() {
        // The event sequence of OpenAI's Responses API streaming guide.
        let events = [
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress"}}"#,
            r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[]}}"#,
            r#"{"type":"response.reasoning_summary_text.delta","item_id":"rs_1","delta":"Look at it"}"#,
            r#"{"type":"response.output_item.added","output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_a","name":"read","arguments":""}}"#,
            r#"{"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":1,"delta":"{\"filePath\":"}"#,
            r#"{"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":1,"delta":"\"a.rs\"}"}"#,
            r#"{"type":"response.function_call_arguments.done","item_id":"fc_1","output_index":1,"arguments":"{\"filePath\":\"a.rs\"}"}"#,
            r#"{"type":"response.output_item.done","output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_a","name":"read","arguments":"{\"filePath\":\"a.rs\"}","status":"completed"}}"#,
            r#"{"type":"response.output_item.done","output_index":2,"item":{"type":"function_call","id":"fc_2","call_id":"call_b","name":"glob","arguments":"{\"pattern\":\"*.rs\"}","status":"completed"}}"#,
            r#"{"type":"response.completed","response":{"id":"resp_1","status":"completed","usage":{"input_tokens":900,"input_tokens_details":{"cached_tokens":768},"output_tokens":30,"output_tokens_details":{"reasoning_tokens":4}}}}"#,
        ];
        let mut acc = Accumulator::new(Api::Responses, Instant::now(), None);
        for (i, e) in events.iter().enumerate() {
            acc.data(e, Duration::from_millis(10 * i as u64)).unwrap();
        }
        let out = acc.finish(Duration::from_millis(100), None);
        assert!(out.error.is_none());
        assert_eq!(out.reasoning, "Look at it");
        assert_eq!(
            out.tool_calls,
            vec![
                CalledTool {
                    id: "call_a".into(),
                    name: "read".into(),
                    arguments: r#"{"filePath":"a.rs"}"#.into()
                },
                CalledTool {
                    id: "call_b".into(),
                    name: "glob".into(),
                    arguments: r#"{"pattern":"*.rs"}"#.into()
                },
            ]
        );
        assert_eq!(out.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            (out.prompt_tokens, out.cached_tokens, out.output_tokens),
            (900, 768, 30)
        );
        // Pieces: the summary delta, two argument deltas, the call that came
        // whole: first at 20 ms, then 40, 50 and 80 ms.
        assert_eq!(out.ttft, Some(Duration::from_millis(20)));
        assert_eq!(out.itl, vec![0.02f32, 0.01, 0.03]);
    }

    #[test]
    fn responses_ends_incomplete_failed_or_without_an_id() {
        let run = |api: Api, events: &[&str]| {
            let mut acc = Accumulator::new(api, Instant::now(), None);
            let mut err = None;
            for e in events {
                if let Err(e) = acc.data(e, Duration::ZERO) {
                    err = Some(e);
                    break;
                }
            }
            acc.finish(Duration::from_millis(1), err)
        };
        let cut = run(
            Api::Responses,
            &[
                r#"{"type":"response.created","response":{"id":"r"}}"#,
                r#"{"type":"response.output_text.delta","delta":"a"}"#,
                r#"{"type":"response.incomplete","response":{"id":"r","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":3,"output_tokens":1}}}"#,
            ],
        );
        assert!(cut.error.is_none());
        assert_eq!(cut.finish_reason.as_deref(), Some("length"));
        let failed = run(
            Api::Responses,
            &[
                r#"{"type":"response.failed","response":{"id":"r","error":{"code":"server_error","message":"boom"}}}"#,
            ],
        );
        assert_eq!(failed.error, Some(TurnError::Stream("boom".into())));
        let error = run(
            Api::ResponsesStateless,
            &[
                r#"{"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null}"#,
            ],
        );
        assert_eq!(error.error, Some(TurnError::Stream("slow down".into())));
        let truncated = run(
            Api::Responses,
            &[r#"{"type":"response.output_text.delta","delta":"a"}"#],
        );
        assert_eq!(truncated.error, Some(TurnError::Incomplete));
        // Chained, a response without an id leaves nothing to continue from;
        // stateless, it does not matter.
        let no_id = [
            r#"{"type":"response.completed","response":{"usage":{"input_tokens":1,"output_tokens":1}}}"#,
        ];
        assert!(matches!(
            run(Api::Responses, &no_id).error,
            Some(TurnError::Stream(_))
        ));
        assert!(run(Api::ResponsesStateless, &no_id).error.is_none());
    }

    #[test]
    fn error_frame_fails_the_turn() {
        let mut acc = Accumulator::new(Api::Chat, Instant::now(), None);
        let e = acc
            .data(
                r#"{"error":{"message":"boom","type":"server_error"}}"#,
                Duration::ZERO,
            )
            .unwrap_err();
        assert_eq!(e, TurnError::Stream("boom".into()));
    }
}
