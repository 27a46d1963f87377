"""Real clients against an endpoint route, configured as the hosted
provider's documentation shows (../shared/wire.md): the base URL
`http://HOST/{project_id}/{endpoint_slug}/v1`, the key in an
`Authorization: Bearer` header, and a `model` name that differs from the
deployed model's. The store is made with the real `weir admin` CLI.

- OpenCode completes a tool round trip (write a file) through the endpoint.
- The OpenAI Python SDK: the response names the real model; a stream's last
  content chunk carries usage; a 429 is retried by the SDK itself (it
  honours `retry-after-ms`) and succeeds without the caller noticing.
"""

import json
import os
import subprocess
import tempfile

import httpx
import openai
import pytest
from conftest import ROOT, Weir
from test_opencode import OPENCODE, project, write_script  # noqa: F401

BIN = os.environ.get("WEIR_BIN", os.path.join(ROOT, "target", "release", "weir"))
DEPLOYED = "weir-demo"


def admin(db, *args) -> str:
    out = subprocess.run([BIN, "admin", *args], env=dict(os.environ, WEIR_DB=db),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def key_of(out: str) -> str:
    return next(l.strip() for l in out.splitlines() if l.strip().startswith("weir_"))


def project_of(out: str) -> str:
    import re
    return re.search(r"proj_[A-Za-z0-9]+", out).group(0)


class Tenant:
    """A store with one project, its endpoints and a key; a server on it."""

    def __init__(self, *serve_args):
        self.dir = tempfile.mkdtemp(prefix="weir-tenant-")
        self.db = os.path.join(self.dir, "weir.db")
        admin(self.db, "init")
        self.project = project_of(admin(self.db, "project", "create", "acme"))
        admin(self.db, "endpoint", "create", "--project", self.project, "--slug", "coder",
              "--model", DEPLOYED)
        admin(self.db, "endpoint", "create", "--project", self.project, "--slug", "busy",
              "--model", DEPLOYED, "--rpm", "30")
        self.key = key_of(admin(self.db, "key", "create", "--project", self.project,
                                "--scope", "inference", "--name", "ci"))
        self.server = Weir("--backend", "sim", "--sim-decode-step-us", "200",
                           "--sim-prefill-us-per-token", "1", "--num-kv-blocks", "8192",
                           *serve_args, env={"WEIR_DB": self.db})

    def base(self, slug="coder") -> str:
        return f"{self.server.base}/{self.project}/{slug}/v1"

    def stop(self):
        self.server.stop()


@pytest.fixture()
def tenant():
    t = Tenant()
    yield t
    t.stop()


def test_openai_sdk_through_an_endpoint(tenant):
    client = openai.OpenAI(base_url=tenant.base(), api_key=tenant.key)
    r = client.chat.completions.create(
        model="my-model", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    assert r.model == DEPLOYED
    assert r.usage.prompt_tokens > 0
    chunks = list(client.chat.completions.create(
        model="my-model", messages=[{"role": "user", "content": "hi"}], max_tokens=5,
        stream=True))
    last = chunks[-1]
    assert last.choices[0].finish_reason is not None
    assert last.usage is not None and last.usage.total_tokens == (
        last.usage.prompt_tokens + last.usage.completion_tokens)
    assert [m.id for m in client.models.list()] == [DEPLOYED]
    bad = openai.OpenAI(base_url=tenant.base(), api_key="weir_nope_" + "x" * 24, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="my-model", messages=[{"role": "user", "content": "hi"}])


def test_openai_sdk_retries_a_429_and_succeeds(tenant):
    # 30 requests per minute: the bucket holds 30 and refills one every 2 s.
    url = tenant.base("busy") + "/chat/completions"
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    headers = {"authorization": f"Bearer {tenant.key}"}
    with httpx.Client(timeout=30) as h:
        statuses = [h.post(url, json=body, headers=headers).status_code for _ in range(31)]
    assert statuses[:30] == [200] * 30 and statuses[30] == 429, statuses
    seen = []
    hook = httpx.Client(event_hooks={"response": [lambda r: seen.append(r.status_code)]})
    client = openai.OpenAI(base_url=tenant.base("busy"), api_key=tenant.key, http_client=hook)
    r = client.chat.completions.create(
        model="my-model", messages=[{"role": "user", "content": "hi"}], max_tokens=1)
    assert r.model == DEPLOYED
    assert seen[0] == 429 and seen[-1] == 200, seen


def test_opencode_with_the_hosted_configuration(tenant, project):  # noqa: F811
    target = os.path.join(project, "hello.txt")
    content = "Hello through an endpoint!\n"
    call = {"name": "write", "arguments": {"filePath": target, "content": content}}
    script = write_script({
        "rules": [
            {"match": "(?i)create the greeting file", "role": "user",
             "reply": "<tool_call>\n" + json.dumps(call) + "\n</tool_call>"},
            {"match": "(?s).*", "role": "tool", "reply": "Done: hello.txt is written."},
        ],
        "default": "I only create greeting files.",
    })
    tenant.server.stop()
    tenant.server = Weir("--backend", "sim", "--sim-mode", "script", "--sim-script", script,
                         "--sim-decode-step-us", "200", "--sim-prefill-us-per-token", "1",
                         "--num-kv-blocks", "8192", env={"WEIR_DB": tenant.db})
    # Exactly as the hosted provider documents it: the key of `models`
    # differs from its `name`, the key travels in `headers`.
    config = {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "provider": {"weir": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "weir",
            "options": {"baseURL": tenant.base(),
                        "headers": {"Authorization": f"Bearer {tenant.key}"}},
            "models": {"my-model": {"name": DEPLOYED, "tool_call": True, "tools": True}},
        }},
    }
    with open(os.path.join(project, "opencode.json"), "w") as f:
        json.dump(config, f)
    env = dict(os.environ, OPENCODE_DISABLE_AUTOUPDATE="1", OPENCODE_DISABLE_MODELS_FETCH="1",
               OPENCODE_DISABLE_LSP_DOWNLOAD="1", OPENCODE_DISABLE_DEFAULT_PLUGINS="1",
               PWD=project)
    run = subprocess.run([OPENCODE, "run", "-m", "weir/my-model", "Please create the greeting file."],
                         cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=240)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert os.path.exists(target), f"{out}\n{tenant.server.log()[-3000:]}"
    with open(target) as f:
        assert f.read() == content
    # The server's log never holds the key.
    assert tenant.key not in tenant.server.log()
