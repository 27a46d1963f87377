"""Tool calls and reasoning through the official OpenAI SDK.

weir runs the `sim` backend in script mode with the demo model's Qwen-style
tokenizer and ChatML template: the scripted replies contain the model-family
markup (`<tool_call>...</tool_call>`, `<think>...</think>`), which is
tokenized, streamed token by token through the real scheduler and stream
actors, and split by the real parsers.
"""

import json
import os

import openai
import pytest
from conftest import Weir

MODEL = "weir-demo"
HERE = os.path.dirname(os.path.abspath(__file__))

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "save_note", "description": "Save a note.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}},
                       "required": ["text"]}}},
]


@pytest.fixture(scope="module")
def client():
    weir = Weir("--backend", "sim", "--sim-mode", "script",
                "--sim-script", os.path.join(HERE, "data", "tools_script.json"),
                "--sim-decode-step-us", "200", "--reasoning-parser", "think",
                "--num-kv-blocks", "2048")
    yield openai.OpenAI(base_url=weir.base + "/v1", api_key="unused", max_retries=0)
    weir.stop()


def accumulate(stream):
    """What a client builds from a stream: text, reasoning, calls by index."""
    text, reasoning, calls, finish = "", "", {}, None
    for chunk in stream:
        if not chunk.choices:
            continue
        d = chunk.choices[0].delta
        text += d.content or ""
        reasoning += getattr(d, "reasoning_content", None) or ""
        for tc in d.tool_calls or []:
            if tc.index not in calls:
                # The first delta of a call must carry id and name.
                assert tc.id and tc.id.startswith("call_")
                assert tc.function.name
                calls[tc.index] = {"id": tc.id, "name": tc.function.name, "arguments": ""}
            calls[tc.index]["arguments"] += tc.function.arguments or ""
        if chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    return text, reasoning, [calls[i] for i in sorted(calls)], finish


def test_a_two_tool_conversation_streams_like_it_answers(client):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    full = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    choice = full.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    text, _, calls, finish = accumulate(client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, stream=True))
    assert finish == "tool_calls"
    assert text == ""
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert "<tool_call>" not in text

    # The tool result goes back; the final answer arrives.
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny", "temp": 21}'},
    ]
    final = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content == "It is sunny in Paris, 21 degrees."
    assert final.choices[0].message.tool_calls is None


def test_parallel_calls_and_text_before_them(client):
    messages = [{"role": "user", "content": "Weather in Paris and Berlin please"}]
    full = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    c = full.choices[0]
    assert c.message.content.strip() == "Let me check both."
    args = [json.loads(t.function.arguments) for t in c.message.tool_calls]
    assert args == [{"city": "Paris"}, {"city": "Berlin", "unit": "celsius"}]
    ids = [t.id for t in c.message.tool_calls]
    assert len(set(ids)) == 2
    text, _, calls, finish = accumulate(client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, stream=True))
    assert finish == "tool_calls"
    assert text.strip() == "Let me check both."
    assert [json.loads(x["arguments"]) for x in calls] == args


def test_unicode_arguments_survive(client):
    messages = [{"role": "user", "content": "Save a note for me"}]
    _, _, calls, finish = accumulate(client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, stream=True))
    assert finish == "tool_calls"
    assert json.loads(calls[0]["arguments"]) == {"text": 'naïve café 🚀 "quoted"'}


def test_without_tools_the_markup_is_plain_content(client):
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What is the weather?"}])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content.startswith("<tool_call>")


def test_reasoning_is_split_from_the_answer(client):
    messages = [{"role": "user", "content": "Think: what is 2 + 2?"}]
    r = client.chat.completions.create(model=MODEL, messages=messages)
    m = r.choices[0].message
    assert m.content.strip() == "The answer is 4."
    assert "2 + 2 = 4" in m.reasoning_content
    assert "<think>" not in m.content and "</think>" not in m.content
    assert r.usage.completion_tokens_details.reasoning_tokens > 0
    text, reasoning, _, finish = accumulate(client.chat.completions.create(
        model=MODEL, messages=messages, stream=True))
    assert finish == "stop"
    assert text.strip() == "The answer is 4."
    assert reasoning.strip() == m.reasoning_content.strip()


def test_bad_tool_choice_is_400(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "delete_everything"}})
    assert e.value.body["param"] == "tool_choice.function.name"


def test_tool_results_must_answer_a_call_and_schemas_must_be_schemas(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, tools=TOOLS, messages=[
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "call_nobody_made", "content": "42"}])
    assert e.value.body["param"] == "messages[1].tool_call_id"
    bad = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "strin"}}}}}]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, tools=bad,
                                       messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["param"] == "tools[0].function.parameters.properties.x.type"
