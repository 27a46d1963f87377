-- The tenancy records: projects, their endpoints and keys, usage, and the
-- version counter the server polls to pick up changes.
-- Kept to statements PostgreSQL also accepts where easy; the triggers that
-- bump the version are SQLite's (PostgreSQL gets its own).

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    rpm         BIGINT,
    tpm         BIGINT,
    cache_group TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE endpoints (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects(id),
    slug              TEXT NOT NULL,
    model             TEXT NOT NULL,
    aliases           TEXT NOT NULL,
    rpm               BIGINT,
    tpm               BIGINT,
    weight            BIGINT NOT NULL,
    strict_model_name BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    UNIQUE (project_id, slug)
);

CREATE TABLE keys (
    id         TEXT PRIMARY KEY,
    project_id TEXT REFERENCES projects(id),
    prefix     TEXT NOT NULL,
    name       TEXT,
    scopes     TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    rpm        BIGINT,
    tpm        BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

CREATE INDEX keys_prefix ON keys (prefix);

CREATE TABLE usage (
    request_id        TEXT PRIMARY KEY,
    project_id        TEXT,
    endpoint          TEXT,
    key_prefix        TEXT,
    model             TEXT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    cached_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    reasoning_tokens  BIGINT NOT NULL,
    ttft_ms           DOUBLE PRECISION,
    latency_ms        DOUBLE PRECISION NOT NULL,
    status            TEXT NOT NULL,
    created_at_ms     BIGINT NOT NULL
);

CREATE INDEX usage_project_time ON usage (project_id, created_at_ms);
CREATE INDEX usage_status ON usage (status);

CREATE TABLE tenancy_version (
    id      BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);

INSERT INTO tenancy_version (id, version) VALUES (1, 0);

CREATE TRIGGER projects_ins AFTER INSERT ON projects BEGIN UPDATE tenancy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER projects_upd AFTER UPDATE ON projects BEGIN UPDATE tenancy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER projects_del AFTER DELETE ON projects BEGIN UPDATE tenancy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER endpoints_ins AFTER INSERT ON endpoints BEGIN UPDATE tenancy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER endpoints_upd AFTER UPDATE ON endpoints BEGIN UPDATE tenancy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER endpoints_del AFTER DELETE ON endpoints BEGIN UPDATE tenancy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER keys_ins AFTER INSERT ON keys BEGIN UPDATE tenancy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER keys_upd AFTER UPDATE ON keys BEGIN UPDATE tenancy_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER keys_del AFTER DELETE ON keys BEGIN UPDATE tenancy_version SET version = version + 1 WHERE id = 1; END;
