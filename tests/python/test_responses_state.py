"""What the server keeps of a Responses API conversation, through the
official OpenAI SDK: the input items of a stored response (paged), a
stored response streamed again (`GET ...?stream=true`), a
response cancelled while it streams, one still in progress (retrieved,
refused as a continuation), a conversation that continues after the server
restarts, and retention by age and per-project count.
"""

import os
import threading
import time

import httpx
import openai
import pytest
from conftest import Weir

MODEL = "weir-demo"
HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "data", "tools_script.json")

TOOLS = [{
    "type": "function", "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False},
}]


def sdk(server: Weir) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def scripted():
    server = Weir("--backend", "sim", "--sim-mode", "script", "--sim-script", SCRIPT,
                  "--sim-decode-step-us", "200", "--num-kv-blocks", "2048")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def slow():
    # Random tokens at 50 per second: a response that runs until stopped.
    server = Weir("--backend", "sim", "--sim-mode", "random",
                  "--sim-decode-step-us", "20000", "--num-kv-blocks", "2048")
    yield server
    server.stop()


def test_input_items_list_what_each_turn_was_given(scripted):
    client = sdk(scripted)
    first = client.responses.create(model=MODEL, input="What is the weather in Paris?",
                                    tools=TOOLS)
    [call] = [o for o in first.output if o.type == "function_call"]
    second = client.responses.create(
        model=MODEL, previous_response_id=first.id, tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
               {"role": "user", "content": [{"type": "input_text", "text": "Thanks."}]}])
    items = client.responses.input_items.list(first.id)
    [message] = items.data
    assert message.type == "message" and message.role == "user"
    assert message.content[0].type == "input_text"
    assert message.content[0].text == "What is the weather in Paris?"
    assert message.id.startswith("msg_")
    # A continuation lists its own turn's items, newest first by default.
    page = client.responses.input_items.list(second.id)
    assert [i.type for i in page.data] == ["message", "function_call_output"]
    assert page.data[1].call_id == call.call_id and page.data[1].output == "sunny"
    assert page.first_id == page.data[0].id and page.has_more is False
    # Paged one at a time, oldest first: the SDK's iterator follows `after`.
    ids = [i.id for i in client.responses.input_items.list(second.id, order="asc", limit=1)]
    assert ids == [page.data[1].id, page.data[0].id]
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.input_items.list(second.id, limit=1000)
    assert e.value.body["param"] == "limit"
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_nope")


def test_item_references_name_stored_items(scripted):
    client = sdk(scripted)
    first = client.responses.create(model=MODEL, input="What is the weather in Paris?",
                                    tools=TOOLS)
    [asked] = client.responses.input_items.list(first.id).data
    [call] = [o for o in first.output if o.type == "function_call"]
    # The question and the call by reference, the call's output in full:
    # the same conversation as sending them all.
    second = client.responses.create(model=MODEL, tools=TOOLS, input=[
        {"type": "item_reference", "id": asked.id},
        {"type": "item_reference", "id": call.id},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.output_text == "It is sunny in Paris, 21 degrees."
    listed = client.responses.input_items.list(second.id, order="asc").data
    assert [i.type for i in listed] == ["message", "function_call", "function_call_output"]
    for missing in ["msg_nope", call.id[:-2] + "99", "fc_" + "0" * 34]:
        with pytest.raises(openai.BadRequestError) as e:
            client.responses.create(model=MODEL, input=[
                {"type": "message", "role": "user", "content": "hi"},
                {"type": "item_reference", "id": missing}])
        assert e.value.body["param"] == "input[1].id", missing


def collapsed(types):
    """Event types with each run of one type kept once (a live stream has a
    delta per token, a replay one per item)."""
    out = []
    for t in types:
        if not out or out[-1] != t:
            out.append(t)
    return out


def test_a_stored_response_streams_again(scripted):
    client = sdk(scripted)
    with client.responses.stream(model=MODEL, input="What is the weather in Paris?",
                                 tools=TOOLS) as stream:
        live = [e for e in stream]
        final = stream.get_final_response()
    replayed = list(client.responses.retrieve(final.id, stream=True))
    assert collapsed([e.type for e in replayed]) == collapsed([e.type for e in live])
    assert [e.sequence_number for e in replayed] == list(range(len(replayed)))
    assert replayed[0].type == "response.created"
    assert replayed[0].response.status == "in_progress" and replayed[0].response.output == []
    assert replayed[-1].type == "response.completed"
    assert replayed[-1].response.model_dump() == client.responses.retrieve(final.id).model_dump()
    # The stream helper adds `parsed_arguments` to the live calls; the rest
    # is the same.
    ended = live[-1].response.model_dump()
    for item in ended["output"]:
        item.pop("parsed_arguments", None)
    assert replayed[-1].response.model_dump() == ended
    done = [e.item.id for e in replayed if e.type == "response.output_item.done"]
    assert done == [o.id for o in final.output]
    # Picking up after an event: only what followed it.
    rest = list(client.responses.retrieve(final.id, stream=True, starting_after=2))
    assert [e.sequence_number for e in rest] == list(range(3, len(replayed)))


def test_a_streaming_response_is_cancelled_from_another_connection(slow):
    client = sdk(slow)
    stream = client.responses.create(model=MODEL, input="Tell me everything.",
                                     max_output_tokens=3000, stream=True)
    events = iter(stream)
    created = next(events)
    assert created.type == "response.created"
    rid = created.response.id
    deltas = 0
    for event in events:
        if event.type == "response.output_text.delta":
            deltas += 1
            if deltas == 5:
                break
    # While it runs: retrieved as in progress, not replayed, and no
    # continuation yet.
    assert client.responses.retrieve(rid).status == "in_progress"
    with pytest.raises(openai.BadRequestError):
        list(client.responses.retrieve(rid, stream=True))
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=MODEL, previous_response_id=rid, input="and?")
    assert e.value.body["param"] == "previous_response_id"
    assert "in progress" in e.value.body["message"]

    result = {}
    reader = threading.Thread(target=lambda: result.update(last=list(events)[-1]))
    reader.start()
    cancelled = client.responses.cancel(rid)
    reader.join(timeout=30)
    assert cancelled.id == rid and cancelled.status == "cancelled"
    assert 5 <= cancelled.usage.output_tokens < 3000
    last = result["last"]
    assert last.type == "response.incomplete" and last.response.status == "cancelled"
    assert last.response.usage.output_tokens == cancelled.usage.output_tokens
    # Kept as it ended; a second cancel is refused, an unknown id is a 404.
    kept = client.responses.retrieve(rid)
    assert kept.status == "cancelled" and kept.output_text == cancelled.output_text
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(rid)
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_nope")
    # The server is free again: nothing is left running.
    done = client.responses.create(model=MODEL, input="Hi", max_output_tokens=4)
    assert done.status == "incomplete" and done.usage.output_tokens == 4


def test_a_conversation_continues_after_a_restart(tmp_path):
    env = {"WEIR_DB": str(tmp_path / "weir.db")}
    args = ("--backend", "sim", "--sim-mode", "script", "--sim-script", SCRIPT,
            "--sim-decode-step-us", "200")
    server = Weir(*args, env=env)
    try:
        first = sdk(server).responses.create(model=MODEL, input="What is the weather in Paris?",
                                             tools=TOOLS)
    finally:
        server.stop()
    [call] = [o for o in first.output if o.type == "function_call"]
    server = Weir(*args, env=env)
    try:
        client = sdk(server)
        assert client.responses.retrieve(first.id).model_dump() == first.model_dump()
        second = client.responses.create(
            model=MODEL, previous_response_id=first.id, tools=TOOLS,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
        assert second.output_text == "It is sunny in Paris, 21 degrees."
        assert second.usage.input_tokens > first.usage.input_tokens
    finally:
        server.stop()


def metric(server: Weir, name: str) -> float:
    text = httpx.get(server.base + "/metrics", timeout=10).text
    values = [float(line.split()[-1]) for line in text.splitlines()
              if line.startswith(name + " ") or line.startswith(name + "{")]
    assert values, f"{name} not in /metrics"
    return sum(values)


def wait_for(check, timeout=15.0):
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)


def test_retention_deletes_by_age_and_per_project_count():
    server = Weir("--backend", "sim", "--sim-mode", "script", "--sim-script", SCRIPT,
                  "--sim-decode-step-us", "200", "--responses-max-age", "4s",
                  "--responses-max-per-project", "2", "--responses-sweep-every", "1s")
    try:
        client = sdk(server)
        made = [client.responses.create(model=MODEL, input=f"Hello {i}") for i in range(3)]

        def gone(r):
            try:
                client.responses.retrieve(r.id)
                return False
            except openai.NotFoundError:
                return True
        # Past the count: the oldest goes at the next sweep, the newest two stay.
        wait_for(lambda: gone(made[0]))
        assert not gone(made[1]) and not gone(made[2])
        assert metric(server, "weir:stored_responses") == 2
        assert metric(server, "weir:stored_responses_bytes") > 0
        with pytest.raises(openai.BadRequestError) as e:
            client.responses.create(model=MODEL, previous_response_id=made[0].id, input="again")
        assert e.value.code == "previous_response_not_found"
        # Past the age: all of them.
        wait_for(lambda: gone(made[1]) and gone(made[2]))
        wait_for(lambda: metric(server, "weir:stored_responses") == 0)
        assert metric(server, "weir:stored_responses_expired_total") == 3
        # Nothing of theirs is held in the KV cache, and the server serves on.
        assert metric(server, "vllm:kv_cache_usage_perc") == 0
        assert client.responses.create(model=MODEL, input="Hello").status == "completed"
    finally:
        server.stop()
