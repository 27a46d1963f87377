//! Per-project Prometheus series: requests and tokens by project, endpoint
//! and model, so an operator sees who uses what. Cardinality is bounded:
//! past [`MAX_SERIES`] label sets, further ones are counted under
//! `project="other"`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::tenancy::model::UsageRecord;

/// Most distinct (project, endpoint, model, status) label sets kept.
pub const MAX_SERIES: usize = 2_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Labels {
    project: String,
    endpoint: String,
    model: String,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    requests: [u64; 4],
    prompt_tokens: u64,
    cached_tokens: u64,
    generation_tokens: u64,
}

/// A counter family: name, help, and how to read it from the counters.
type Family = (&'static str, &'static str, fn(&Counters) -> u64);

/// The statuses a finished request is counted under.
const STATUSES: [&str; 4] = ["completed", "cancelled", "failed", "interrupted"];

/// The per-project counters.
#[derive(Default)]
pub struct TenantMetrics {
    series: Mutex<BTreeMap<Labels, Counters>>,
}

/// Prometheus label values escape `\`, `"` and newlines.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl TenantMetrics {
    /// Count a finished request.
    pub fn record(&self, rec: &UsageRecord) {
        let Some(status) = STATUSES.iter().position(|s| *s == rec.status.as_str()) else {
            return;
        };
        let mut labels = Labels {
            project: rec.project.as_ref().map_or(String::new(), |p| p.0.clone()),
            endpoint: rec.endpoint.clone().unwrap_or_default(),
            model: rec.model.clone(),
        };
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if !series.contains_key(&labels) && series.len() >= MAX_SERIES {
            labels = Labels {
                project: "other".into(),
                endpoint: "other".into(),
                model: rec.model.clone(),
            };
        }
        let c = series.entry(labels).or_default();
        c.requests[status] += 1;
        c.prompt_tokens += rec.prompt_tokens;
        c.cached_tokens += rec.cached_tokens;
        c.generation_tokens += rec.completion_tokens;
    }

    /// The exposition text (empty while nothing was counted).
    pub fn render(&self) -> String {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        if series.is_empty() {
            return out;
        }
        let families: [Family; 3] = [
            (
                "weir:project_prompt_tokens_total",
                "Prompt tokens by project, endpoint and model.",
                |c| c.prompt_tokens,
            ),
            (
                "weir:project_cached_prompt_tokens_total",
                "Prompt tokens served from the prefix cache, by project, endpoint and model.",
                |c| c.cached_tokens,
            ),
            (
                "weir:project_generation_tokens_total",
                "Generated tokens by project, endpoint and model.",
                |c| c.generation_tokens,
            ),
        ];
        let _ = writeln!(
            out,
            "# HELP weir:project_requests_total Finished requests by project, endpoint, model and status."
        );
        let _ = writeln!(out, "# TYPE weir:project_requests_total counter");
        for (l, c) in series.iter() {
            for (i, status) in STATUSES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "weir:project_requests_total{{project=\"{}\",endpoint=\"{}\",model_name=\"{}\",status=\"{status}\"}} {}",
                    escape(&l.project),
                    escape(&l.endpoint),
                    escape(&l.model),
                    c.requests[i]
                );
            }
        }
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (l, c) in series.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{project=\"{}\",endpoint=\"{}\",model_name=\"{}\"}} {}",
                    escape(&l.project),
                    escape(&l.endpoint),
                    escape(&l.model),
                    value(c)
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::model::{ProjectId, UsageStatus};

    fn rec(project: &str, status: UsageStatus) -> UsageRecord {
        UsageRecord {
            request_id: "r".into(),
            project: Some(ProjectId(project.into())),
            endpoint: Some("coder".into()),
            key_prefix: None,
            model: "m".into(),
            prompt_tokens: 10,
            cached_tokens: 4,
            completion_tokens: 3,
            reasoning_tokens: 0,
            ttft_ms: None,
            latency_ms: 1.0,
            status,
            created_at_ms: 0,
        }
    }

    #[test]
    fn counts_by_project_and_bounds_the_series() {
        let m = TenantMetrics::default();
        m.record(&rec("proj_a", UsageStatus::Completed));
        m.record(&rec("proj_a", UsageStatus::Cancelled));
        let text = m.render();
        assert!(text.contains("weir:project_requests_total{project=\"proj_a\",endpoint=\"coder\",model_name=\"m\",status=\"completed\"} 1"), "{text}");
        assert!(text.contains("weir:project_prompt_tokens_total{project=\"proj_a\",endpoint=\"coder\",model_name=\"m\"} 20"), "{text}");
        for i in 0..MAX_SERIES + 10 {
            m.record(&rec(&format!("proj_{i}"), UsageStatus::Completed));
        }
        assert!(m.series.lock().unwrap().len() <= MAX_SERIES + 1);
        assert!(m.render().contains("project=\"other\""));
    }
}
