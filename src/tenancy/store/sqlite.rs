//! The SQLite backend of [`super::Store`]: one connection behind a mutex
//! (writes are few, except usage, which the usage writer batches), WAL
//! mode, migrations embedded from `migrations/sqlite/`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};

use super::{one_line, StoreError, StoredResponse, UsageGroupBy, UsageTotals};
use crate::tenancy::model::{
    Endpoint, KeyRecord, Project, ProjectId, RateLimits, Scope, Snapshot, UsageRecord, UsageStatus,
};

/// The migrations, in the order they apply; the number is what
/// `schema_migrations` records.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_tenancy",
        include_str!("../../../migrations/sqlite/0001_tenancy.sql"),
    ),
    (
        2,
        "0002_responses",
        include_str!("../../../migrations/sqlite/0002_responses.sql"),
    ),
];

/// How long a write waits for another process's transaction (the CLI and
/// a running server share the file).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const PROJECT_COLS: &str = "id, name, rpm, tpm, cache_group, created_at";
const ENDPOINT_COLS: &str =
    "id, project_id, slug, model, aliases, rpm, tpm, weight, strict_model_name, created_at";
const KEY_COLS: &str =
    "id, project_id, prefix, name, scopes, hash, rpm, tpm, created_at, expires_at, revoked_at";
const USAGE_COLS: &str = "request_id, project_id, endpoint, key_prefix, model, prompt_tokens, \
     cached_tokens, completion_tokens, reasoning_tokens, ttft_ms, latency_ms, status, created_at_ms";

/// The SQLite store.
pub(super) struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Open or create the file, set the connection up and migrate.
    pub(super) fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let fail = |message: String| StoreError::Database {
            path: path.display().to_string(),
            message,
        };
        check_file(path).map_err(fail)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                fail(format!(
                    "cannot create the directory {}: {}",
                    dir.display(),
                    one_line(&e.to_string())
                ))
            })?;
        }
        let conn = Connection::open(path).map_err(|e| fail(sqlite_message(&e)))?;
        configure(&conn).map_err(|e| fail(sqlite_message(&e)))?;
        let store = SqliteStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        };
        store.migrate()?;
        Ok(store)
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held cannot leave a transaction open
        // (rusqlite rolls it back on drop), so the connection is usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A database error, naming the file.
    fn db_err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Database {
            path: self.path.display().to_string(),
            message: sqlite_message(&e),
        }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (\
               version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .map_err(|e| self.db_err(e))?;
        // IMMEDIATE: two processes opening a new file at once migrate one
        // after the other.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.db_err(e))?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.db_err(e))?;
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > newest {
            return Err(StoreError::Database {
                path: self.path.display().to_string(),
                message: format!(
                    "its schema version {current} is newer than this weir knows ({newest}); \
                     use a newer weir"
                ),
            });
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.execute_batch(sql).map_err(|e| self.db_err(e))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, chrono::Utc::now().timestamp()],
            )
            .map_err(|e| self.db_err(e))?;
        }
        tx.commit().map_err(|e| self.db_err(e))
    }

    pub(super) fn version(&self) -> Result<u64, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT version FROM tenancy_version WHERE id = 1")
            .map_err(|e| self.db_err(e))?;
        stmt.query_row([], |r| r.get(0)).map_err(|e| self.db_err(e))
    }

    pub(super) fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.db_err(e))?;
        let projects = query_all(
            &tx,
            &format!("SELECT {PROJECT_COLS} FROM projects ORDER BY created_at, id"),
            [],
            project_row,
        )
        .map_err(|e| self.db_err(e))?;
        let endpoints = query_all(
            &tx,
            &format!("SELECT {ENDPOINT_COLS} FROM endpoints ORDER BY project_id, slug"),
            [],
            endpoint_row,
        )
        .map_err(|e| self.db_err(e))?;
        let keys = query_all(
            &tx,
            &format!("SELECT {KEY_COLS} FROM keys ORDER BY created_at, id"),
            [],
            key_row,
        )
        .map_err(|e| self.db_err(e))?;
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(Snapshot {
            projects,
            endpoints,
            keys,
        })
    }

    pub(super) fn write_usage(&self, records: &[UsageRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.db_err(e))?;
        {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO usage ({USAGE_COLS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                     ON CONFLICT (request_id) DO UPDATE SET \
                       project_id = excluded.project_id, endpoint = excluded.endpoint, \
                       key_prefix = excluded.key_prefix, model = excluded.model, \
                       prompt_tokens = excluded.prompt_tokens, \
                       cached_tokens = excluded.cached_tokens, \
                       completion_tokens = excluded.completion_tokens, \
                       reasoning_tokens = excluded.reasoning_tokens, \
                       ttft_ms = excluded.ttft_ms, latency_ms = excluded.latency_ms, \
                       status = excluded.status, created_at_ms = excluded.created_at_ms \
                     WHERE usage.status = 'pending' OR excluded.status <> 'pending'"
                ))
                .map_err(|e| self.db_err(e))?;
            for r in records {
                stmt.execute(params![
                    r.request_id,
                    r.project.as_ref().map(|p| p.0.as_str()),
                    r.endpoint,
                    r.key_prefix,
                    r.model,
                    r.prompt_tokens,
                    r.cached_tokens,
                    r.completion_tokens,
                    r.reasoning_tokens,
                    r.ttft_ms,
                    r.latency_ms,
                    r.status.as_str(),
                    r.created_at_ms,
                ])
                .map_err(|e| self.db_err(e))?;
            }
        }
        tx.commit().map_err(|e| self.db_err(e))
    }

    pub(super) fn interrupt_pending(&self) -> Result<usize, StoreError> {
        self.conn()
            .execute(
                "UPDATE usage SET status = 'interrupted' WHERE status = 'pending'",
                [],
            )
            .map_err(|e| self.db_err(e))
    }

    pub(super) fn insert_project(&self, p: &Project) -> Result<(), StoreError> {
        self.conn()
            .execute(
                &format!("INSERT INTO projects ({PROJECT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    p.id.0,
                    p.name,
                    p.limits.rpm,
                    p.limits.tpm,
                    p.cache_group,
                    p.created_at
                ],
            )
            .map(drop)
            .map_err(|e| match constraint(&e) {
                true => StoreError::Conflict(format!("a project named {} already exists", p.name)),
                false => self.db_err(e),
            })
    }

    pub(super) fn projects(&self) -> Result<Vec<Project>, StoreError> {
        query_all(
            &self.conn(),
            &format!("SELECT {PROJECT_COLS} FROM projects ORDER BY created_at, id"),
            [],
            project_row,
        )
        .map_err(|e| self.db_err(e))
    }

    pub(super) fn project(&self, id: &ProjectId) -> Result<Option<Project>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {PROJECT_COLS} FROM projects WHERE id = ?1"),
                [&id.0],
                project_row,
            )
            .optional()
            .map_err(|e| self.db_err(e))
    }

    pub(super) fn project_by_name(&self, name: &str) -> Result<Option<Project>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {PROJECT_COLS} FROM projects WHERE name = ?1"),
                [name],
                project_row,
            )
            .optional()
            .map_err(|e| self.db_err(e))
    }

    pub(super) fn insert_endpoint(&self, ep: &Endpoint) -> Result<(), StoreError> {
        let aliases = serde_json::to_string(&ep.aliases)
            .map_err(|e| StoreError::Invalid(format!("aliases: {e}")))?;
        self.conn()
            .execute(
                &format!(
                    "INSERT INTO endpoints ({ENDPOINT_COLS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    ep.id,
                    ep.project.0,
                    ep.slug,
                    ep.model,
                    aliases,
                    ep.limits.rpm,
                    ep.limits.tpm,
                    ep.weight,
                    ep.strict_model_name,
                    ep.created_at
                ],
            )
            .map(drop)
            .map_err(|e| match foreign_key(&e) {
                true => StoreError::NotFound(format!("no project {}", ep.project)),
                false if constraint(&e) => StoreError::Conflict(format!(
                    "project {} already has an endpoint {}",
                    ep.project, ep.slug
                )),
                false => self.db_err(e),
            })
    }

    pub(super) fn endpoints(
        &self,
        project: Option<&ProjectId>,
    ) -> Result<Vec<Endpoint>, StoreError> {
        let conn = self.conn();
        match project {
            Some(p) => query_all(
                &conn,
                &format!(
                    "SELECT {ENDPOINT_COLS} FROM endpoints WHERE project_id = ?1 ORDER BY slug"
                ),
                [&p.0],
                endpoint_row,
            ),
            None => query_all(
                &conn,
                &format!("SELECT {ENDPOINT_COLS} FROM endpoints ORDER BY project_id, slug"),
                [],
                endpoint_row,
            ),
        }
        .map_err(|e| self.db_err(e))
    }

    pub(super) fn delete_endpoint(
        &self,
        project: &ProjectId,
        slug: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.db_err(e))?;
        let found = tx
            .query_row(
                &format!(
                    "SELECT {ENDPOINT_COLS} FROM endpoints WHERE project_id = ?1 AND slug = ?2"
                ),
                params![project.0, slug],
                endpoint_row,
            )
            .optional()
            .map_err(|e| self.db_err(e))?;
        if let Some(ep) = &found {
            tx.execute("DELETE FROM endpoints WHERE id = ?1", [&ep.id])
                .map_err(|e| self.db_err(e))?;
        }
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(found)
    }

    pub(super) fn insert_response(&self, r: &StoredResponse) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO responses (id, project_id, previous_response_id, input_items, \
                 response, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    r.id,
                    r.project,
                    r.previous_response_id,
                    r.input_items,
                    r.response,
                    r.created_at_ms
                ])
            })
            .map(|_| ())
            .map_err(|e| self.db_err(e))
    }

    pub(super) fn response(
        &self,
        project: &str,
        id: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        self.conn()
            .prepare_cached(
                "SELECT id, project_id, previous_response_id, input_items, response, \
                 created_at_ms FROM responses WHERE project_id = ?1 AND id = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![project, id], |row| {
                    Ok(StoredResponse {
                        id: row.get(0)?,
                        project: row.get(1)?,
                        previous_response_id: row.get(2)?,
                        input_items: row.get(3)?,
                        response: row.get(4)?,
                        created_at_ms: row.get(5)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.db_err(e))
    }

    pub(super) fn delete_response(&self, project: &str, id: &str) -> Result<bool, StoreError> {
        self.conn()
            .execute(
                "DELETE FROM responses WHERE project_id = ?1 AND id = ?2",
                params![project, id],
            )
            .map(|n| n > 0)
            .map_err(|e| self.db_err(e))
    }

    pub(super) fn sweep_responses(
        &self,
        cutoff_ms: i64,
        max_per_project: usize,
    ) -> Result<usize, StoreError> {
        let keep = i64::try_from(max_per_project).unwrap_or(i64::MAX);
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.db_err(e))?;
        let old = tx
            .execute(
                "DELETE FROM responses WHERE created_at_ms < ?1",
                params![cutoff_ms],
            )
            .map_err(|e| self.db_err(e))?;
        let over = tx
            .execute(
                "DELETE FROM responses WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() \
                 OVER (PARTITION BY project_id ORDER BY created_at_ms DESC, id DESC) AS n \
                 FROM responses) AS ranked WHERE n > ?1)",
                params![keep],
            )
            .map_err(|e| self.db_err(e))?;
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(old + over)
    }

    pub(super) fn response_totals(&self) -> Result<(u64, u64), StoreError> {
        self.conn()
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(input_items) + LENGTH(response)), 0) \
                 FROM responses",
                [],
                |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
            )
            .map(|(n, bytes)| (n.max(0) as u64, bytes.max(0) as u64))
            .map_err(|e| self.db_err(e))
    }

    pub(super) fn insert_key(&self, k: &KeyRecord) -> Result<(), StoreError> {
        let conn = self.conn();
        insert_key(&conn, k).map_err(|e| self.key_insert_err(k, e))
    }

    fn key_insert_err(&self, k: &KeyRecord, e: rusqlite::Error) -> StoreError {
        if foreign_key(&e) {
            let project = k.project.as_ref().map_or("", |p| p.0.as_str());
            StoreError::NotFound(format!("no project {project}"))
        } else if constraint(&e) {
            StoreError::Conflict(format!("key {} collides with an existing key", k.prefix))
        } else {
            self.db_err(e)
        }
    }

    pub(super) fn keys(&self, project: Option<&ProjectId>) -> Result<Vec<KeyRecord>, StoreError> {
        let conn = self.conn();
        match project {
            Some(p) => query_all(
                &conn,
                &format!(
                    "SELECT {KEY_COLS} FROM keys WHERE project_id = ?1 ORDER BY created_at, id"
                ),
                [&p.0],
                key_row,
            ),
            None => query_all(
                &conn,
                &format!("SELECT {KEY_COLS} FROM keys ORDER BY created_at, id"),
                [],
                key_row,
            ),
        }
        .map_err(|e| self.db_err(e))
    }

    pub(super) fn key_count(&self) -> Result<u64, StoreError> {
        self.conn()
            .query_row("SELECT COUNT(*) FROM keys", [], |r| r.get(0))
            .map_err(|e| self.db_err(e))
    }

    pub(super) fn find_keys(&self, id_or_prefix: &str) -> Result<Vec<KeyRecord>, StoreError> {
        query_all(
            &self.conn(),
            &format!("SELECT {KEY_COLS} FROM keys WHERE id = ?1 OR prefix = ?1 ORDER BY id"),
            [id_or_prefix],
            key_row,
        )
        .map_err(|e| self.db_err(e))
    }

    pub(super) fn key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<KeyRecord>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {KEY_COLS} FROM keys WHERE hash = ?1"),
                [hash],
                key_row,
            )
            .optional()
            .map_err(|e| self.db_err(e))
    }

    pub(super) fn set_key_revoked(&self, id: &str, revoked_at: i64) -> Result<bool, StoreError> {
        self.conn()
            .execute(
                "UPDATE keys SET revoked_at = ?2 WHERE id = ?1",
                params![id, revoked_at],
            )
            .map(|n| n > 0)
            .map_err(|e| self.db_err(e))
    }

    pub(super) fn rotate_key(
        &self,
        old_id: &str,
        old_revoked_at: i64,
        new_key: &KeyRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.db_err(e))?;
        let n = tx
            .execute(
                "UPDATE keys SET revoked_at = ?2 WHERE id = ?1",
                params![old_id, old_revoked_at],
            )
            .map_err(|e| self.db_err(e))?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no key {old_id}")));
        }
        insert_key(&tx, new_key).map_err(|e| self.key_insert_err(new_key, e))?;
        tx.commit().map_err(|e| self.db_err(e))
    }

    pub(super) fn usage_summary(
        &self,
        project: &ProjectId,
        since_ms: i64,
        by: UsageGroupBy,
    ) -> Result<Vec<UsageTotals>, StoreError> {
        let group = match by {
            UsageGroupBy::Total => "NULL",
            UsageGroupBy::Key => "key_prefix",
            UsageGroupBy::Endpoint => "endpoint",
            UsageGroupBy::Model => "model",
        };
        // `group` is one of four fixed column names, never caller text.
        let sql = format!(
            "SELECT {group}, COUNT(*), \
               COALESCE(SUM(CASE WHEN status = 'completed' THEN 0 ELSE 1 END), 0), \
               COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(cached_tokens), 0), \
               COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(reasoning_tokens), 0) \
             FROM usage WHERE project_id = ?1 AND created_at_ms >= ?2 \
             GROUP BY {group} ORDER BY {group}"
        );
        let rows = query_all(&self.conn(), &sql, params![project.0, since_ms], |r| {
            let prompt_tokens: u64 = r.get(3)?;
            let completion_tokens: u64 = r.get(5)?;
            Ok(UsageTotals {
                group: r.get(0)?,
                requests: r.get(1)?,
                unfinished: r.get(2)?,
                prompt_tokens,
                cached_tokens: r.get(4)?,
                completion_tokens,
                reasoning_tokens: r.get(6)?,
                total_tokens: prompt_tokens.saturating_add(completion_tokens),
            })
        })
        .map_err(|e| self.db_err(e))?;
        Ok(rows)
    }

    pub(super) fn usage_record(&self, request_id: &str) -> Result<Option<UsageRecord>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {USAGE_COLS} FROM usage WHERE request_id = ?1"),
                [request_id],
                usage_row,
            )
            .optional()
            .map_err(|e| self.db_err(e))
    }
}

/// Refuse, before SQLite touches it, a path that is a directory or a file
/// marked read-only (SQLite would silently open it read-only, or, run as
/// root, write it anyway). A file that is not a SQLite database is refused
/// by SQLite itself (`NotADatabase`, before it writes anything).
///
/// Only metadata is read: opening and closing the file here would drop the
/// POSIX locks every other connection of this process holds on it (locks
/// belong to the process, and any close releases them), and a `weir admin`
/// beside the server would then take itself for the last connection and
/// reset the WAL under the server's feet, which then never saw another
/// change.
fn check_file(path: &Path) -> Result<(), String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(one_line(&e.to_string())),
    };
    if meta.is_dir() {
        return Err("is a directory, not a database file".into());
    }
    if meta.permissions().readonly() {
        return Err("the file is read-only; weir needs to write it".into());
    }
    Ok(())
}

/// The connection settings every store connection runs with.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!(
                "cannot switch to WAL mode (journal mode is {mode})"
            )),
        ));
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    Ok(())
}

/// A SQLite error as one line, with the usual causes spelled out.
fn sqlite_message(e: &rusqlite::Error) -> String {
    let hint = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => " (the file is not a SQLite database, or it is corrupt)",
        Some(ErrorCode::DatabaseCorrupt) => " (the database is corrupt)",
        Some(ErrorCode::ReadOnly) => " (the file or its directory is read-only)",
        Some(ErrorCode::CannotOpen) => " (check that the path and its directory are writable)",
        Some(ErrorCode::DatabaseBusy) => " (another process holds a write lock)",
        _ => "",
    };
    one_line(&format!("{e}{hint}"))
}

fn constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

fn foreign_key(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

fn query_all<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, map)?;
    rows.collect()
}

fn insert_key(conn: &Connection, k: &KeyRecord) -> rusqlite::Result<()> {
    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
    conn.execute(
        &format!(
            "INSERT INTO keys ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            k.id,
            k.project.as_ref().map(|p| p.0.as_str()),
            k.prefix,
            k.name,
            scopes.join(","),
            k.hash,
            k.limits.rpm,
            k.limits.tpm,
            k.created_at,
            k.expires_at,
            k.revoked_at
        ],
    )
    .map(drop)
}

fn bad_column(index: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        Box::<dyn std::error::Error + Send + Sync>::from(what),
    )
}

fn project_row(r: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: ProjectId(r.get(0)?),
        name: r.get(1)?,
        limits: RateLimits {
            rpm: r.get(2)?,
            tpm: r.get(3)?,
        },
        cache_group: r.get(4)?,
        created_at: r.get(5)?,
    })
}

fn endpoint_row(r: &Row<'_>) -> rusqlite::Result<Endpoint> {
    let aliases: String = r.get(4)?;
    let aliases: Vec<String> = serde_json::from_str(&aliases)
        .map_err(|e| bad_column(4, format!("endpoint aliases: {e}")))?;
    Ok(Endpoint {
        id: r.get(0)?,
        project: ProjectId(r.get(1)?),
        slug: r.get(2)?,
        model: r.get(3)?,
        aliases,
        limits: RateLimits {
            rpm: r.get(5)?,
            tpm: r.get(6)?,
        },
        weight: r.get(7)?,
        strict_model_name: r.get(8)?,
        created_at: r.get(9)?,
    })
}

fn key_row(r: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    let scopes: String = r.get(4)?;
    let scopes = scopes
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| Scope::parse(s).ok_or_else(|| bad_column(4, format!("unknown key scope {s}"))))
        .collect::<rusqlite::Result<Vec<Scope>>>()?;
    Ok(KeyRecord {
        id: r.get(0)?,
        project: r.get::<_, Option<String>>(1)?.map(ProjectId),
        prefix: r.get(2)?,
        name: r.get(3)?,
        scopes,
        hash: r.get(5)?,
        limits: RateLimits {
            rpm: r.get(6)?,
            tpm: r.get(7)?,
        },
        created_at: r.get(8)?,
        expires_at: r.get(9)?,
        revoked_at: r.get(10)?,
    })
}

fn usage_row(r: &Row<'_>) -> rusqlite::Result<UsageRecord> {
    let status: String = r.get(11)?;
    let status = match status.as_str() {
        "pending" => UsageStatus::Pending,
        "completed" => UsageStatus::Completed,
        "cancelled" => UsageStatus::Cancelled,
        "failed" => UsageStatus::Failed,
        "interrupted" => UsageStatus::Interrupted,
        other => return Err(bad_column(11, format!("unknown usage status {other}"))),
    };
    Ok(UsageRecord {
        request_id: r.get(0)?,
        project: r.get::<_, Option<String>>(1)?.map(ProjectId),
        endpoint: r.get(2)?,
        key_prefix: r.get(3)?,
        model: r.get(4)?,
        prompt_tokens: r.get(5)?,
        cached_tokens: r.get(6)?,
        completion_tokens: r.get(7)?,
        reasoning_tokens: r.get(8)?,
        ttft_ms: r.get(9)?,
        latency_ms: r.get(10)?,
        status,
        created_at_ms: r.get(12)?,
    })
}
