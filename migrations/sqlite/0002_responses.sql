-- Stored responses of the Responses API, per project (issue 21).
-- `project_id` is '' for the single-tenant server (no project). A
-- continuation reads its chain through `previous_response_id`; the
-- JSON columns hold the turn's own input items and the whole response
-- object as the API returned them.
CREATE TABLE responses (
    id                    TEXT PRIMARY KEY,
    project_id            TEXT NOT NULL,
    previous_response_id  TEXT,
    input_items           TEXT NOT NULL,
    response              TEXT NOT NULL,
    created_at_ms         BIGINT NOT NULL
);
CREATE INDEX responses_project_time ON responses (project_id, created_at_ms);
