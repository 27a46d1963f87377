"""Every field of a chat or completions request, given values of every
wrong type: the server answers 200 (a value it accepts or ignores) or a 4xx
with an OpenAI error body that names the field — never a 5xx, never a hang —
and keeps serving."""

import httpx
import pytest

from conftest import Weir

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
