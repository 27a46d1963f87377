"""The OpenAPI contract (`GET /openapi.json`), checked by schemathesis
against a live `weir serve --backend sim`: generated requests for every
operation (valid ones and broken ones), and every answer must be no server
error, a status the document lists, of a content type it lists, and a body
its schema accepts. A fixed seed and a bounded number of examples keep the
run reproducible and within a few minutes on two cores."""

import os
import re
import subprocess
import sys

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


@pytest.fixture(scope="module")
def weir():
    # Fast modelled speed and a small context, so any `max_tokens` and `n`
    # the generator picks finish in well under a second.
    server = Weir("--backend", "sim", "--sim-mode", "echo", "--sim-decode-step-us", "20",
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
    for path in ["/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/models/{model}",
                 "/health", "/tokenize", "/detokenize", "/metrics", "/openapi.json"]:
        assert path in doc["paths"], path


def test_every_documented_operation_is_routed(weir):
    doc = httpx.get(weir.base + "/openapi.json", timeout=10).json()
    with httpx.Client(base_url=weir.base, timeout=30) as c:
        for path, item in doc["paths"].items():
            for method in item:
                url = path.replace("{model}", MODEL)
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
    assert "No issues found" in out, out[-5000:]
    generated = re.search(r"(\d+) generated", out)
    assert generated and int(generated.group(1)) >= 8 * MAX_EXAMPLES, out[-3000:]
    # The server is still healthy afterwards.
    assert httpx.get(weir.base + "/health", timeout=10).status_code == 200
