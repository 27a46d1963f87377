"""OpenCode itself, unchanged, against weir.

OpenCode (npm `opencode-ai`, installed by scripts/test.sh into tests/js) is
pointed at a running weir through a project-level opencode.json, fully
offline. weir runs the `sim` backend in script mode: asked to create a file,
the scripted model answers with a Qwen-style `<tool_call>` for OpenCode's
own `write` tool; OpenCode executes it and sends the tool result back; the
script then answers in text and OpenCode finishes. The test asserts the file
exists with the expected content.
"""

import json
import os
import shutil
import subprocess
import tempfile

import pytest
from conftest import ROOT, Weir

OPENCODE = os.path.join(ROOT, "tests", "js", "node_modules", ".bin", "opencode")


@pytest.fixture()
def project():
    d = tempfile.mkdtemp(prefix="weir-opencode-")
    subprocess.run(["git", "init", "-q", d], check=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_opencode_creates_a_file_through_weir(project):
    assert os.path.exists(OPENCODE), "scripts/test.sh installs OpenCode into tests/js"
    target = os.path.join(project, "hello.txt")
    content = "Hello from weir!\nSecond line: naïve café.\n"
    call = {"name": "write", "arguments": {"filePath": target, "content": content}}
    script = {
        "rules": [
            {"match": "(?i)create the greeting file", "role": "user",
             "reply": "I will create it.\n<tool_call>\n" + json.dumps(call, ensure_ascii=False) + "\n</tool_call>"},
            {"match": "(?s).*", "role": "tool", "reply": "Done: hello.txt is written."},
        ],
        "default": "I only create greeting files.",
    }
    work = tempfile.mkdtemp(prefix="weir-oc-server-")
    script_path = os.path.join(work, "script.json")
    with open(script_path, "w") as f:
        json.dump(script, f, ensure_ascii=False)

    server = Weir("--backend", "sim", "--sim-mode", "script", "--sim-script", script_path,
                  "--sim-decode-step-us", "500", "--sim-prefill-us-per-token", "2",
                  "--num-kv-blocks", "8192")
    try:
        base = server.base
        config = {
            "$schema": "https://opencode.ai/config.json",
            "autoupdate": False,
            "share": "disabled",
            "provider": {"weir": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "weir",
                "options": {"baseURL": base + "/v1", "apiKey": "unused"},
                "models": {"weir-demo": {"name": "weir-demo", "tool_call": True}},
            }},
        }
        with open(os.path.join(project, "opencode.json"), "w") as f:
            json.dump(config, f)
        env = dict(os.environ,
                   OPENCODE_DISABLE_AUTOUPDATE="1", OPENCODE_DISABLE_MODELS_FETCH="1",
                   OPENCODE_DISABLE_LSP_DOWNLOAD="1", OPENCODE_DISABLE_DEFAULT_PLUGINS="1",
                   # OpenCode finds its project (and opencode.json) from $PWD,
                   # not from the process's working directory.
                   PWD=project)
        run = subprocess.run(
            [OPENCODE, "run", "-m", "weir/weir-demo", "Please create the greeting file."],
            cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=240)
        out = run.stdout + run.stderr
        assert run.returncode == 0, out
        assert os.path.exists(target), f"OpenCode did not write the file:\n{out}\n{server.log()[-3000:]}"
        with open(target) as f:
            assert f.read() == content
        assert "Done: hello.txt is written." in out
    finally:
        server.stop()
