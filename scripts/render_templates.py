#!/usr/bin/env python3
"""Render real chat templates with transformers to make weir's template parity goldens.

The templates in tests/data/templates/*.jinja come from the llama-cpp-python
sdist on PyPI (llama_cpp_python-0.3.36.tar.gz, under
vendor/llama.cpp/models/templates/), which copies them from the models'
Hugging Face repositories. Each is rendered by transformers' own
`apply_chat_template(..., tokenize=False)` (through a small in-memory
`PreTrainedTokenizerFast` that carries the template and its bos/eos tokens)
for a fixed set of conversations, and the text, or the error a template
raises, is written to tests/data/templates/goldens.json. tests/template_parity.rs
checks that weir renders every case byte for byte the same.

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
TEMPLATES = {
    "Qwen-Qwen2.5-7B-Instruct.jinja": QWEN,
    "Qwen-Qwen3-0.6B.jinja": QWEN,
    "Qwen3-Coder.jinja": QWEN,
    "Qwen-QwQ-32B.jinja": QWEN,
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


def tool_call_conversation(args_as_string, content=None):
    """Two parallel tool calls and their results. content=None is what OpenAI clients send (transformers drops it)."""
    args1 = {"city": "Paris", "unit": "celsius"}
    args2 = {"pattern": "fn main", "max_results": 5}
    if args_as_string:
        args1, args2 = json.dumps(args1), json.dumps(args2)
    return [
        SYSTEM,
        {"role": "user", "content": "What's the weather in Paris, and where is main defined?"},
        {
            "role": "assistant",
            "content": content,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": args1}},
                {"id": "call_2", "type": "function", "function": {"name": "search_files", "arguments": args2}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21, "sky": "clear"}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "src/main.rs:1: fn main() {"},
    ]


# name -> (messages, tools, add_generation_prompt, extra template variables)
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
    "tool_calls_string_args": (tool_call_conversation(True), TOOLS, True, {}),
    "tool_calls_object_args": (tool_call_conversation(False), TOOLS, True, {}),
    "tool_calls_empty_content_string_args": (tool_call_conversation(True, ""), TOOLS, True, {}),
    "tool_calls_empty_content_object_args": (tool_call_conversation(False, ""), TOOLS, True, {}),
    "single_tool_call": (
        [
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "abc123XYZ",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Oslo"}},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "abc123XYZ", "name": "get_weather", "content": "-3 C, snow"},
        ],
        TOOLS,
        True,
        {},
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

    templates = []
    for name, (bos, eos) in TEMPLATES.items():
        source = (OUT_DIR / name).read_text(encoding="utf-8")
        tokenizer = make_tokenizer(source, bos, eos)
        cases = []
        for case, (messages, tools, agp, extra) in CASES.items():
            result = render(tokenizer, json.loads(json.dumps(messages)), tools, agp, extra)
            cases.append({"name": case, **result})
        templates.append({"file": name, "bos_token": bos, "eos_token": eos, "cases": cases})
        errs = sum(1 for c in cases if "error" in c)
        print(f"{name}: {len(cases)} cases, {errs} raise", file=sys.stderr)

    goldens = {
        "generator": "scripts/render_templates.py",
        "transformers": transformers.__version__,
        "jinja2": jinja2.__version__,
        "fixed_now": FIXED_NOW.isoformat(),
        "conversations": {
            name: {"messages": m, "tools": t, "add_generation_prompt": agp, "extra": extra}
            for name, (m, t, agp, extra) in CASES.items()
        },
        "templates": templates,
    }
    out = OUT_DIR / "goldens.json"
    out.write_text(json.dumps(goldens, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
