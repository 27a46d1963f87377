"""The OpenAPI contract (`GET /openapi.json`), checked by schemathesis
against a live `weir serve --backend sim`: generated requests for every
operation (valid ones and broken ones), and every answer must be no server
error, a status the document lists, of a content type it lists, and a body
its schema accepts. A fixed seed and a bounded number of examples keep the
run reproducible and within a few minutes on two cores.

The server gets a tenancy store path of its own in a temp dir (no file
there, so no keys and auth off): the run never reads a developer's store,
and the endpoint routes `/{project}/{slug}/v1/...` answer every generated
project and slug with their documented 404."""

import os
import re
import subprocess
import sys
import tempfile
import uuid

import httpx
import pytest

from conftest import Weir

MODEL = "weir-demo"
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
])
SEED = 19
MAX_EXAMPLES = int(os.environ.get("WEIR_OPENAPI_EXAMPLES", "100"))
V1_PATHS = ["/v1/chat/completions", "/v1/completions", "/v1/responses",
            "/v1/responses/{response_id}", "/v1/responses/{response_id}/input_items",
            "/v1/responses/{response_id}/cancel", "/v1/models", "/v1/models/{model}"]
# Routes whose path names a thing no generated value can name (a project, an
# endpoint, a stored response): every generated case is a documented 404.
UNREACHABLE_PATHS = ["/v1/responses/{response_id}", "/v1/responses/{response_id}/input_items",
                     "/v1/responses/{response_id}/cancel"]
ENDPOINT_PATHS = ["/{project}/{slug}" + p for p in V1_PATHS]
RATE_LIMIT_HEADERS = [f"x-ratelimit-{what}-{kind}" for what in ("limit", "remaining", "reset")
                      for kind in ("requests", "tokens")]


@pytest.fixture(scope="module")
def weir():
    # Fast modelled speed and a small context, so any `max_tokens` and `n`
    # the generator picks finish in well under a second.
    db = os.path.join(tempfile.mkdtemp(prefix="weir-openapi-db-"), "tenancy.db")
    server = Weir("--db", db, "--backend", "sim", "--sim-mode", "echo", "--sim-decode-step-us", "20",
                  "--sim-decode-us-per-seq", "1", "--sim-prefill-us-per-token", "1",
                  "--max-model-len", "128", "--num-kv-blocks", "4096")
    yield server
    server.stop()


def test_the_document_is_served_and_names_the_served_model(weir):
    r = httpx.get(weir.base + "/openapi.json", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"] == "3.1.0"
    model = doc["components"]["schemas"]["GenerationParams"]["properties"]["model"]
    assert model["enum"] == [MODEL]
    for path in V1_PATHS + ENDPOINT_PATHS + ["/health", "/tokenize", "/detokenize", "/metrics",
                                             "/openapi.json"]:
        assert path in doc["paths"], path
    bearer = doc["components"]["securitySchemes"]["bearer"]
    assert bearer["type"] == "http" and bearer["scheme"] == "bearer"


def test_the_endpoint_routes_document_their_statuses(weir):
    doc = httpx.get(weir.base + "/openapi.json", timeout=10).json()
    for path in ENDPOINT_PATHS:
        for op in doc["paths"][path].values():
            params = {p["name"]: p for p in op["parameters"]}
            for name in ("project", "slug"):
                assert params[name]["in"] == "path" and params[name]["required"], (path, name)
                assert params[name]["description"], (path, name)
            # Auth is optional (off until the store holds a key), bearer when on.
            assert {"bearer": []} in op["security"] and {} in op["security"], path
            assert {"200", "401", "404"} <= set(op["responses"]), path
    for path in ["/{project}/{slug}/v1/chat/completions", "/{project}/{slug}/v1/completions",
                 "/v1/chat/completions", "/v1/completions"]:
        responses = doc["paths"][path]["post"]["responses"]
        assert {"400", "401", "404", "413", "429", "500", "503"} <= set(responses), path
        for header in RATE_LIMIT_HEADERS:
            assert header in responses["200"]["headers"], (path, header)
            assert header in responses["429"]["headers"], (path, header)
        for header in ("retry-after", "retry-after-ms"):
            assert header in responses["429"]["headers"], (path, header)
            assert header in responses["503"]["headers"], (path, header)


def test_unknown_projects_and_endpoints_get_the_documented_404(weir):
    doc = httpx.get(weir.base + "/openapi.json", timeout=10).json()
    with httpx.Client(base_url=weir.base, timeout=30) as c:
        for path in ENDPOINT_PATHS:
            for method, op in doc["paths"][path].items():
                # (project, slug, the code expected): a well-formed unknown id, an
                # encoded traversal and a NUL inside a segment reach the route and
                # get `not_found`; a `..` segment is resolved away by the client and
                # reaches no route (404 with OpenAI's "Invalid URL", code null).
                for project, slug, code in [(f"proj_{uuid.uuid4().hex[:10]}", "my-endpoint", "not_found"),
                                            ("proj_x", "a%2F..%2Fb", "not_found"),
                                            ("%00", "-", "not_found"),
                                            ("..", "v1", None)]:
                    url = (path.replace("{project}", project).replace("{slug}", slug)
                           .replace("{model}", MODEL).replace("{response_id}", "resp_x"))
                    body = {"model": MODEL, "prompt": "hi",
                            "messages": [{"role": "user", "content": "hi"}]}
                    r = c.request(method.upper(), url, json=body if method == "post" else None)
                    assert r.status_code == 404 and "404" in op["responses"], (url, r.status_code, r.text)
                    assert r.headers["content-type"].startswith("application/json")
                    error = r.json()["error"]
                    assert set(error) == {"message", "type", "param", "code"}, r.text
                    assert error["code"] == code, (url, r.text)


def test_every_documented_operation_is_routed(weir):
    doc = httpx.get(weir.base + "/openapi.json", timeout=10).json()
    with httpx.Client(base_url=weir.base, timeout=30) as c:
        for path, item in doc["paths"].items():
            for method in item:
                url = (path.replace("{model}", MODEL).replace("{project}", "proj_unknown")
                       .replace("{slug}", "unknown"))
                r = c.request(method.upper(), url, json={} if method == "post" else None)
                body = r.text if r.headers.get("content-type", "").startswith("application/json") else ""
                assert "Invalid URL" not in body, (method, path, r.status_code, body)
                assert r.status_code != 405, (method, path)


def test_schemathesis_finds_no_server_error_and_no_violation(weir, tmp_path):
    st = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    cmd = [st, "run", weir.base + "/openapi.json",
           "--checks", CHECKS,
           "--max-examples", str(MAX_EXAMPLES),
           "--seed", str(SEED),
           "--workers", "1",
           "--request-timeout", "30",
           "--generation-database", "none",
           "--no-color",
           "--report", "junit", "--report-dir", str(tmp_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    out = run.stdout + run.stderr
    # Shown with -s, and on failure: what ran and what it found.
    print(out[-3000:])
    assert run.returncode == 0, out[-20000:] + "\n--- server log ---\n" + weir.log()[-5000:]
    # Every generated case passed. The one warning allowed is "missing test
    # data" on the endpoint routes and stored-response routes: no project
    # or response exists, so every generated one gets the documented 404.
    counts = re.search(r"(\d+) generated, (\d+) passed", out)
    assert counts and counts.group(1) == counts.group(2), out[-5000:]
    assert "No issues found" in out or "Missing test data" in out, out[-5000:]
    for line in re.findall(r"^\s+- (?:GET|POST|DELETE) (\S+)$", out, re.M):
        assert line in ENDPOINT_PATHS + UNREACHABLE_PATHS, out[-5000:]
    assert int(counts.group(1)) >= 8 * MAX_EXAMPLES, out[-3000:]
    # The server is still healthy afterwards.
    assert httpx.get(weir.base + "/health", timeout=10).status_code == 200
