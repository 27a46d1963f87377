"""OpenCode itself, unchanged, against weir.

OpenCode (npm `opencode-ai`, installed by scripts/test.sh into tests/js) is
pointed at a running weir through a project-level opencode.json, fully
offline. weir runs the `sim` backend in script mode: the scripted model
answers each turn with tool-call markup for OpenCode's own tools; OpenCode
executes the calls on a real temporary project and sends the results back.

- `test_opencode_creates_a_file_through_weir`: one `write` call with the
  demo model's own (Qwen-style) template.
- `test_opencode_over_the_responses_api`: the same through OpenAI's own
  provider package (`@ai-sdk/openai`), which speaks the Responses API.
- `test_opencode_session_per_tool_call_family`: for every tool-call family
  weir parses, a three-turn session (write a file, read it back, edit it,
  answer) with that family's real chat template (`--chat-template`) and the
  replies in that family's real markup: what its template writes for an
  assistant tool call in the history is what the model was trained to
  write. Every turn after the first renders the earlier calls and tool
  results through that template, so the session only finishes when the
  conversation OpenCode sends back renders for the family.
"""

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Callable

import pytest
from conftest import ROOT, Weir

OPENCODE = os.path.join(ROOT, "tests", "js", "node_modules", ".bin", "opencode")
TEMPLATES = os.path.join(ROOT, "tests", "data", "templates")

# What OpenCode's tools answer (OpenCode 1.18): the sim's rules match these.
WROTE = "Wrote file successfully."
EDITED = "Edit applied successfully."
READ_MARK = "<type>file</type>"


@pytest.fixture()
def project():
    d = tempfile.mkdtemp(prefix="weir-opencode-")
    subprocess.run(["git", "init", "-q", d], check=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write_script(script) -> str:
    work = tempfile.mkdtemp(prefix="weir-oc-server-")
    path = os.path.join(work, "script.json")
    with open(path, "w") as f:
        json.dump(script, f, ensure_ascii=False)
    return path


def start_weir(script_path, *extra, env=None):
    # Fast modelled steps: a session is a few hundred tokens per turn.
    return Weir("--backend", "sim", "--sim-mode", "script", "--sim-script", script_path,
                "--sim-decode-step-us", "200", "--sim-prefill-us-per-token", "1",
                "--num-kv-blocks", "8192", *extra, env=env)


def run_opencode(project, base, prompt, npm="@ai-sdk/openai-compatible"):
    """`opencode run PROMPT` in `project` against weir at `base`, through
    the AI SDK provider package `npm`; its stdout + stderr and exit
    status."""
    assert os.path.exists(OPENCODE), "scripts/test.sh installs OpenCode into tests/js"
    config = {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "provider": {"weir": {
            "npm": npm,
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
        [OPENCODE, "run", "-m", "weir/weir-demo", prompt],
        cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=240)
    return run.stdout + run.stderr, run.returncode


def test_opencode_creates_a_file_through_weir(project):
    target = os.path.join(project, "hello.txt")
    content = "Hello from weir!\nSecond line: naïve café.\n"
    call = {"name": "write", "arguments": {"filePath": target, "content": content}}
    script_path = write_script({
        "rules": [
            {"match": "(?i)create the greeting file", "role": "user",
             "reply": "I will create it.\n<tool_call>\n" + json.dumps(call, ensure_ascii=False) + "\n</tool_call>"},
            {"match": "(?s).*", "role": "tool", "reply": "Done: hello.txt is written."},
        ],
        "default": "I only create greeting files.",
    })
    server = start_weir(script_path)
    try:
        out, status = run_opencode(project, server.base, "Please create the greeting file.")
        assert status == 0, out
        assert os.path.exists(target), f"OpenCode did not write the file:\n{out}\n{server.log()[-3000:]}"
        with open(target) as f:
            assert f.read() == content
        assert "Done: hello.txt is written." in out
    finally:
        server.stop()


def test_opencode_over_the_responses_api(project):
    # `@ai-sdk/openai` is OpenAI's own provider: OpenCode speaks the
    # Responses API through it (`store: false`, the whole conversation
    # each turn), and the tool's output comes back as a
    # `function_call_output` item.
    target = os.path.join(project, "hello.txt")
    content = "Hello over /v1/responses.\n"
    call = {"name": "write", "arguments": {"filePath": target, "content": content}}
    script_path = write_script({
        "rules": [
            {"match": "(?i)create the greeting file", "role": "user",
             "reply": "I will create it.\n<tool_call>\n" + json.dumps(call) + "\n</tool_call>"},
            {"match": WROTE, "role": "tool", "reply": "Done: hello.txt is written."},
        ],
        "default": "I only create greeting files.",
    })
    server = start_weir(script_path, env={"RUST_LOG": "info,weir::api::access_log=debug"})
    try:
        out, status = run_opencode(project, server.base, "Please create the greeting file.",
                                   npm="@ai-sdk/openai")
        assert status == 0, out
        with open(target) as f:
            assert f.read() == content
        assert "Done: hello.txt is written." in out
        # Both turns went to the Responses API, none to chat completions.
        requests = [line for line in server.log().splitlines() if "request" in line
                    and "path=" in line]
        to_responses = [line for line in requests if "path=/v1/responses " in line
                        and "status=200" in line]
        assert len(to_responses) >= 2, "\n".join(requests)
        assert not any("/chat/completions" in line for line in requests), "\n".join(requests)
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# One session per tool-call family.


def dumps(value) -> str:
    """JSON as transformers' `tojson` writes it (", " and ": ", no ASCII escaping)."""
    return json.dumps(value, ensure_ascii=False)


def hermes_call(name, args):
    # Qwen2.5 / Qwen3 / Hermes: `<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>`.
    return "<tool_call>\n" + dumps({"name": name, "arguments": args}) + "\n</tool_call>"


def qwen3_coder_call(name, args):
    params = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in args.items())
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


def llama3_call(name, args):
    # Llama 3.1 / 3.3 JSON calls: the whole reply is the call (no content).
    return '{"name": "' + name + '", "parameters": ' + dumps(args) + "}"


def mistral_nemo_call(name, args):
    # Nemo's template writes `[TOOL_CALLS][{function as JSON}, "id": "<9 chars>"}]`.
    return "[TOOL_CALLS][" + dumps({"name": name, "arguments": args})[:-1] + ', "id": "a1B2c3D4e"}]'


def devstral_call(name, args):
    return f"[TOOL_CALLS]{name}[ARGS]" + dumps(args)


def deepseek_v31_call(name, args):
    return ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>" + name + "<｜tool▁sep｜>" + dumps(args)
            + "<｜tool▁call▁end｜><｜tool▁calls▁end｜>")


def kimi_k2_call(name, args):
    return ("<|tool_calls_section_begin|><|tool_call_begin|>functions." + name
            + ":0<|tool_call_argument_begin|>" + dumps(args)
            + "<|tool_call_end|><|tool_calls_section_end|>")


def glm_call(name, args):
    pairs = "".join(f"<arg_key>{k}</arg_key>\n<arg_value>{v}</arg_value>\n" for k, v in args.items())
    return f"<tool_call>{name}\n{pairs}</tool_call>"


def gpt_oss_call(name, args):
    # After the generation prompt `<|start|>assistant`: the template's form
    # of a call; `<|call|>`, the stop token that ends it, is not text.
    return " to=functions." + name + "<|channel|>commentary json<|message|>" + dumps(args)


@dataclass
class Family:
    """One tool-call family: its chat template and how its model writes a
    turn (thinking, text before the call, the call itself) and an answer."""

    id: str
    template: str
    call: Callable[[str, dict], str]
    # Text before the call in the same turn ("" where the template renders none).
    lead: str = "I will do that.\n"
    # Reasoning opening every reply (`<think>`, harmony analysis), if any.
    think: str = ""
    # Writes a turn whose only output is `text` (the final answer).
    answer: Callable[[str], str] = lambda text: text

    def reply(self, reasoning, text, name, args):
        return self.think.format(reasoning) + self.lead.format(text) + self.call(name, args)

    def final(self, reasoning, text):
        return self.think.format(reasoning) + self.answer(text)


FAMILIES = [
    Family("hermes-qwen2.5", "Qwen-Qwen2.5-7B-Instruct.jinja", hermes_call, lead="{}\n"),
    Family("qwen3-think", "Qwen-Qwen3-0.6B.jinja", hermes_call, lead="{}\n",
           think="<think>\n{}\n</think>\n\n"),
    Family("qwen3-coder", "Qwen3-Coder.jinja", qwen3_coder_call, lead="{}\n"),
    Family("llama3.3-json", "meta-llama-Llama-3.3-70B-Instruct.jinja", llama3_call, lead=""),
    Family("mistral-nemo", "mistralai-Mistral-Nemo-Instruct-2407.jinja", mistral_nemo_call,
           lead=""),
    Family("devstral", "unsloth-mistral-Devstral-Small-2507.jinja", devstral_call, lead="{}"),
    Family("deepseek-v3.1", "deepseek-ai-DeepSeek-V3.1.jinja", deepseek_v31_call, lead="{}"),
    Family("gpt-oss", "openai-gpt-oss-120b.jinja", gpt_oss_call,
           think="<|channel|>analysis<|message|>{}<|end|><|start|>assistant", lead="",
           answer=lambda text: "<|channel|>final<|message|>" + text),
    Family("kimi-k2", "moonshotai-Kimi-K2.jinja", kimi_k2_call, lead="{}"),
    Family("glm-4.6", "GLM-4.6.jinja", glm_call, lead="{}\n",
           think="\n<think>{}</think>\n"),
]


@pytest.mark.parametrize("family", [pytest.param(f, id=f.id) for f in FAMILIES])
def test_opencode_session_per_tool_call_family(project, family):
    target = os.path.join(project, "notes.md")
    written = "# Notes\nstatus: draft\nnaïve café, \"quoted\" and {braces}\n"
    edited = "# Notes\nstatus: final\nnaïve café, \"quoted\" and {braces}\n"
    answer = "Done: notes.md now says final."
    script_path = write_script({
        "rules": [
            # Turn 1: the user asks; the model writes the file.
            {"match": "(?i)create the notes file", "role": "user",
             "reply": family.reply("The user wants a notes file.", "I will create notes.md.",
                                   "write", {"filePath": target, "content": written})},
            # Turn 2: `write` answered; the model reads the file back.
            {"match": WROTE, "role": "tool",
             "reply": family.reply("Check what was written.", "Let me read it back.",
                                   "read", {"filePath": target})},
            # Turn 4: `edit` answered; the final answer.
            {"match": EDITED, "role": "tool",
             "reply": family.final("The edit is applied.", answer)},
            # Turn 3: `read` answered with the file; the model edits it.
            {"match": "(?s)" + READ_MARK + ".*status: draft", "role": "tool",
             "reply": family.reply("Mark it final.", "Now the status.",
                                   "edit", {"filePath": target, "oldString": "status: draft",
                                            "newString": "status: final"})},
        ],
        "default": "I only keep notes.",
    })
    server = start_weir(script_path, "--chat-template", os.path.join(TEMPLATES, family.template))
    try:
        out, status = run_opencode(project, server.base, "Please create the notes file.")
        context = f"OpenCode said:\n{out[-4000:]}\nweir said:\n{server.log()[-4000:]}"
        assert status == 0, context
        assert os.path.exists(target), "OpenCode did not write the file.\n" + context
        with open(target, encoding="utf-8") as f:
            assert f.read() == edited, "the edit did not apply.\n" + context
        assert answer in out, context
    finally:
        server.stop()


def test_missing_chat_template_file_stops_start_up():
    missing = os.path.join(tempfile.mkdtemp(prefix="weir-oc-"), "nope.jinja")
    with pytest.raises(RuntimeError) as exited:
        Weir("--backend", "sim", "--chat-template", missing)
    assert f"--chat-template {missing}: " in str(exited.value)
