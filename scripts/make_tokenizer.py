#!/usr/bin/env python3
"""Train weir's demo/test tokenizer -> assets/tokenizer/tokenizer.json.

A byte-level BPE tokenizer in the style of Qwen2 / GPT-2:
  * no normalizer
  * pre-tokenizer: Split(GPT-4/Qwen2 regex, isolated) + ByteLevel(no prefix space, no regex)
  * decoder: ByteLevel; post-processor: ByteLevel (trim_offsets=false)
  * all 256 byte symbols are in the base alphabet, so any UTF-8 text encodes
  * 16384 ids in total: 16377 trained BPE tokens + 7 added tokens at the end:
      <|endoftext|> <|im_start|> <|im_end|>              (special=true)
      <tool_call> </tool_call> <think> </think>          (special=false, as in Qwen2.5)

The training corpus is rebuilt offline from files shipped in the pinned PyPI
packages (scripts/requirements-models.txt): the source of `transformers` and
`torch`.  From those files we derive three kinds of text, in a fixed order:
  1. source code as is (Python),
  2. English prose: the docstrings of those files, dedented, as paragraphs,
  3. JSON: OpenAI-style tool schemas synthesised from the functions' signatures
     and docstrings, both pretty-printed and compact.
Everything is sorted and deterministic; training uses one thread.

Usage:  python scripts/make_tokenizer.py [--out assets/tokenizer]
"""
import argparse
import ast
import hashlib
import json
import os
import sys
import textwrap

# Deterministic training: one thread for the tokenizers (rayon) pool.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import tokenizers  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from tokenizers import AddedToken  # noqa: E402

VOCAB_SIZE = 16384
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
NON_SPECIAL_ADDED = ["<tool_call>", "</tool_call>", "<think>", "</think>"]
# GPT-4 / Qwen2 pre-tokenization regex (exactly as in Qwen2's tokenizer.json).
SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Which files of the pinned packages make up the corpus (relative to the package dir).
def _corpus_files():
    import torch
    import transformers

    tf_root = os.path.dirname(transformers.__file__)
    th_root = os.path.dirname(torch.__file__)
    picks = []

    def walk(root, rel, pred):
        base = os.path.join(root, rel)
        out = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fn in sorted(filenames):
                p = os.path.join(dirpath, fn)
                r = os.path.relpath(p, root)
                if pred(r):
                    out.append(p)
        return sorted(out)

    # transformers: library core (not per-model code) ...
    picks += walk(tf_root, ".", lambda r: r.endswith(".py") and not r.startswith("models" + os.sep))
    # ... plus every model's configuration file (docstring-heavy English)
    picks += walk(tf_root, "models", lambda r: os.path.basename(r).startswith("configuration_") and r.endswith(".py"))
    # ... plus the modeling code of a handful of decoder-only LLMs
    llm = ("llama", "mistral", "qwen2", "qwen3", "gemma", "phi3", "gpt2")
    picks += walk(tf_root, "models", lambda r: r.split(os.sep)[1] in llm and os.path.basename(r).startswith(("modeling_", "tokenization_")))
    # torch: the big prose docstring files, nn modules, optimizers, functional
    for rel in ("_torch_docs.py", "_tensor_docs.py", "functional.py", "nn/functional.py", "serialization.py"):
        p = os.path.join(th_root, rel)
        if os.path.exists(p):
            picks.append(p)
    picks += walk(th_root, "nn/modules", lambda r: r.endswith(".py"))
    picks += walk(th_root, "optim", lambda r: r.endswith(".py"))
    picks += walk(th_root, "utils/data", lambda r: r.endswith(".py"))
    seen, out = set(), []
    for p in picks:
        if p not in seen and "__pycache__" not in p:
            seen.add(p)
            out.append(p)
    return out, tf_root, th_root


def _docstrings_and_schemas(src):
    """Returns (list of prose paragraphs, list of tool-schema dicts) for one source file."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return [], []
    prose, schemas = [], []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        doc = ast.get_docstring(node, clean=True)
        if doc:
            prose.append(doc)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and doc and not node.name.startswith("_"):
            args = [a for a in node.args.args + node.args.kwonlyargs if a.arg not in ("self", "cls")]
            n_def = len(node.args.defaults)
            pos_required = [a.arg for a in node.args.args if a.arg not in ("self", "cls")]
            pos_required = pos_required[: max(0, len(pos_required) - n_def)]
            kw_required = [a.arg for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is None]
            props = {}
            for a in args:
                ann = ast.unparse(a.annotation) if a.annotation is not None else ""
                typ = "string"
                if ann in ("int",):
                    typ = "integer"
                elif ann in ("float",):
                    typ = "number"
                elif ann in ("bool",):
                    typ = "boolean"
                elif ann.startswith(("list", "List", "tuple", "Tuple")):
                    typ = "array"
                elif ann.startswith(("dict", "Dict")):
                    typ = "object"
                prop = {"type": typ}
                # The line of the docstring that mentions the argument, if any.
                for line in doc.splitlines():
                    s = line.strip()
                    if s.startswith(a.arg) and len(s) > len(a.arg) + 3:
                        prop["description"] = s[len(a.arg):].lstrip(" :(`").strip()[:200]
                        break
                props[a.arg] = prop
            first = doc.strip().split("\n\n")[0].replace("\n", " ")[:300]
            schemas.append(
                {
                    "type": "function",
                    "function": {
                        "name": node.name,
                        "description": first,
                        "parameters": {"type": "object", "properties": props, "required": pos_required + kw_required},
                    },
                }
            )
    return prose, schemas


def build_corpus():
    files, tf_root, th_root = _corpus_files()
    code, prose, js = [], [], []
    for p in files:
        with open(p, "r", encoding="utf-8") as f:
            src = f.read()
        code.append(src)
        d, s = _docstrings_and_schemas(src)
        prose.extend(textwrap.dedent(x).strip() + "\n" for x in d)
        for i, sch in enumerate(s):
            # alternate pretty / compact JSON, like tool lists in prompts and tool calls in outputs
            if i % 2 == 0:
                js.append(json.dumps(sch, indent=2, ensure_ascii=False) + "\n")
            else:
                js.append(json.dumps(sch, ensure_ascii=False) + "\n")
                call = {"name": sch["function"]["name"], "arguments": {k: "value" for k in sch["function"]["parameters"]["required"]}}
                js.append("<tool_call>\n" + json.dumps(call, ensure_ascii=False) + "\n</tool_call>\n")
    # Weighting: code dominates the raw files, so prose and JSON are counted twice.
    texts = code + prose + js + prose + js
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
    stats = {
        "files": len(files),
        "code_chars": sum(map(len, code)),
        "prose_chars": sum(map(len, prose)),
        "json_chars": sum(map(len, js)),
        "sha256": h.hexdigest(),
    }
    return texts, stats


def make_tokenizer():
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False, fuse_unk=False, ignore_merges=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    return tok


# Held-out sample used to report characters per token (not part of the corpus).
SAMPLE = r'''You are a coding agent running in a terminal. You help the user with software engineering tasks: reading files, editing code, running tests and explaining what you changed. Be concise. When you need to inspect the repository, call one of the tools below instead of guessing. Never invent file contents; if a command fails, read the error message and try again with a fix.

# Tools

You may call one or more functions to assist with the user query.
{"type": "function", "function": {"name": "read_file", "description": "Read a text file from the workspace and return its contents with line numbers.", "parameters": {"type": "object", "properties": {"path": {"type": "string", "description": "Path of the file, relative to the repository root."}, "offset": {"type": "integer", "description": "First line to return (1-based)."}, "limit": {"type": "integer", "description": "Maximum number of lines to return."}}, "required": ["path"]}}}
{"type": "function", "function": {"name": "run_command", "description": "Run a shell command and return its exit status, stdout and stderr.", "parameters": {"type": "object", "properties": {"command": {"type": "string", "description": "The command line to execute."}, "timeout_ms": {"type": "integer", "description": "Kill the command after this many milliseconds."}}, "required": ["command"]}}}

The user says: the integration tests started failing after yesterday's refactor of the HTTP layer. Please find out why, fix the bug, and make sure the whole test suite passes before you finish. Explain the root cause in two or three sentences.
{"id": "call_0", "type": "function", "function": {"name": "run_command", "arguments": "{\"command\": \"cargo test --workspace 2>&1 | tail -n 40\", \"timeout_ms\": 120000}"}}
'''


ENCODING_CASES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog. It's 12345 o'clock; we'll see.",
    "def f(x):\n    return x * 2\n\n\n    # trailing spaces   \n\tTab\r\nCRLF",
    '{"name": "read_file", "arguments": {"path": "src/main.rs", "limit": 100}}',
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call><think>hmm</think><|endoftext|>",
    "héllo wörld — naïve café; 日本語のテキスト; Ελληνικά; русский; 🚀🦀👨‍👩‍👧",
    "\u0000\u0001\x7f\u00a0\u200b\ufeff zero-width and control chars",
    "   leading spaces and     runs of spaces   ",
    "<|im_end|", "<|im_end|><|im_end|>",
]


def main():
    ap = argparse.ArgumentParser()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(repo, "assets", "tokenizer"))
    args = ap.parse_args()

    texts, stats = build_corpus()
    print("corpus:", json.dumps(stats), file=sys.stderr)

    tok = make_tokenizer()
    n_added = len(SPECIAL) + len(NON_SPECIAL_ADDED)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - n_added,
        min_frequency=2,
        show_progress=False,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        max_token_length=32,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    assert tok.get_vocab_size(with_added_tokens=False) == VOCAB_SIZE - n_added, tok.get_vocab_size()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False) for t in SPECIAL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False, lstrip=False, rstrip=False, single_word=False) for t in NON_SPECIAL_ADDED])
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB_SIZE
    for i, t in enumerate(SPECIAL + NON_SPECIAL_ADDED):
        assert tok.token_to_id(t) == VOCAB_SIZE - n_added + i

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "tokenizer.json")
    # The Python ByteLevel decoder constructor ignores its arguments and serialises the defaults
    # (add_prefix_space/trim_offsets/use_regex = true); write them as Qwen2's tokenizer.json has them.
    # (The ByteLevel decoder does not use these fields.)
    d = json.loads(tok.to_str())
    d["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    tok = Tokenizer.from_str(json.dumps(d))
    tok.save(path, pretty=False)

    # Sanity checks: round trip of arbitrary UTF-8, chars/token on the held-out sample.
    tok2 = Tokenizer.from_file(path)
    for s in [SAMPLE, "héllo wörld — 日本語のテキスト 🚀🦀 \u0000\x7f\t\r\n", "<|im_start|>user\nhi<|im_end|>\n<tool_call>{}</tool_call>"]:
        ids = tok2.encode(s, add_special_tokens=False).ids
        assert tok2.decode(ids, skip_special_tokens=False) == s, s
    n = len(tok2.encode(SAMPLE, add_special_tokens=False).ids)

    # Reference encodings for weir's tokenizer tests.
    cases = []
    for s in ENCODING_CASES:
        enc = tok2.encode(s, add_special_tokens=False)
        cases.append({"text": s, "ids": enc.ids, "tokens": enc.tokens})
    with open(os.path.join(args.out, "encodings.json"), "w", encoding="utf-8") as f:
        f.write('{"tokenizers_version": %s, "add_special_tokens": false, "cases": [\n' % json.dumps(tokenizers.__version__))
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    size = os.path.getsize(path)
    print(f"wrote {path}: vocab {tok2.get_vocab_size()} ({size} bytes); sample {len(SAMPLE)} chars -> {n} tokens = "
          f"{len(SAMPLE) / n:.3f} chars/token; tokenizers {tokenizers.__version__}")


if __name__ == "__main__":
    main()
