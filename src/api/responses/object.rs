//! The response object and its output items, as the OpenAI SDKs and the
//! Open Responses schema read them: every field present, null where unset.

use serde::Serialize;
use serde_json::Value;

use crate::api::chat::ChoiceResult;
use crate::api::responses::request::Echo;
use crate::engine::request::FinishReason;

/// A response (`object: "response"`), whole or as a stream's snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct ResponseObject {
    /// `resp_...`.
    pub id: String,
    /// Always `"response"`.
    pub object: &'static str,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds once it ended.
    pub completed_at: Option<i64>,
    /// `in_progress`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    /// Why it failed (`failed` only).
    pub error: Option<Value>,
    /// Why it is incomplete (`incomplete` only).
    pub incomplete_details: Option<Value>,
    /// The served model's name.
    pub model: String,
    /// What the model produced, in order.
    pub output: Vec<OutputItem>,
    /// Token counts (null until it ended).
    pub usage: Option<ResponseUsage>,
    /// Whether it is kept (retrievable, and continued by `previous_response_id`).
    pub store: bool,
    /// Always false (background mode is not supported).
    pub background: bool,
    /// Always `"default"`.
    pub service_tier: &'static str,
    /// The request settings, echoed.
    pub instructions: Value,
    /// As asked.
    pub max_output_tokens: Value,
    /// As asked.
    pub temperature: Value,
    /// As asked.
    pub top_p: Value,
    /// As asked (flat function tools).
    pub tools: Value,
    /// As asked.
    pub tool_choice: Value,
    /// As asked.
    pub parallel_tool_calls: Value,
    /// As asked.
    pub previous_response_id: Value,
    /// As asked.
    pub reasoning: Value,
    /// As asked.
    pub text: Value,
    /// As asked.
    pub truncation: Value,
    /// As asked.
    pub metadata: Value,
    /// As asked.
    pub user: Value,
}

impl ResponseObject {
    /// A response in progress with nothing produced yet; `store`: whether
    /// it will be kept.
    pub fn in_progress(
        id: String,
        created_at: i64,
        model: String,
        echo: &Echo,
        store: bool,
    ) -> Self {
        ResponseObject {
            id,
            object: "response",
            created_at,
            completed_at: None,
            status: "in_progress",
            error: None,
            incomplete_details: None,
            model,
            output: Vec::new(),
            usage: None,
            store,
            background: false,
            service_tier: "default",
            instructions: echo.instructions.clone(),
            max_output_tokens: echo.max_output_tokens.clone(),
            temperature: echo.temperature.clone(),
            top_p: echo.top_p.clone(),
            tools: echo.tools.clone(),
            tool_choice: echo.tool_choice.clone(),
            parallel_tool_calls: echo.parallel_tool_calls.clone(),
            previous_response_id: echo.previous_response_id.clone(),
            reasoning: echo.reasoning.clone(),
            text: echo.text.clone(),
            truncation: echo.truncation.clone(),
            metadata: echo.metadata.clone(),
            user: echo.user.clone(),
        }
    }

    /// Mark it ended for `reason` at `now` with `usage`: `completed`, or
    /// `incomplete` when the output limit cut it short.
    pub fn finish(&mut self, reason: FinishReason, usage: ResponseUsage, now: i64) {
        self.completed_at = Some(now);
        self.usage = Some(usage);
        if reason == FinishReason::Length {
            self.status = "incomplete";
            self.incomplete_details = Some(serde_json::json!({"reason": "max_output_tokens"}));
        } else if reason == FinishReason::Abort {
            // Only a cancel ends a response that is still answered.
            self.status = "cancelled";
        } else {
            self.status = "completed";
        }
    }

    /// Mark it failed with a server error.
    pub fn fail(&mut self, code: &str, message: &str, usage: ResponseUsage) {
        self.status = "failed";
        self.usage = Some(usage);
        self.error = Some(serde_json::json!({"code": code, "message": message}));
    }
}

/// One output item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    /// The model's reasoning: the whole text both as `content`
    /// (`reasoning_text`, the Open Responses form) and as the one `summary`
    /// part (`summary_text`, the only form the AI SDK shows).
    Reasoning {
        /// `rs_...`.
        id: String,
        /// One `summary_text` part.
        summary: Vec<TextPart>,
        /// One `reasoning_text` part.
        content: Vec<TextPart>,
        /// Always null.
        encrypted_content: Option<String>,
        /// `in_progress`, `completed` or `incomplete`.
        status: &'static str,
    },
    /// An assistant message with one `output_text` part.
    Message {
        /// `msg_...`.
        id: String,
        /// `in_progress`, `completed` or `incomplete`.
        status: &'static str,
        /// Always `assistant`.
        role: &'static str,
        /// The text parts.
        content: Vec<TextPart>,
    },
    /// A call of one of the request's function tools.
    FunctionCall {
        /// `fc_...`.
        id: String,
        /// The id a `function_call_output` answers.
        call_id: String,
        /// The function.
        name: String,
        /// Its arguments, a JSON text.
        arguments: String,
        /// `in_progress`, `completed` or `incomplete`.
        status: &'static str,
    },
}

impl OutputItem {
    /// The item's id.
    pub fn id(&self) -> &str {
        match self {
            OutputItem::Reasoning { id, .. }
            | OutputItem::Message { id, .. }
            | OutputItem::FunctionCall { id, .. } => id,
        }
    }
}

/// A text part: `output_text`, `summary_text` or `reasoning_text`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TextPart {
    /// The part's type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The text.
    pub text: String,
    /// `output_text` only: always empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Value>>,
    /// `output_text` only: always empty (logprobs are not offered here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Value>>,
}

impl TextPart {
    /// An `output_text` part.
    pub fn output_text(text: String) -> Self {
        TextPart {
            kind: "output_text",
            text,
            annotations: Some(Vec::new()),
            logprobs: Some(Vec::new()),
        }
    }

    /// A `summary_text` part.
    pub fn summary(text: String) -> Self {
        TextPart {
            kind: "summary_text",
            text,
            annotations: None,
            logprobs: None,
        }
    }

    /// A `reasoning_text` part.
    pub fn reasoning(text: String) -> Self {
        TextPart {
            kind: "reasoning_text",
            text,
            annotations: None,
            logprobs: None,
        }
    }
}

/// `usage` of a response.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResponseUsage {
    /// Prompt tokens.
    pub input_tokens: usize,
    /// `{cached_tokens}`: prompt tokens served from the prefix cache.
    pub input_tokens_details: CachedTokens,
    /// Generated tokens.
    pub output_tokens: usize,
    /// `{reasoning_tokens}`: generated tokens that were reasoning.
    pub output_tokens_details: ReasoningTokens,
    /// Input plus output.
    pub total_tokens: usize,
}

/// `input_tokens_details`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CachedTokens {
    /// Prompt tokens served from the prefix cache.
    pub cached_tokens: usize,
}

/// `output_tokens_details`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReasoningTokens {
    /// Generated tokens that were reasoning.
    pub reasoning_tokens: usize,
}

impl ResponseUsage {
    /// Usage from the engine's counts.
    pub fn new(input: usize, cached: usize, output: usize, reasoning: usize) -> Self {
        ResponseUsage {
            input_tokens: input,
            input_tokens_details: CachedTokens {
                cached_tokens: cached,
            },
            output_tokens: output,
            output_tokens_details: ReasoningTokens {
                reasoning_tokens: reasoning,
            },
            total_tokens: input + output,
        }
    }
}

/// Item ids within one response: `{prefix}_{response id's hex}{n}`, unique
/// across responses because the response id is.
#[derive(Clone, Debug)]
pub struct ItemIds {
    stem: String,
    next: usize,
}

impl ItemIds {
    /// Ids for the items of response `response_id`.
    pub fn new(response_id: &str) -> Self {
        let stem = response_id
            .split_once('_')
            .map_or(response_id, |(_, rest)| rest)
            .to_string();
        ItemIds { stem, next: 0 }
    }

    /// The next id with `prefix` (`rs`, `msg`, `fc`).
    pub fn next(&mut self, prefix: &str) -> String {
        let id = format!("{prefix}_{}{:02}", self.stem, self.next);
        self.next += 1;
        id
    }
}

/// The output items of a whole (non-streamed) generation: its reasoning,
/// its text, then its calls.
pub fn output_items(
    result: &ChoiceResult,
    ids: &mut ItemIds,
    status: &'static str,
) -> Vec<OutputItem> {
    let mut items = Vec::new();
    if !result.reasoning.is_empty() {
        items.push(OutputItem::Reasoning {
            id: ids.next("rs"),
            summary: vec![TextPart::summary(result.reasoning.clone())],
            content: vec![TextPart::reasoning(result.reasoning.clone())],
            encrypted_content: None,
            status,
        });
    }
    if !result.text.is_empty() || result.tool_calls.is_empty() {
        items.push(OutputItem::Message {
            id: ids.next("msg"),
            status,
            role: "assistant",
            content: vec![TextPart::output_text(result.text.clone())],
        });
    }
    for call in &result.tool_calls {
        items.push(OutputItem::FunctionCall {
            id: ids.next("fc"),
            call_id: call.id.clone(),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            status,
        });
    }
    items
}
