"""The Responses API through the official OpenAI SDK: whole and streamed
responses, tools, reasoning, and conversations the server keeps
(`previous_response_id`, retrieve, delete).

The `sim` backend in script mode replies with the model family's markup
(`<tool_call>`, `<think>`), tokenized and streamed token by token through the
real scheduler, stream actors and parsers, as in test_tool_calls.py.
"""

import json
import os

import httpx
import openai
import pytest
from conftest import Weir

MODEL = "weir-demo"
HERE = os.path.dirname(os.path.abspath(__file__))

TOOLS = [{
    "type": "function", "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False},
    "strict": True,
}]


@pytest.fixture(scope="module")
def weir():
    server = Weir("--backend", "sim", "--sim-mode", "script",
                  "--sim-script", os.path.join(HERE, "data", "tools_script.json"),
                  "--sim-decode-step-us", "200", "--reasoning-parser", "think",
                  "--num-kv-blocks", "2048")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(weir):
    return openai.OpenAI(base_url=weir.base + "/v1", api_key="unused", max_retries=0)


def test_create_returns_a_whole_response(client):
    r = client.responses.create(model=MODEL, input="Hello there", instructions="Be brief.",
                                metadata={"run": "1"})
    assert r.id.startswith("resp_")
    assert r.object == "response" and r.status == "completed"
    assert r.output_text == "I can only talk about the weather."
    assert r.model == MODEL and r.instructions == "Be brief." and r.metadata == {"run": "1"}
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.usage.input_tokens_details.cached_tokens >= 0
    assert r.store is True


def test_the_output_limit_is_an_incomplete_response(client):
    r = client.responses.create(model=MODEL, input="Hello there", max_output_tokens=3)
    assert r.status == "incomplete"
    assert r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 3


def test_stream_helper_accumulates_reasoning_and_text(client):
    deltas = []
    with client.responses.stream(model=MODEL, input="Think: what is 2 + 2?") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text == "The answer is 4."
    assert "".join(deltas) == "The answer is 4."
    reasoning = [o for o in final.output if o.type == "reasoning"]
    assert len(reasoning) == 1
    assert "2 + 2 = 4" in reasoning[0].summary[0].text
    assert final.usage.output_tokens_details.reasoning_tokens > 0
    assert [o.type for o in final.output] == ["reasoning", "message"]


def test_a_function_tool_round_trip_streamed_and_whole(client):
    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = client.responses.create(model=MODEL, input=[question], tools=TOOLS)
    [call] = [o for o in first.output if o.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert call.call_id.startswith("call_") and call.status == "completed"

    with client.responses.stream(model=MODEL, input=[question], tools=TOOLS) as stream:
        arg_deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        streamed = stream.get_final_response()
    [scall] = [o for o in streamed.output if o.type == "function_call"]
    assert "".join(arg_deltas) == scall.arguments
    assert json.loads(scall.arguments) == {"city": "Paris"}

    second = client.responses.create(model=MODEL, tools=TOOLS, input=[
        question,
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
    ])
    assert second.output_text == "It is sunny in Paris, 21 degrees."


def test_raw_events_keep_every_invariant(weir):
    with httpx.stream("POST", weir.base + "/v1/responses", timeout=30, json={
            "model": MODEL, "stream": True, "tools": TOOLS,
            "input": "Think first. What is the weather in Paris and Berlin?"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    events = []
    for frame in filter(None, text.split("\n\n")):
        kind, data = frame.split("\n", 1)
        event = json.loads(data.removeprefix("data: "))
        assert kind == "event: " + event["type"]
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created"
    assert events[1]["type"] == "response.in_progress"
    terminal = [e for e in events if e["type"] in
                ("response.completed", "response.incomplete", "response.failed")]
    assert terminal == [events[-1]] and events[-1]["type"] == "response.completed"
    added, done, parts = {}, set(), set()
    for e in events:
        t = e["type"]
        if t == "response.output_item.added":
            assert e["output_index"] == len(added), "dense output_index in order"
            added[e["output_index"]] = e["item"]["id"]
        elif t == "response.content_part.added":
            parts.add((e["output_index"], e["content_index"]))
        elif t == "response.output_text.delta":
            assert (e["output_index"], e["content_index"]) in parts
            assert e["output_index"] not in done
        elif t == "response.function_call_arguments.delta":
            assert e["output_index"] in added and e["output_index"] not in done
        elif t == "response.output_item.done":
            assert added[e["output_index"]] == e["item"]["id"]
            done.add(e["output_index"])
        if "item_id" in e:
            assert added[e["output_index"]] == e["item_id"]
    final = events[-1]["response"]
    assert done == set(added) == set(range(len(final["output"])))
    assert [o["id"] for o in final["output"]] == [added[i] for i in range(len(added))]
    calls = [o for o in final["output"] if o["type"] == "function_call"]
    assert [json.loads(c["arguments"])["city"] for c in calls] == ["Paris", "Berlin"]
    assert isinstance(final["usage"]["input_tokens"], int)


def test_bad_input_names_the_field_and_nothing_breaks(weir, client):
    for body, param in [
        ({"input": [{"role": "user", "content": "a"}, {"type": "web_search_call"}]}, "input[1].type"),
        ({"input": [{"type": "function_call_output", "call_id": "nope", "output": "x"}]},
         "input[0].call_id"),
        ({"input": ["x"] * 10001}, "input"),
        ({"input": "x", "previous_response_id": "resp_missing"}, "previous_response_id"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "text": {"format": {"type": "json_schema", "name": "w",
                                            "schema": {"type": "bogus"}}}}, "text.format"),
    ]:
        r = httpx.post(weir.base + "/v1/responses", json={"model": MODEL, **body}, timeout=30)
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        assert err["param"] is not None and err["param"].startswith(param), (param, err)
        if param == "previous_response_id":
            assert err["code"] == "previous_response_not_found"
    assert client.responses.create(model=MODEL, input="Hello").status == "completed"


def test_a_conversation_continues_over_previous_response_id(client):
    first = client.responses.create(model=MODEL, input="Hello there", instructions="Be brief.")
    assert first.store is True
    second = client.responses.create(model=MODEL, previous_response_id=first.id, tools=TOOLS,
                                      input="What is the weather in Paris?")
    assert second.previous_response_id == first.id
    assert second.instructions is None, "instructions are not inherited"
    [call] = [o for o in second.output if o.type == "function_call"]
    # Only the newest input each turn: the call's output answers a call the
    # server remembers.
    third = client.responses.create(model=MODEL, previous_response_id=second.id, tools=TOOLS,
                                     input=[{"type": "function_call_output",
                                             "call_id": call.call_id, "output": "sunny"}])
    assert third.output_text == "It is sunny in Paris, 21 degrees."
    # The prompt grew turn by turn, and the prefix cache served the turns
    # before (the first turn's instructions are gone from later prompts).
    assert first.usage.input_tokens < second.usage.input_tokens < third.usage.input_tokens
    assert third.usage.input_tokens_details.cached_tokens >= 16
    assert (third.usage.input_tokens - third.usage.input_tokens_details.cached_tokens
            < third.usage.input_tokens // 2)


def test_retrieve_returns_what_was_answered_and_delete_forgets_it(client):
    whole = client.responses.create(model=MODEL, input="Hello there")
    assert client.responses.retrieve(whole.id).model_dump() == whole.model_dump()
    with client.responses.stream(model=MODEL, input="Think: what is 2 + 2?") as stream:
        for _ in stream:
            pass
        streamed = stream.get_final_response()
    kept = client.responses.retrieve(streamed.id)
    assert kept.status == "completed" and kept.store is True
    assert kept.output_text == streamed.output_text == "The answer is 4."
    assert kept.usage == streamed.usage
    assert [o.id for o in kept.output] == [o.id for o in streamed.output]

    client.responses.delete(whole.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(whole.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(whole.id)
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=MODEL, previous_response_id=whole.id, input="again")
    assert e.value.code == "previous_response_not_found"

    unkept = client.responses.create(model=MODEL, input="Hello there", store=False)
    assert unkept.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unkept.id)
