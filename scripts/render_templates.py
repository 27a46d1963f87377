#!/usr/bin/env python3
"""Render real chat templates with transformers to make weir's template parity goldens.

The templates in tests/data/templates/*.jinja come from the llama-cpp-python
sdist on PyPI (llama_cpp_python-0.3.36.tar.gz, under
vendor/llama.cpp/models/templates/), which copies them from the models'
Hugging Face repositories. Each is rendered by transformers' own
`apply_chat_template(..., tokenize=False)` (through a small in-memory
`PreTrainedTokenizerFast` that carries the template and its bos/eos tokens)
for a fixed set of conversations, and the text, or the error a template
raises, is written to tests/data/templates/goldens.json. tests/e2e/template_parity.rs
checks that weir renders every case byte for byte the same.

Each conversation is defined once, in the form transformers users pass to
`apply_chat_template` (the REFERENCE side, rendered here): tool-call
arguments as mappings, `tool` messages with the called function's `name`,
and, for the Mistral family (templates whose tool format weir detects as
Mistral, `mistral_ids` below), 9-character alphanumeric call ids. From it the
script derives the WIRE form that OpenAI clients (the OpenAI SDKs, OpenCode
through the AI SDK) send: arguments as `JSON.stringify` writes them (compact,
non-ASCII kept: `json.dumps(separators=(",", ":"), ensure_ascii=False)`),
`content: null` on calls without text, no `name` on tool messages, ids as
the server made them (`call_` + 24 hex digits). goldens.json stores both;
weir is fed the wire form, prepares it with
`weir::tokenize::conversation::for_template` and must render the same text.

Reproducibility: templates may call `strftime_now(...)` (the Llama 3.x ones
print today's date). This script pins transformers' clock to FIXED_NOW by
replacing the `datetime` that `transformers.utils.chat_template_utils`
reads, and records FIXED_NOW in goldens.json ("fixed_now"); the Rust test
gives the same instant to `ChatTemplate::with_fixed_now`.

Pinned versions: scripts/requirements-templates.txt (made with Python 3.11.7). Usage:

    python3 -m venv /tmp/tplvenv
    /tmp/tplvenv/bin/pip install -r scripts/requirements-templates.txt
    /tmp/tplvenv/bin/python scripts/render_templates.py [--templates-from DIR]

With --templates-from DIR (the unpacked sdist's models/templates folder) the
chosen templates are copied into tests/data/templates/ first; without it the
checked-in copies are rendered.
"""

import argparse
import datetime as _dt
import json
import shutil
import sys
from pathlib import Path

import jinja2
import tokenizers
import transformers
import transformers.utils.chat_template_utils as ctu
from transformers import PreTrainedTokenizerFast

FIXED_NOW = _dt.datetime(2025, 7, 26, 9, 30, 15)


class _FixedDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


ctu.datetime = _FixedDatetime

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tests" / "data" / "templates"

LLAMA3 = ("<|begin_of_text|>", "<|eot_id|>")
QWEN = (None, "<|im_end|>")
MISTRAL = ("<s>", "</s>")
DEEPSEEK = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")

# file name -> (bos_token, eos_token), as the models' tokenizer_config.json set them.
# The Mistral family (MISTRAL_FAMILY) is rendered with 9-character call ids; weir's
# parity test checks that it detects exactly these templates as Mistral.
TEMPLATES = {
    "Qwen-Qwen2.5-7B-Instruct.jinja": QWEN,
    "Qwen-Qwen3-0.6B.jinja": QWEN,
    "Qwen3-Coder.jinja": QWEN,
    "Qwen-QwQ-32B.jinja": QWEN,
    "Qwen3.5-4B.jinja": QWEN,
    "meta-llama-Llama-3.1-8B-Instruct.jinja": LLAMA3,
    "meta-llama-Llama-3.2-3B-Instruct.jinja": LLAMA3,
    "meta-llama-Llama-3.3-70B-Instruct.jinja": LLAMA3,
    "mistralai-Mistral-Nemo-Instruct-2407.jinja": MISTRAL,
    "Mistral-Small-3.2-24B-Instruct-2506.jinja": MISTRAL,
    "unsloth-mistral-Devstral-Small-2507.jinja": MISTRAL,
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja": DEEPSEEK,
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": DEEPSEEK,
    "deepseek-ai-DeepSeek-V3.1.jinja": DEEPSEEK,
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja": LLAMA3,
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": ("<|begin_of_text|>", "<|im_end|>"),
    "microsoft-Phi-3.5-mini-instruct.jinja": ("<s>", "<|endoftext|>"),
    "google-gemma-2-2b-it.jinja": ("<bos>", "<eos>"),
    "ibm-granite-granite-3.3-2B-Instruct.jinja": ("<|end_of_text|>", "<|end_of_text|>"),
    "fireworks-ai-llama-3-firefunction-v2.jinja": LLAMA3,
    "meetkai-functionary-medium-v3.1.jinja": LLAMA3,
    "meetkai-functionary-medium-v3.2.jinja": LLAMA3,
    "HuggingFaceTB-SmolLM3-3B.jinja": (None, "<|im_end|>"),
    "moonshotai-Kimi-K2.jinja": ("[BOS]", "[EOS]"),
    "GLM-4.6.jinja": (None, "<|endoftext|>"),
    "openai-gpt-oss-120b.jinja": ("<|startoftext|>", "<|return|>"),
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja": ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
    "MiniMax-M2.jinja": ("]~!b[", "[e~["),
}

# Templates weir detects as the Mistral tool format: their calls need 9-character ids.
MISTRAL_FAMILY = {
    "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    "Mistral-Small-3.2-24B-Instruct-2506.jinja",
    "unsloth-mistral-Devstral-Small-2507.jinja",
}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_files",
            "description": "Search the repository for a pattern.",
            "parameters": {
                "type": "object",
                "properties": {
                    "pattern": {"type": "string"},
                    "max_results": {"type": "integer", "minimum": 1, "default": 20},
                    "case_sensitive": {"type": "boolean"},
                    "threshold": {"type": "number", "default": 0.5},
                },
                "required": ["pattern"],
            },
        },
    },
]

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


# Ids in the form weir (and OpenAI) make them.
ID_1 = "call_0a1b2c3d4e5f60718293a4b5"
ID_2 = "call_9f8e7d6c5b4a39281706f5e4"
ID_3 = "call_00112233445566778899aabb"
ID_4 = "call_a0b1c2d3e4f5061728394a5b"

EDIT_TOOL = {
    "type": "function",
    "function": {
        "name": "edit_file",
        "description": "Replace text in a file.",
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "edits": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                        "required": ["old", "new"],
                    },
                },
                "opts": {"type": "object", "properties": {"dry": {"type": "boolean"}, "n": {"type": "number"}}},
            },
            "required": ["path", "edits"],
        },
    },
}
AGENT_TOOLS = TOOLS + [EDIT_TOOL]

# The nested, unicode and escape-laden arguments of issue 18, as JSON text.
NESTED_ARGS = json.loads(
    r'{"path": "src/naïve 🚀.rs", "edits": [{"old": "a\"b", "new": "c\\nd"}], "opts": {"dry": false, "n": 2.5}}'
)


def call(id, name, args):
    return {"id": id, "type": "function", "function": {"name": name, "arguments": args}}


def result(id, name, content):
    return {"role": "tool", "tool_call_id": id, "name": name, "content": content}


def tool_call_conversation(content=None):
    """Two parallel tool calls and their results. content=None is what the OpenAI SDK sends back (transformers drops it)."""
    return [
        SYSTEM,
        {"role": "user", "content": "What's the weather in Paris, and where is main defined?"},
        {
            "role": "assistant",
            "content": content,
            "tool_calls": [
                call(ID_1, "get_weather", {"city": "Paris", "unit": "celsius"}),
                call(ID_2, "search_files", {"pattern": "fn main", "max_results": 5}),
            ],
        },
        result(ID_1, "get_weather", '{"temperature": 21, "sky": "clear"}'),
        result(ID_2, "search_files", "src/main.rs:1: fn main() {"),
    ]


# name -> (reference messages, tools, add_generation_prompt, extra template variables, wire arguments)
# wire arguments: "string" (what OpenAI clients send) or "object" (a client that sends mappings).
CASES = {
    "system_user_gen": ([SYSTEM, {"role": "user", "content": "Hello!"}], None, True, {}),
    "system_user_nogen": ([SYSTEM, {"role": "user", "content": "Hello!"}], None, False, {}),
    "user_only_gen": ([{"role": "user", "content": "What is 2+2?"}], None, True, {}),
    "multi_turn": (
        [
            SYSTEM,
            {"role": "user", "content": "Hi, who are you?"},
            {"role": "assistant", "content": "I am an assistant.\nHow can I help?"},
            {"role": "user", "content": "Write a haiku about Rust."},
        ],
        None,
        True,
        {},
    ),
    "multi_turn_no_system_nogen": (
        [
            {"role": "user", "content": "Ping"},
            {"role": "assistant", "content": "Pong"},
            {"role": "user", "content": "Again"},
            {"role": "assistant", "content": "Pong again"},
        ],
        None,
        False,
        {},
    ),
    "tools_gen": (
        [SYSTEM, {"role": "user", "content": "What's the weather in Paris?"}],
        TOOLS,
        True,
        {},
    ),
    "tools_no_system_gen": (
        [{"role": "user", "content": "Find the main function."}],
        TOOLS,
        True,
        {},
    ),
    "tool_calls_string_args": (tool_call_conversation(), TOOLS, True, {}, "string"),
    "tool_calls_object_args": (tool_call_conversation(), TOOLS, True, {}, "object"),
    "tool_calls_empty_content_string_args": (tool_call_conversation(""), TOOLS, True, {}, "string"),
    "tool_calls_empty_content_object_args": (tool_call_conversation(""), TOOLS, True, {}, "object"),
    "single_tool_call": (
        [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": "", "tool_calls": [call("abc123XYZ", "get_weather", {"city": "Oslo"})]},
            result("abc123XYZ", "get_weather", "-3 C, snow"),
        ],
        TOOLS,
        True,
        {},
        "string",
    ),
    # Two round trips of an agent session: two calls in one turn, an answer,
    # then one more call and its result, ending on the generation prompt.
    "tool_round_trips": (
        [
            SYSTEM,
            {"role": "user", "content": "Weather in Paris and Oslo?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    call(ID_1, "get_weather", {"city": "Paris"}),
                    call(ID_2, "get_weather", {"city": "Oslo", "unit": "celsius"}),
                ],
            },
            result(ID_1, "get_weather", "18 C, clear"),
            result(ID_2, "get_weather", "4 C, rain"),
            {"role": "assistant", "content": "Paris: 18 C and clear. Oslo: 4 C and rain."},
            {"role": "user", "content": "Now find where the forecast is parsed."},
            {"role": "assistant", "content": None, "tool_calls": [call(ID_3, "search_files", {"pattern": "parse_forecast", "max_results": 3, "case_sensitive": True, "threshold": 0.25})]},
            result(ID_3, "search_files", "src/forecast.rs:12: fn parse_forecast(s: &str) -> Forecast {"),
        ],
        TOOLS,
        True,
        {},
        "string",
    ),
    "nested_unicode_args": (
        [
            SYSTEM,
            {"role": "user", "content": "Fix the quote in src/naïve 🚀.rs."},
            {"role": "assistant", "content": "", "tool_calls": [call(ID_1, "edit_file", NESTED_ARGS)]},
            result(ID_1, "edit_file", "Applied 1 edit to src/naïve 🚀.rs"),
        ],
        AGENT_TOOLS,
        True,
        {},
        "string",
    ),
    # A tool that failed: its result is the error text, and the model answers it.
    "tool_error": (
        [
            SYSTEM,
            {"role": "user", "content": "Search for TODO in the docs."},
            {"role": "assistant", "content": None, "tool_calls": [call(ID_4, "search_files", {"pattern": "TODO", "max_results": 20})]},
            result(ID_4, "search_files", "Error: ENOENT: no such file or directory, scandir 'docs/'"),
            {"role": "assistant", "content": "There is no docs/ folder in this repository."},
            {"role": "user", "content": "Search the whole repository then."},
        ],
        TOOLS,
        True,
        {},
        "string",
    ),
    # Earlier turns with reasoning, one of them calling a tool.
    "reasoning_with_tools": (
        [
            {"role": "user", "content": "Is it warmer in Paris than in Oslo?"},
            {
                "role": "assistant",
                "content": "",
                "reasoning_content": "I need both temperatures.",
                "tool_calls": [call(ID_1, "get_weather", {"city": "Paris"}), call(ID_2, "get_weather", {"city": "Oslo"})],
            },
            result(ID_1, "get_weather", "18 C"),
            result(ID_2, "get_weather", "4 C"),
            {"role": "assistant", "content": "Yes: 18 C against 4 C.", "reasoning_content": "18 > 4."},
            {"role": "user", "content": "And in Rome?"},
        ],
        TOOLS,
        True,
        {},
        "string",
    ),
    "unicode": (
        [
            {"role": "system", "content": "Réponds en français. 日本語もOK。"},
            {"role": "user", "content": "Ça va? 🦀🚀 «quotes» \"double\" 'single' \\ back\tslash"},
            {"role": "assistant", "content": "Très bien 😀 — 你好, мир!"},
            {"role": "user", "content": "  leading and trailing spaces  \n"},
        ],
        None,
        True,
        {},
    ),
    "content_parts": (
        [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "Part one."}, {"type": "text", "text": "Part two."}]},
        ],
        None,
        True,
        {},
    ),
    "reasoning_history": (
        [
            {"role": "user", "content": "What is 17*3?"},
            {"role": "assistant", "content": "51", "reasoning_content": "17*3 = 51."},
            {"role": "user", "content": "And 17*4?"},
        ],
        None,
        True,
        {},
    ),
    "thinking_disabled": (
        [{"role": "user", "content": "Quick answer: capital of France?"}],
        None,
        True,
        {"enable_thinking": False},
    ),
    "tools_with_kwargs": (
        [SYSTEM, {"role": "user", "content": "Search for TODO."}],
        TOOLS,
        True,
        {"enable_thinking": True, "reasoning_effort": "low"},
    ),
}


def wire_form(messages, args_style):
    """The conversation as OpenAI clients send it (see the module docs)."""
    out = []
    for m in json.loads(json.dumps(messages)):
        if m.get("role") == "assistant" and m.get("tool_calls"):
            if args_style == "string":
                for c in m["tool_calls"]:
                    # JSON.stringify: compact, non-ASCII kept.
                    c["function"]["arguments"] = json.dumps(
                        c["function"]["arguments"], separators=(",", ":"), ensure_ascii=False
                    )
        if m.get("role") == "tool":
            m.pop("name", None)
        out.append(m)
    return out


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def is_mistral_id(id):
    return len(id) == 9 and id.isascii() and id.isalnum()


def mistral_call_id(id, attempt=0):
    """weir's `conversation::mistral_call_id`: base 62 of FNV-1a 64 of the id, low digit first."""
    h = 0xCBF29CE484222325
    for b in (id if attempt == 0 else f"{id}#{attempt}").encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    digits = []
    for _ in range(9):
        digits.append(BASE62[h % 62])
        h //= 62
    return "".join(digits)


def mistral_ids(messages):
    """The reference conversation with weir's Mistral ids (`conversation::mistral_ids`):
    ids already 9 alphanumerics are kept and reserved; the others are mapped in order of
    appearance, a collision taking the next attempt."""
    messages = json.loads(json.dumps(messages))
    call_ids = [c["id"] for m in messages if m.get("role") == "assistant" for c in m.get("tool_calls") or []]
    taken = {i for i in call_ids if is_mistral_id(i)}
    mapping = {}
    for i in call_ids:
        if is_mistral_id(i) or i in mapping:
            continue
        attempt = 0
        made = mistral_call_id(i, attempt)
        while made in taken:
            attempt += 1
            made = mistral_call_id(i, attempt)
        taken.add(made)
        mapping[i] = made
    for m in messages:
        for c in m.get("tool_calls") or []:
            c["id"] = mapping.get(c["id"], c["id"])
        if m.get("role") == "tool":
            m["tool_call_id"] = mapping.get(m["tool_call_id"], m["tool_call_id"])
    return messages


def has_tool_ids(messages):
    return any(m.get("tool_calls") or m.get("role") == "tool" for m in messages)


def case_parts(parts):
    """(messages, tools, add_generation_prompt, extra, wire arguments style)."""
    messages, tools, agp, extra, *style = parts
    return messages, tools, agp, extra, (style[0] if style else "string")


def make_tokenizer(template, bos, eos):
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    specials = [t for t in (bos, eos) if t is not None]
    tok.add_special_tokens(specials)
    kwargs = {"tokenizer_object": tok, "chat_template": template}
    if bos is not None:
        kwargs["bos_token"] = bos
    if eos is not None:
        kwargs["eos_token"] = eos
    return PreTrainedTokenizerFast(**kwargs)


def render(tokenizer, messages, tools, add_generation_prompt, extra):
    try:
        text = tokenizer.apply_chat_template(
            messages, tools=tools, add_generation_prompt=add_generation_prompt, tokenize=False, **extra
        )
        return {"output": text}
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e)}
    except Exception as e:  # a template bug such as calling a method on None
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--templates-from", type=Path, help="models/templates folder of the llama-cpp-python sdist")
    args = ap.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if args.templates_from:
        for name in TEMPLATES:
            shutil.copyfile(args.templates_from / name, OUT_DIR / name)

    cases = {name: case_parts(parts) for name, parts in CASES.items()}
    templates = []
    for name, (bos, eos) in TEMPLATES.items():
        source = (OUT_DIR / name).read_text(encoding="utf-8")
        tokenizer = make_tokenizer(source, bos, eos)
        mistral = name in MISTRAL_FAMILY
        rendered = []
        for case, (messages, tools, agp, extra, _) in cases.items():
            reference = mistral_ids(messages) if mistral else json.loads(json.dumps(messages))
            result = render(tokenizer, reference, tools, agp, extra)
            rendered.append({"name": case, **result})
        templates.append(
            {"file": name, "bos_token": bos, "eos_token": eos, "mistral_ids": mistral, "cases": rendered}
        )
        errs = sum(1 for c in rendered if "error" in c)
        print(f"{name}: {len(rendered)} cases, {errs} raise", file=sys.stderr)

    conversations = {}
    for name, (m, t, agp, extra, args_style) in cases.items():
        conv = {"messages": m}
        if has_tool_ids(m):
            conv["mistral_messages"] = mistral_ids(m)
        conv.update(
            {
                "wire_messages": wire_form(m, args_style),
                "tools": t,
                "add_generation_prompt": agp,
                "extra": extra,
            }
        )
        conversations[name] = conv
    goldens = {
        "generator": "scripts/render_templates.py",
        "transformers": transformers.__version__,
        "jinja2": jinja2.__version__,
        "fixed_now": FIXED_NOW.isoformat(),
        "about": "messages: the reference conversation rendered by transformers (mistral_messages for "
        "templates with mistral_ids); wire_messages: the same conversation as OpenAI clients send it, "
        "which weir is fed",
        "conversations": conversations,
        "templates": templates,
    }
    out = OUT_DIR / "goldens.json"
    out.write_text(json.dumps(goldens, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
