"""The official OpenAI Python SDK against a running `weir serve`.

The server is the real binary (WEIR_BIN), serving the built-in demo model on
the CPU backend, on a free loopback port. Nothing is mocked.
"""

import json

import httpx
import openai
import pytest
from conftest import Weir

MODEL = "weir-demo"


@pytest.fixture(scope="session")
def server():
    weir = Weir("--kv-cache-gib", "0.25")
    yield weir.base
    weir.stop()


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)


MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name three rivers."},
]


def test_models_lists_the_served_model(client):
    ids = [m.id for m in client.models.list()]
    assert ids == [MODEL]


def test_non_streaming_chat(client):
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=12,
                                       temperature=0)
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    c = r.choices[0]
    assert c.message.role == "assistant"
    assert isinstance(c.message.content, str)
    assert c.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 0
    assert 0 < r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_streaming_matches_non_streaming_and_carries_usage(client):
    kwargs = dict(model=MODEL, messages=MESSAGES, max_tokens=16, temperature=0)
    full = client.chat.completions.create(**kwargs)
    stream = client.chat.completions.create(**kwargs, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    ids = {c.id for c in chunks}
    assert len(ids) == 1
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    content_chunks = [c for c in chunks if c.choices]
    finishes = [c.choices[0].finish_reason for c in content_chunks]
    assert all(f is None for f in finishes[:-1])
    assert finishes[-1] == full.choices[0].finish_reason
    text = "".join(c.choices[0].delta.content or "" for c in content_chunks)
    assert text == full.choices[0].message.content
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.completion_tokens == full.usage.completion_tokens
    assert usage_chunk.usage.prompt_tokens == full.usage.prompt_tokens


def test_seeded_sampling_is_reproducible(client):
    kwargs = dict(model=MODEL, messages=MESSAGES, max_tokens=10, temperature=1.0, seed=42)
    a = client.chat.completions.create(**kwargs).choices[0].message.content
    b = client.chat.completions.create(**kwargs).choices[0].message.content
    assert a == b


def test_n_choices_and_logprobs(client):
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5, n=3,
                                       temperature=1.0, seed=7, logprobs=True,
                                       top_logprobs=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    for c in r.choices:
        assert c.logprobs is not None
        for t in c.logprobs.content:
            assert t.logprob <= 0.0
            assert len(t.top_logprobs) == 3
    assert r.usage.completion_tokens == sum(len(c.logprobs.content) for c in r.choices)


def test_completions_endpoint(client):
    r = client.completions.create(model=MODEL, prompt="The quick brown fox", max_tokens=8,
                                  temperature=0)
    assert r.object == "text_completion"
    assert isinstance(r.choices[0].text, str)
    assert r.usage.completion_tokens <= 8
    stream = client.completions.create(model=MODEL, prompt="The quick brown fox",
                                       max_tokens=8, temperature=0, stream=True)
    text = "".join(c.choices[0].text for c in stream if c.choices)
    assert text == r.choices[0].text


def test_max_tokens_beyond_the_context_is_clamped_with_a_header(client):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=10_000_000, temperature=0,
        # Common single characters end the random model's text quickly.
        stop=["e", "a", "o", "i", "s", "t", " ", "n", "r", "l"])
    assert raw.headers.get("x-xerotier-max-tokens-clamped") == "true"
    assert raw.parse().choices[0].finish_reason in ("stop", "length")


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="Weir-Demo", messages=MESSAGES)
    assert e.value.status_code == 404


def test_bad_parameters_are_400_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=5)
    assert e.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=[], max_tokens=4)
    assert e.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=0)
    assert "max_tokens" in e.value.body["param"]


def test_raw_bad_bodies_get_openai_errors_and_the_server_survives(server, client):
    def post(data, headers=None):
        return httpx.post(server + "/v1/chat/completions", content=data,
                          headers=headers or {"content-type": "application/json"},
                          timeout=60)

    r = post(b"{not json")
    assert r.status_code == 400 and "error" in r.json()
    r = post(b"\xff\xfe\x00garbage")
    assert r.status_code == 400 and "error" in r.json()
    r = post(json.dumps({"model": MODEL, "messages": "hi"}).encode())
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    r = post(b'{"model": "' + b"x" * (20 * 1024 * 1024) + b'"}')
    assert r.status_code == 413 and "error" in r.json()
    long_prompt = "word " * 40000
    r = post(json.dumps({"model": MODEL, "messages": [{"role": "user", "content": long_prompt}]}).encode())
    assert r.status_code == 400
    msg = r.json()["error"]["message"]
    assert "maximum context length" in msg and any(ch.isdigit() for ch in msg)
    # Still serving.
    ok = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=2)
    assert ok.choices[0].finish_reason in ("stop", "length")


def test_tokenize_and_detokenize_round_trip(server):
    r = httpx.post(server + "/tokenize", json={"model": MODEL, "messages": MESSAGES}).json()
    assert r["count"] == len(r["tokens"]) > 0
    assert "<|im_start|>assistant" in r["prompt"]
    assert r["max_model_len"] >= 16384
    d = httpx.post(server + "/detokenize", json={"model": MODEL, "tokens": r["tokens"]}).json()
    assert d["prompt"] == r["prompt"]


def test_metrics_are_prometheus_text_with_vllm_names(server, client):
    client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=2)
    text = httpx.get(server + "/metrics").text
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting",
                 "vllm:kv_cache_usage_perc", "vllm:prompt_tokens_total",
                 "vllm:generation_tokens_total", "vllm:time_to_first_token_seconds_bucket",
                 "vllm:e2e_request_latency_seconds_count", "vllm:num_preemptions_total"):
        assert name in text, name
