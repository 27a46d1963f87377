//! A tool call's arguments: the JSON object an agent sent, read field by
//! field with errors worded as OpenCode words them.

use serde_json::{Map, Value};

/// A tool call's arguments: a JSON object.
pub(super) struct Args {
    /// The tool's name, for error messages.
    pub(super) tool: &'static str,
    /// The arguments as sent.
    pub(super) map: Map<String, Value>,
}

impl Args {
    /// Parses `arguments` (empty means `{}`) for tool `name`.
    pub(super) fn parse(name: &str, arguments: &str) -> Result<Args, String> {
        // Keep the tool name for messages without borrowing the caller's str.
        let tool = TOOL_NAMES
            .iter()
            .find(|t| **t == name)
            .copied()
            .unwrap_or("unknown");
        if tool == "unknown" {
            return Err(format!("Error: unknown tool: {name}"));
        }
        let trimmed = arguments.trim();
        let value = if trimmed.is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(trimmed).map_err(|e| {
                format!("Error: the {tool} tool was called with invalid arguments: not valid JSON ({e})")
            })?
        };
        match value {
            Value::Object(map) => Ok(Args { tool, map }),
            _ => Err(format!(
                "Error: the {tool} tool was called with invalid arguments: expected a JSON object"
            )),
        }
    }

    /// An "invalid arguments" error naming the tool.
    pub(super) fn invalid(&self, what: &str) -> String {
        format!(
            "Error: the {} tool was called with invalid arguments: {what}",
            self.tool
        )
    }

    /// A required string argument.
    pub(super) fn req_str(&self, key: &str) -> Result<&str, String> {
        self.opt_str(key)?
            .ok_or_else(|| self.invalid(&format!("missing required argument `{key}`")))
    }

    /// An optional string argument (`null` counts as absent).
    pub(super) fn opt_str(&self, key: &str) -> Result<Option<&str>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.invalid(&format!("argument `{key}` must be a string"))),
        }
    }

    /// An optional non-negative integer argument (fractions are cut).
    pub(super) fn opt_u64(&self, key: &str) -> Result<Option<u64>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
                (Some(v), _) => Ok(Some(v)),
                (None, Some(f)) if f >= 0.0 => Ok(Some(f as u64)),
                _ => Err(self.invalid(&format!("argument `{key}` must be a non-negative integer"))),
            },
            Some(_) => {
                Err(self.invalid(&format!("argument `{key}` must be a non-negative integer")))
            }
        }
    }

    /// An optional boolean argument.
    pub(super) fn opt_bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.invalid(&format!("argument `{key}` must be a boolean"))),
        }
    }
}

/// The tools a workspace answers.
pub(super) const TOOL_NAMES: &[&str] = &[
    "bash",
    "edit",
    "glob",
    "grep",
    "list",
    "read",
    "task",
    "todowrite",
    "webfetch",
    "write",
];
