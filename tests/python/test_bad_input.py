"""Every field of a chat or completions request, given values of every
wrong type: the server answers 200 (a value it accepts or ignores) or a 4xx
with an OpenAI error body that names the field — never a 5xx, never a hang —
and keeps serving."""

import json
import os
import re
import subprocess
import tempfile

import httpx
import pytest

from conftest import ROOT, Weir

VALUES = [None, 0, -1, 1, 7, 2.5, -3.5, 1e300, 10**30, "", "x", "auto", [], [1], ["a"], [{}],
          {}, {"a": 1}, True, False]
CHAT_FIELDS = ["model", "messages", "temperature", "top_p", "top_k", "min_p", "n", "max_tokens",
               "max_completion_tokens", "stop", "seed", "logprobs", "top_logprobs",
               "presence_penalty", "frequency_penalty", "repetition_penalty", "stream",
               "stream_options", "tools", "tool_choice", "response_format", "ignore_eos",
               "skip_special_tokens", "stop_token_ids", "chat_template_kwargs", "cache_salt",
               "return_token_ids", "user", "add_generation_prompt"]
COMPLETION_FIELDS = ["prompt", "echo", "logprobs", "suffix", "best_of", "max_tokens", "stop"]


@pytest.fixture(scope="module")
def base():
    weir = Weir("--backend", "sim", "--sim-mode", "echo", "--sim-decode-step-us", "50",
                "--num-kv-blocks", "4096")
    yield weir.base
    weir.stop()


def check(client, path, body):
    r = client.post(path, json=body, timeout=30)
    assert r.status_code < 500, (body, r.status_code, r.text)
    if r.status_code != 200:
        err = r.json()["error"]
        assert err["message"] and "type" in err and "param" in err and "code" in err, r.text
    return r


def test_no_wrong_type_in_any_field_is_a_server_error(base):
    good_chat = {"model": "weir-demo", "max_tokens": 3,
                 "messages": [{"role": "user", "content": "hi"}]}
    good_completion = {"model": "weir-demo", "max_tokens": 3, "prompt": "hi"}
    with httpx.Client(base_url=base) as c:
        for field in CHAT_FIELDS:
            for v in VALUES:
                check(c, "/v1/chat/completions", {**good_chat, field: v})
        for field in COMPLETION_FIELDS:
            for v in VALUES:
                check(c, "/v1/completions", {**good_completion, field: v})
        # Wrong shapes inside messages.
        for msg in [{"role": "user"}, {"content": "x"}, {"role": 3, "content": "x"},
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
                    {"role": "user", "content": [{"type": "text"}]},
                    {"role": "assistant", "tool_calls": "x"},
                    {"role": "assistant", "tool_calls": [{"id": 1}]},
                    {"role": "tool", "content": "x", "tool_call_id": 5}, "x", 5, None]:
            check(c, "/v1/chat/completions", {**good_chat, "messages": [msg]})
        for body in [b"", b"null", b"[]", b"{", b'{"model": "weir-demo", "messages": [{"role": "user", "content": "\\ud800"}]}']:
            r = c.post("/v1/chat/completions", content=body,
                       headers={"content-type": "application/json"})
            assert r.status_code < 500, (body, r.text)
        # Still serving.
        ok = c.post("/v1/chat/completions", json=good_chat).json()
        assert ok["choices"][0]["message"]["content"] == "hi"


# --- Tool-call history the chat template cannot take as sent ---------------------------
# An assistant's tool_calls[].function.arguments arrive as JSON strings; weir hands the
# template the object they hold (docs/tool-calls.md). What it cannot parse into an object
# is passed through as written: a template that prints it shows it, and a template that
# can only iterate a mapping is answered with a 400 naming the field. Real templates:
# Qwen2.5 prints arguments with `tojson`, Qwen3-Coder iterates them as a mapping.

TEMPLATES = os.path.join(ROOT, "tests", "data", "templates")
CALL_ID = "call_0a1b2c3d4e5f60718293a4b5"
TOOLS = [{"type": "function", "function": {"name": "write", "parameters": {
    "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}}}]


def model_with_template(template_file):
    """The demo model with a real chat template in place of its own."""
    binary = os.environ.get("WEIR_BIN", os.path.join(ROOT, "target", "release", "weir"))
    d = tempfile.mkdtemp(prefix="weir-template-")
    subprocess.run([binary, "gen-model", "--shape", "demo", "--out", d], check=True,
                   capture_output=True)
    path = os.path.join(d, "tokenizer_config.json")
    with open(path) as f:
        cfg = json.load(f)
    with open(os.path.join(TEMPLATES, template_file)) as f:
        cfg["chat_template"] = f.read()
    with open(path, "w") as f:
        json.dump(cfg, f)
    return d


@pytest.fixture(scope="module")
def servers():
    started = {}
    try:
        for name, file in [("qwen25", "Qwen-Qwen2.5-7B-Instruct.jinja"),
                           ("qwen3_coder", "Qwen3-Coder.jinja"),
                           ("nemo", "mistralai-Mistral-Nemo-Instruct-2407.jinja")]:
            started[name] = Weir("--model", model_with_template(file), "--served-model-name", "m",
                                 "--backend", "sim", "--sim-mode", "echo",
                                 "--sim-decode-step-us", "50", "--num-kv-blocks", "4096")
        yield {name: w.base for name, w in started.items()}
    finally:
        for w in started.values():
            w.stop()


def turn(arguments, calls=1, result_id=CALL_ID):
    """An OpenCode-style second turn: the model's call(s) and the tool result(s)."""
    ids = [CALL_ID] + [f"call_{k:024x}" for k in range(1, calls)]
    return [
        {"role": "user", "content": "write hello.txt"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "write", "arguments": arguments}}
            for i in ids]},
        *[{"role": "tool", "tool_call_id": result_id if k == 0 else i, "content": "ok"}
          for k, i in enumerate(ids)],
    ]


def post(base, path, messages, **extra):
    r = httpx.post(base + path, json={"model": "m", "messages": messages, "tools": TOOLS,
                                      "max_tokens": 2, **extra}, timeout=120)
    assert r.status_code < 500, r.text
    return r


ARGS_FIELD = "messages[1].tool_calls[0].function.arguments"
NOT_OBJECTS = ['{"path": "hello.txt", ', "not json", "[1]", '"s"', "3", "null"]


def test_arguments_that_hold_an_object_reach_the_template_as_a_mapping(servers):
    args = json.dumps({"path": "hello.txt", "content": "hi"}, separators=(",", ":"))
    r = post(servers["qwen25"], "/tokenize", turn(args))
    assert r.status_code == 200, r.text
    assert '"arguments": {"path": "hello.txt", "content": "hi"}' in r.json()["prompt"]
    r = post(servers["qwen3_coder"], "/tokenize", turn(args))
    assert r.status_code == 200, r.text
    assert "<parameter=path>\nhello.txt\n</parameter>" in r.json()["prompt"]
    for base in servers.values():
        assert post(base, "/v1/chat/completions", turn(args)).status_code == 200


def test_arguments_that_are_not_an_object_pass_through_to_a_template_that_prints_them(servers):
    for args in NOT_OBJECTS:
        r = post(servers["qwen25"], "/tokenize", turn(args))
        assert r.status_code == 200, (args, r.text)
        # The model sees what was written, as a JSON string.
        assert '"arguments": ' + json.dumps(args, ensure_ascii=False) in r.json()["prompt"], args
        assert post(servers["qwen25"], "/v1/chat/completions", turn(args)).status_code == 200


def test_arguments_that_are_not_an_object_are_a_400_for_a_template_that_needs_a_mapping(servers):
    for args in NOT_OBJECTS:
        for path in ["/tokenize", "/v1/chat/completions"]:
            r = post(servers["qwen3_coder"], path, turn(args))
            assert r.status_code == 400, (args, r.text)
            err = r.json()["error"]
            assert err["param"] == ARGS_FIELD, (args, err)
            assert err["type"] == "invalid_request_error"
            assert ARGS_FIELD + " must be a JSON object" in err["message"], err
        # A streamed request is refused the same way, before its stream starts.
        r = post(servers["qwen3_coder"], "/v1/chat/completions", turn(args), stream=True)
        assert r.status_code == 400 and r.json()["error"]["param"] == ARGS_FIELD, r.text


def test_a_tool_message_answering_no_call_is_a_400(servers):
    for base in servers.values():
        r = post(base, "/v1/chat/completions", turn("{}", result_id="call_nobody"))
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["param"] == "messages[2].tool_call_id", err
        assert ("messages with role 'tool' must be a response to a preceding message with "
                "'tool_calls'") in err["message"], err


def test_five_hundred_calls_in_one_message(servers):
    messages = turn('{"path":"a.txt","content":"x"}', calls=500)
    r = post(servers["qwen25"], "/tokenize", messages)
    assert r.status_code == 200, r.text
    assert r.json()["prompt"].count('<tool_call>\n{"name": "write", "arguments": {"path"') == 500
    # Mistral: 500 distinct 9-character ids, each call's id on its result.
    r = post(servers["nemo"], "/tokenize", messages)
    assert r.status_code == 200, r.text
    prompt = r.json()["prompt"]
    ids = re.findall(r'"id": "([0-9A-Za-z]{9})"\}', prompt)
    results = re.findall(r'"call_id": "([0-9A-Za-z]{9})"\}\[/TOOL_RESULTS\]', prompt)
    assert len(set(ids)) == 500 and ids == results, (len(ids), len(results))
    for base in servers.values():
        r = post(base, "/v1/chat/completions", messages)
        assert r.status_code in (200, 400), r.text
        if r.status_code == 400:
            assert r.json()["error"]["code"] == "context_length_exceeded", r.text


def test_a_megabyte_argument_string(servers):
    content = "fn main() { println!(\"hi\"); }\n" * ((1 << 20) // 30 + 1)
    mapped = json.dumps({"path": "big.rs", "content": content}, separators=(",", ":"))
    broken = mapped[:-1]  # cut before its last brace: not JSON
    assert len(mapped) > 1_000_000
    for base, args, status in [(servers["qwen25"], mapped, 400), (servers["qwen25"], broken, 400),
                               (servers["qwen3_coder"], mapped, 400),
                               (servers["qwen3_coder"], broken, 400)]:
        r = post(base, "/v1/chat/completions", turn(args))
        assert r.status_code == status, r.text[:300]
        err = r.json()["error"]
        if base == servers["qwen3_coder"] and args is broken:
            assert err["param"] == ARGS_FIELD, err
        else:
            # Rendered, then too long for the context window: named as the messages.
            assert err["code"] == "context_length_exceeded", err
            assert err["param"] == "messages", err
