//! `weir admin`: projects, endpoints, keys and usage in the tenancy store.
//! Parsing and printing only; the operations are
//! [`weir::tenancy::admin`]'s, shared with the admin HTTP API.
//!
//! A new key goes to stdout alone on its line (scripts capture it), with a
//! note on stderr that it will not be shown again. `--json` prints
//! machine-readable JSON. Every error is one line on stderr and exit 1.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use weir::tenancy::admin::{
    self, Admin, EndpointSpec, KeySpec, KeyView, NewKey, ProjectSpec, DEFAULT_GRACE,
};
use weir::tenancy::store::{default_db_path, UsageGroupBy, UsageTotals};
use weir::tenancy::{Endpoint, Project, RateLimits, Scope};

/// `weir admin ...`.
#[derive(Args)]
pub struct AdminArgs {
    /// The tenancy store (SQLite). Default: $XDG_DATA_HOME/weir/weir.db or
    /// ~/.local/share/weir/weir.db. The key secret lives beside it
    /// (`<db>.secret`) unless WEIR_SECRET_FILE names another file.
    #[arg(long, env = "WEIR_DB", global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create the store and print a one-time operator (admin) key.
    Init,
    /// Create and list projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Create, list and delete endpoints.
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Create, list, revoke and rotate API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// A project's token usage.
    Usage(UsageArgs),
}

#[derive(Args)]
struct LimitArgs {
    /// Requests per minute (unlimited if left out).
    #[arg(long)]
    rpm: Option<u64>,
    /// Tokens per minute, prompt + completion (unlimited if left out).
    #[arg(long)]
    tpm: Option<u64>,
}

impl LimitArgs {
    fn limits(&self) -> RateLimits {
        RateLimits {
            rpm: self.rpm,
            tpm: self.tpm,
        }
    }
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project; prints its id.
    Create {
        /// Its unique name: a-z 0-9 - _ . (up to 63).
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
        /// Share prefix-cache hits with the projects of this group.
        #[arg(long, value_name = "G")]
        cache_group: Option<String>,
    },
    /// List projects.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum EndpointCommand {
    /// Create an endpoint; prints its base path (`/proj_X/slug/v1`).
    Create {
        /// The project (id or name).
        #[arg(long)]
        project: String,
        /// The path segment: a-z 0-9 - (up to 63).
        #[arg(long)]
        slug: String,
        /// The served model it routes to.
        #[arg(long)]
        model: String,
        #[command(flatten)]
        limits: LimitArgs,
        /// Fair-share weight inside the engine.
        #[arg(long, default_value_t = 1)]
        weight: u32,
        /// Another model name clients may send (repeatable).
        #[arg(long = "alias", value_name = "A")]
        aliases: Vec<String>,
        /// Answer any other `model` with 404 model_not_found.
        #[arg(long)]
        strict_model_name: bool,
    },
    /// List endpoints.
    List {
        /// Only this project's (id or name).
        #[arg(long)]
        project: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete an endpoint.
    Delete {
        /// The project (id or name).
        #[arg(long)]
        project: String,
        /// The endpoint's slug.
        #[arg(long)]
        slug: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    Inference,
    Admin,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a key; prints it once.
    Create {
        /// The project (id or name); omit with --admin.
        #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
        project: Option<String>,
        /// Make an operator key (admin scope, every project).
        #[arg(long)]
        admin: bool,
        /// What the key may do (repeatable; default inference).
        #[arg(long = "scope", value_enum)]
        scopes: Vec<ScopeArg>,
        /// A label shown in lists.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime: 90d, 24h, 30m, 45s (never expires if left out).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List keys: prefix, name, scopes, dates, status.
    List {
        /// Only this project's (id or name).
        #[arg(long)]
        project: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key now.
    Revoke {
        /// The key's prefix or id.
        prefix_or_id: String,
    },
    /// Replace a key: the new one is printed once; the old one keeps
    /// working until the grace period ends.
    Rotate {
        /// The key's prefix or id.
        prefix_or_id: String,
        /// How long the old key keeps working.
        #[arg(long, value_name = "DURATION", default_value = "24h")]
        grace: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ByArg {
    Key,
    Endpoint,
    Model,
}

#[derive(Args)]
struct UsageArgs {
    /// The project (id or name).
    #[arg(long)]
    project: String,
    /// How far back: 90d, 24h, 30m, 45s.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    since: String,
    /// One row per key prefix, endpoint or model (default: totals).
    #[arg(long, value_enum)]
    by: Option<ByArg>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Run `weir admin`.
pub fn run(args: AdminArgs) -> Result<(), String> {
    let db = args.db.unwrap_or_else(default_db_path);
    let open = || Admin::open(&db).map_err(|e| e.to_string());
    match args.command {
        AdminCommand::Init => {
            let existed = db.exists();
            let key = admin::init(&db).map_err(|e| e.to_string())?;
            let what = if existed { "initialised" } else { "created" };
            eprintln!("{what} the tenancy store at {}", db.display());
            print_key(&key, "operator key");
            Ok(())
        }
        AdminCommand::Project(cmd) => project(&open()?, cmd),
        AdminCommand::Endpoint(cmd) => endpoint(&open()?, cmd),
        AdminCommand::Key(cmd) => key(&open()?, cmd),
        AdminCommand::Usage(a) => usage(&open()?, a),
    }
}

fn project(admin: &Admin, cmd: ProjectCommand) -> Result<(), String> {
    match cmd {
        ProjectCommand::Create {
            name,
            limits,
            cache_group,
        } => {
            let p = admin
                .create_project(&ProjectSpec {
                    name,
                    limits: limits.limits(),
                    cache_group,
                })
                .map_err(|e| e.to_string())?;
            println!("{}", p.id);
        }
        ProjectCommand::List { json } => {
            let projects = admin.projects().map_err(|e| e.to_string())?;
            match json {
                true => print_json(&projects)?,
                false => print_projects(&projects),
            }
        }
    }
    Ok(())
}

fn endpoint(admin: &Admin, cmd: EndpointCommand) -> Result<(), String> {
    match cmd {
        EndpointCommand::Create {
            project,
            slug,
            model,
            limits,
            weight,
            aliases,
            strict_model_name,
        } => {
            let ep = admin
                .create_endpoint(&EndpointSpec {
                    project,
                    slug,
                    model,
                    aliases,
                    limits: limits.limits(),
                    weight,
                    strict_model_name,
                })
                .map_err(|e| e.to_string())?;
            println!("/{}/{}/v1", ep.project, ep.slug);
        }
        EndpointCommand::List { project, json } => {
            let eps = admin
                .endpoints(project.as_deref())
                .map_err(|e| e.to_string())?;
            match json {
                true => print_json(&eps)?,
                false => print_endpoints(&eps),
            }
        }
        EndpointCommand::Delete { project, slug } => {
            let ep = admin
                .delete_endpoint(&project, &slug)
                .map_err(|e| e.to_string())?;
            println!("deleted /{}/{}/v1", ep.project, ep.slug);
        }
    }
    Ok(())
}

fn key(admin: &Admin, cmd: KeyCommand) -> Result<(), String> {
    match cmd {
        KeyCommand::Create {
            project,
            admin: operator,
            scopes,
            name,
            expires,
            limits,
        } => {
            let expires_in = expires
                .as_deref()
                .map(admin::parse_duration)
                .transpose()
                .map_err(|e| format!("--expires: {e}"))?;
            let mut scopes: Vec<Scope> = scopes
                .into_iter()
                .map(|s| match s {
                    ScopeArg::Inference => Scope::Inference,
                    ScopeArg::Admin => Scope::Admin,
                })
                .collect();
            if operator && scopes.is_empty() {
                scopes.push(Scope::Admin);
            }
            let key = admin
                .create_key(&KeySpec {
                    project,
                    scopes,
                    name,
                    expires_in,
                    limits: limits.limits(),
                })
                .map_err(|e| e.to_string())?;
            let what = match operator {
                true => "operator key",
                false => "key",
            };
            print_key(&key, what);
        }
        KeyCommand::List { project, json } => {
            let keys = admin.keys(project.as_deref()).map_err(|e| e.to_string())?;
            match json {
                true => print_json(&keys)?,
                false => print_keys(&keys),
            }
        }
        KeyCommand::Revoke { prefix_or_id } => {
            let k = admin.revoke_key(&prefix_or_id).map_err(|e| e.to_string())?;
            println!("revoked {} ({})", k.prefix, k.id);
        }
        KeyCommand::Rotate {
            prefix_or_id,
            grace,
        } => {
            let grace = match grace.as_str() {
                "" => DEFAULT_GRACE,
                g => admin::parse_duration(g).map_err(|e| format!("--grace: {e}"))?,
            };
            let r = admin
                .rotate_key(&prefix_or_id, grace)
                .map_err(|e| e.to_string())?;
            eprintln!(
                "the old key {} keeps working until {}",
                r.old.prefix,
                time(r.old.revoked_at)
            );
            print_key(&r.new, "new key");
        }
    }
    Ok(())
}

fn usage(admin: &Admin, a: UsageArgs) -> Result<(), String> {
    let since = admin::parse_duration(&a.since).map_err(|e| format!("--since: {e}"))?;
    let by = match a.by {
        None => UsageGroupBy::Total,
        Some(ByArg::Key) => UsageGroupBy::Key,
        Some(ByArg::Endpoint) => UsageGroupBy::Endpoint,
        Some(ByArg::Model) => UsageGroupBy::Model,
    };
    let rows = admin
        .usage(&a.project, since, by)
        .map_err(|e| e.to_string())?;
    if a.json {
        #[derive(Serialize)]
        struct Out<'a> {
            project: &'a str,
            since: &'a str,
            by: UsageGroupBy,
            rows: &'a [UsageTotals],
        }
        return print_json(&Out {
            project: &a.project,
            since: &a.since,
            by,
            rows: &rows,
        });
    }
    let head = match by {
        UsageGroupBy::Total => "TOTAL",
        UsageGroupBy::Key => "KEY",
        UsageGroupBy::Endpoint => "ENDPOINT",
        UsageGroupBy::Model => "MODEL",
    };
    let mut table = vec![vec![
        head.to_string(),
        "REQUESTS".into(),
        "UNFINISHED".into(),
        "PROMPT".into(),
        "CACHED".into(),
        "COMPLETION".into(),
        "REASONING".into(),
        "TOTAL_TOKENS".into(),
    ]];
    for r in &rows {
        table.push(vec![
            r.group.clone().unwrap_or_else(|| "-".into()),
            r.requests.to_string(),
            r.unfinished.to_string(),
            r.prompt_tokens.to_string(),
            r.cached_tokens.to_string(),
            r.completion_tokens.to_string(),
            r.reasoning_tokens.to_string(),
            r.total_tokens.to_string(),
        ]);
    }
    print_table(&table);
    Ok(())
}

/// The key alone on stdout; the rest on stderr.
fn print_key(key: &NewKey, what: &str) {
    println!("{}", key.key);
    eprintln!(
        "{what} {} ({}) created; it is shown only now and cannot be shown again",
        key.record.prefix, key.record.id
    );
}

fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

fn print_projects(projects: &[Project]) {
    let mut table = vec![["ID", "NAME", "RPM", "TPM", "CACHE_GROUP", "CREATED"]
        .map(String::from)
        .to_vec()];
    for p in projects {
        table.push(vec![
            p.id.to_string(),
            p.name.clone(),
            limit(p.limits.rpm),
            limit(p.limits.tpm),
            p.cache_group.clone().unwrap_or_else(|| "-".into()),
            time(Some(p.created_at)),
        ]);
    }
    print_table(&table);
}

fn print_endpoints(eps: &[Endpoint]) {
    let mut table = vec![[
        "PROJECT", "SLUG", "MODEL", "ALIASES", "RPM", "TPM", "WEIGHT", "STRICT", "CREATED",
    ]
    .map(String::from)
    .to_vec()];
    for e in eps {
        table.push(vec![
            e.project.to_string(),
            e.slug.clone(),
            e.model.clone(),
            match e.aliases.is_empty() {
                true => "-".into(),
                false => e.aliases.join(","),
            },
            limit(e.limits.rpm),
            limit(e.limits.tpm),
            e.weight.to_string(),
            e.strict_model_name.to_string(),
            time(Some(e.created_at)),
        ]);
    }
    print_table(&table);
}

fn print_keys(keys: &[KeyView]) {
    let mut table = vec![[
        "PREFIX", "ID", "PROJECT", "NAME", "SCOPES", "CREATED", "EXPIRES", "STATUS",
    ]
    .map(String::from)
    .to_vec()];
    for v in keys {
        let k = &v.key;
        table.push(vec![
            k.prefix.clone(),
            k.id.clone(),
            k.project
                .as_ref()
                .map_or_else(|| "(operator)".into(), |p| p.to_string()),
            k.name.clone().unwrap_or_else(|| "-".into()),
            k.scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
            time(Some(k.created_at)),
            time(k.expires_at),
            v.status.as_str().into(),
        ]);
    }
    print_table(&table);
}

fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// Unix seconds as `2026-12-07T01:02:03Z`; `-` for none.
fn time(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or_else(
            || "-".into(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
}

/// Left-aligned columns, two spaces apart.
fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}
