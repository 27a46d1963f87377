#!/usr/bin/env python3
"""Create weir's tiny random test models and their golden outputs -> tests/models/<name>/.

Needs assets/tokenizer/tokenizer.json (scripts/make_tokenizer.py) and the pinned packages of
scripts/requirements-models.txt.  Everything runs on CPU with fixed seeds; a rerun writes the
same bytes.

Each model directory holds what `save_pretrained` writes (config.json, generation_config.json,
*.safetensors [+ index], tokenizer.json, tokenizer_config.json, chat_template.jinja) plus
golden.json.  Some config.json files are rewritten after saving into the older config form
(top-level `rope_theta` + `rope_scaling`, `torch_dtype`), see OLD_FORM below; every directory is
re-loaded with transformers from disk and the goldens are computed from that reloaded model.

Usage:  python scripts/make_test_models.py [--out tests/models] [--only name,name]
"""
import argparse
import json
import math
import os
import shutil
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER_JSON = os.path.join(REPO, "assets", "tokenizer", "tokenizer.json")
SEED = 1234
N_NEW = 24
TOP_K = 5
MIN_MARGIN = 1e-2  # stricter than needed (1e-3), so that exact greedy matching is a fair test
INIT_STD = 0.25  # much larger than the usual 0.02, so that logits are decisive
FINAL_NORM_SCALE = 5.0  # and the final RMSNorm weight is ~5, which scales the logits by ~5

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

# ----------------------------------------------------------------------------------------------
# Chat template: ChatML with tools, structured like Qwen2.5-Instruct's template (written anew).
# `tool_call.arguments` may be a dict (HF convention, rendered with tojson) or an already
# serialised JSON string (OpenAI wire format, rendered as is).
# ----------------------------------------------------------------------------------------------
CHAT_TEMPLATE = """{%- set default_system = 'You are a helpful assistant.' %}
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content }}
    {%- else %}
        {{- default_system }}
    {%- endif %}
    {{- '\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}
    {%- for tool in tools %}
        {{- '\\n' }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{"name": <function-name>, "arguments": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\n' + default_system + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == 'user' or (message.role == 'system' and not loop.first) or (message.role == 'assistant' and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + (message.content or '') + '<|im_end|>\\n' }}
    {%- elif message.role == 'assistant' %}
        {{- '<|im_start|>assistant' }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' + tool_call.name + '", "arguments": ' }}
            {%- if tool_call.arguments is string %}
                {{- tool_call.arguments }}
            {%- else %}
                {{- tool_call.arguments | tojson }}
            {%- endif %}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == 'tool' %}
        {%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# ----------------------------------------------------------------------------------------------
# Prompts.  Each slot has alternatives; the first whose greedy run has min_margin >= MIN_MARGIN
# is used (per model).
# ----------------------------------------------------------------------------------------------
LONG_TEXT = (
    "You are an autonomous coding agent working inside a Git repository. You can read files, search the "
    "code base, run shell commands and edit files. Work step by step: first understand the task, then look "
    "at the relevant code, then make the smallest change that fixes the problem, and finally run the tests. "
    "Do not guess the contents of a file that you have not read. If a command fails, read its error output "
    "carefully before trying again. When you are done, summarise what you changed and why.\n\n"
    "Available tools:\n"
    '{"type": "function", "function": {"name": "read_file", "description": "Read a file and return its '
    'contents with line numbers.", "parameters": {"type": "object", "properties": {"path": {"type": '
    '"string", "description": "Path relative to the repository root."}, "offset": {"type": "integer"}, '
    '"limit": {"type": "integer"}}, "required": ["path"]}}}\n'
    '{"type": "function", "function": {"name": "run_command", "description": "Run a shell command and '
    'return its exit code, stdout and stderr.", "parameters": {"type": "object", "properties": {"command": '
    '{"type": "string"}, "timeout_ms": {"type": "integer", "description": "Kill the command after this '
    'many milliseconds."}}, "required": ["command"]}}}\n\n'
    "def parse_header(line: str) -> tuple[str, str]:\n"
    '    """Split an HTTP header line into a (name, value) pair."""\n'
    '    name, _, value = line.partition(":")\n'
    "    return name.strip().lower(), value.strip()\n\n"
    "The user reports: requests with a Content-Length header larger than 2 GiB are rejected with a 400 "
    "error, although the server is configured to accept bodies of up to 8 GiB. Find the bug and fix it."
)

CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "run_command",
            "description": "Run a shell command in the repository and return its output.",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "string", "description": "The command line to run."}},
                "required": ["command"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a text file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["path"],
            },
        },
    },
]


def chat_tools_messages(user):
    return [
        {"role": "system", "content": "You are a coding agent. Use the tools to inspect and change the repository."},
        {"role": "user", "content": user},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "run_command", "arguments": {"command": "cargo test -q"}}}],
        },
        {"role": "tool", "content": "test result: FAILED. 41 passed; 1 failed; 0 ignored"},
    ]


_VARIANTS = ["", " Then", "\n", " Note:", " (see below)", "\n\n#", " Also,", " Next:", " Done.", " OK"]
SLOTS = [
    ("single_token", [{"text": w} for w in ["Hello", "The", "def", "import", "return", "class", "self", "function"]]),
    ("short_sentence", [{"text": "The quick brown fox jumps over the lazy dog." + v} for v in _VARIANTS]),
    ("code", [{"text": "def fibonacci(n):\n    if n < 2:\n        return n\n" + v} for v in _VARIANTS]),
    ("long_prompt", [{"text": LONG_TEXT + v} for v in _VARIANTS]),
    ("chat_tools", [{"messages": chat_tools_messages("Run the test suite and tell me what fails." + v), "tools": CHAT_TOOLS}
                    for v in _VARIANTS]),
    ("chat_plain", [{"messages": [{"role": "user", "content": "What is the capital of France?" + v}]} for v in _VARIANTS]),
]

# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------
V = 16384
EOT, IM_START, IM_END = V - 7, V - 6, V - 5  # <|endoftext|>, <|im_start|>, <|im_end|>
COMMON = dict(vocab_size=V, num_hidden_layers=2, intermediate_size=128, rms_norm_eps=1e-6,
              initializer_range=INIT_STD, bos_token_id=EOT, eos_token_id=IM_END, pad_token_id=EOT)

MODELS = [
    dict(
        name="llama-gqa",
        cls=LlamaForCausalLM,
        config=LlamaConfig(
            hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            max_position_embeddings=512, tie_word_embeddings=False,
            rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
            **COMMON),
        dtype=torch.float32,
        old_form=True,
    ),
    dict(
        name="qwen2-bias",
        cls=Qwen2ForCausalLM,
        config=Qwen2Config(
            hidden_size=32, num_attention_heads=2, num_key_value_heads=1,
            max_position_embeddings=512, tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, **COMMON),
        dtype=torch.float32,
        old_form=True,
        # As in real Qwen2.5 configs: a sliding_window value is present but use_sliding_window is false,
        # so it must be ignored (transformers sets it to None).
        old_form_extra={"sliding_window": 32, "use_sliding_window": False, "max_window_layers": 28},
    ),
    dict(
        name="qwen2-bf16",
        cls=Qwen2ForCausalLM,
        config=Qwen2Config(
            hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=512, tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, **COMMON),
        dtype=torch.bfloat16,
        old_form=False,
    ),
    dict(
        name="qwen3-qknorm",
        cls=Qwen3ForCausalLM,
        config=Qwen3Config(
            hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            max_position_embeddings=512, tie_word_embeddings=True,
            rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 8.0,
                             "original_max_position_embeddings": 64}, **COMMON),
        dtype=torch.float32,
        old_form=False,
    ),
    dict(
        name="mistral",
        cls=MistralForCausalLM,
        config=MistralConfig(
            hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            max_position_embeddings=512, tie_word_embeddings=True, sliding_window=128,
            rope_parameters={"rope_type": "linear", "rope_theta": 1000000.0, "factor": 2.0}, **COMMON),
        dtype=torch.float32,
        old_form=True,
        old_form_rope_key="type",  # the oldest spelling: rope_scaling = {"type": "linear", ...}
    ),
    dict(
        name="llama-sharded",
        cls=LlamaForCausalLM,
        config=LlamaConfig(
            hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            max_position_embeddings=512, tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, **COMMON),
        dtype=torch.float16,
        old_form=False,
        max_shard_size="40KB",
    ),
]


def randomize(model, seed):
    """Default init is N(0, initializer_range) for linear/embedding weights, but norms are 1 and biases 0:
    perturb those too, so that an engine ignoring them fails the goldens."""
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name == "model.norm.weight":
                # final norm scaled up: larger logits, so top-1/top-2 gaps are larger
                p.copy_(FINAL_NORM_SCALE * (1.0 + 0.2 * torch.randn(p.shape, generator=g)))
            elif name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


def dump_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def to_old_form(path, spec):
    """Rewrite a saved config.json into the pre-transformers-5 form."""
    with open(path) as f:
        cfg = json.load(f)
    rp = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rp.pop("rope_theta")
    if rp.get("rope_type") == "default" and len(rp) == 1:
        cfg["rope_scaling"] = None
    else:
        key = spec.get("old_form_rope_key", "rope_type")
        t = rp.pop("rope_type")
        cfg["rope_scaling"] = {key: t, **rp}
    cfg["torch_dtype"] = cfg.pop("dtype")
    cfg.pop("layer_types", None)
    cfg.update(spec.get("old_form_extra", {}))
    dump_json(path, cfg)


def tokenizer_config_to_old_form(d):
    """Rewrite tokenizer_config.json the way transformers 4.x wrote it for a PreTrainedTokenizerFast:
    added_tokens_decoder, additional_special_tokens, the chat template inline (no chat_template.jinja)."""
    path = os.path.join(d, "tokenizer_config.json")
    with open(path) as f:
        cfg = json.load(f)
    with open(TOKENIZER_JSON) as f:
        added = json.load(f)["added_tokens"]
    with open(os.path.join(d, "chat_template.jinja")) as f:
        template = f.read()
    os.remove(os.path.join(d, "chat_template.jinja"))
    cfg.pop("backend", None)
    cfg["additional_special_tokens"] = cfg.pop("extra_special_tokens")
    cfg["added_tokens_decoder"] = {
        str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
        for t in added
    }
    cfg["chat_template"] = template
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    dump_json(path, cfg)


def make_tokenizer():
    tok = PreTrainedTokenizerFast(
        tokenizer_file=TOKENIZER_JSON,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        model_max_length=512,
        clean_up_tokenization_spaces=False,
        errors="replace",
        split_special_tokens=False,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def generation_config():
    return GenerationConfig(
        bos_token_id=EOT,
        pad_token_id=EOT,
        eos_token_id=[IM_END, EOT],
        do_sample=True,
        temperature=0.7,
        top_p=0.8,
        top_k=20,
    )


@torch.no_grad()
def greedy(model, ids):
    seq = list(ids)
    out, tops, margins = [], [], []
    for _ in range(N_NEW):
        logits = model(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1].float()
        lp = torch.log_softmax(logits, dim=-1)
        v, i = torch.topk(lp, TOP_K)
        nxt = int(i[0])
        out.append(nxt)
        tops.append([[int(a), float(b)] for a, b in zip(i.tolist(), v.tolist())])
        margins.append(float(v[0] - v[1]))
        seq.append(nxt)
    return out, tops, min(margins)


@torch.no_grad()
def greedy_cached(model, ids):
    """Same greedy run with transformers' own KV cache (generate); used as a cross-check only."""
    out = model.generate(torch.tensor([ids]), max_new_tokens=N_NEW, min_new_tokens=N_NEW, do_sample=False,
                         eos_token_id=None, pad_token_id=EOT, temperature=None, top_p=None, top_k=None)
    return out[0, len(ids):].tolist()


def build(spec, out_root):
    name = spec["name"]
    d = os.path.join(out_root, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)

    torch.manual_seed(SEED)
    cfg = spec["config"]
    model = spec["cls"](cfg).eval()
    model.set_attn_implementation("eager")
    randomize(model, SEED)
    probe = torch.arange(0, 200).unsqueeze(0) * 37 % V
    with torch.no_grad():
        # Round the weights to the stored dtype, keep computing in float32 for the reference logits.
        for p in model.parameters():
            p.copy_(p.to(spec["dtype"]).float())
        ref_logits = model(input_ids=probe, use_cache=False).logits
    model = model.to(spec["dtype"])
    model.generation_config = generation_config()
    kw = {}
    if "max_shard_size" in spec:
        kw["max_shard_size"] = spec["max_shard_size"]
    model.save_pretrained(d, **kw)

    tok = make_tokenizer()
    tok.save_pretrained(d)
    # save_pretrained writes tokenizer.json pretty-printed (~1.1 MB); use the compact, identical-content
    # file from assets/tokenizer to keep the repository small.
    with open(os.path.join(d, "tokenizer.json")) as f:
        saved = json.load(f)
    with open(TOKENIZER_JSON) as f:
        assert json.load(f) == saved, "tokenizer.json content changed on save"
    shutil.copyfile(TOKENIZER_JSON, os.path.join(d, "tokenizer.json"))

    if spec["old_form"]:
        to_old_form(os.path.join(d, "config.json"), spec)
        tokenizer_config_to_old_form(d)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)  # save_pretrained writes shards with mode 0600

    # Reload everything from disk, as a user of transformers would.
    tok = AutoTokenizer.from_pretrained(d)
    assert len(tok) == V
    ref_tok = make_tokenizer()
    probe_msgs = chat_tools_messages("x")
    assert tok.chat_template == CHAT_TEMPLATE
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>" and tok.bos_token is None
    assert tok.apply_chat_template(probe_msgs, tools=CHAT_TOOLS, tokenize=False) == \
        ref_tok.apply_chat_template(probe_msgs, tools=CHAT_TOOLS, tokenize=False)
    assert tok(LONG_TEXT + "<|im_end|><think>")["input_ids"] == ref_tok(LONG_TEXT + "<|im_end|><think>")["input_ids"]
    loaded = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager", dtype=spec["dtype"]).eval()
    assert loaded.dtype == spec["dtype"], loaded.dtype
    assert loaded.get_input_embeddings().weight.shape[0] == V
    with torch.no_grad():
        a = ref_logits
        b = loaded.float()(input_ids=probe, use_cache=False).logits
    assert torch.equal(a, b), f"{name}: reloaded model differs (max {float((a - b).abs().max())})"
    model = loaded.float()  # exact upcast of the stored weights
    if spec["old_form"]:
        # transformers standardises the old form back to rope_parameters; check it understood it
        print(f"  {name}: old-form config loads as rope_parameters={model.config.rope_parameters}", file=sys.stderr)

    cases = []
    for slot, alts in SLOTS:
        chosen = None
        for alt_i, alt in enumerate(alts):
            if "messages" in alt:
                text = tok.apply_chat_template(alt["messages"], tools=alt.get("tools"), tokenize=False,
                                               add_generation_prompt=True)
            else:
                text = alt["text"]
            ids = tok(text, add_special_tokens=False)["input_ids"]
            if slot == "single_token" and len(ids) != 1:
                continue
            assert tok.decode(ids) == text
            gen, tops, margin = greedy(model, ids)
            if margin >= MIN_MARGIN:
                chosen = (alt_i, alt, text, ids, gen, tops, margin)
                break
            print(f"  {name}/{slot}: alternative {alt_i} has min_margin {margin:.2e}, trying the next", file=sys.stderr)
        assert chosen is not None, f"{name}/{slot}: no prompt with min_margin >= {MIN_MARGIN}"
        alt_i, alt, text, ids, gen, tops, margin = chosen
        cached = greedy_cached(model, ids)
        assert cached == gen, f"{name}/{slot}: KV-cached generate disagrees with the full-recompute loop"
        case = {"name": slot, "prompt_text": text, "prompt_ids": ids, "n_prompt": len(ids),
                "greedy_ids": gen, "top_logprobs": tops, "min_margin": margin}
        if "messages" in alt:
            case["messages"] = alt["messages"]
            if alt.get("tools"):
                case["tools"] = alt["tools"]
            case["add_generation_prompt"] = True
        cases.append(case)
        print(f"  {name}/{slot}: {len(ids)} prompt tokens, min_margin {margin:.3f}", file=sys.stderr)

    notes = [
        "Weights stored as dtype_stored; goldens computed after loading with transformers "
        "(attn_implementation='eager') and calling .float(), which upcasts the stored weights exactly, "
        "so all arithmetic is float32.",
        "greedy_ids: 24 new tokens by argmax, no eos stopping, no penalties, full recompute of the growing "
        "sequence each step (use_cache=False); transformers' KV-cached generate gives the same ids.",
        "top_logprobs[i]: top-5 [token_id, logprob] at generated position i, logprob = log_softmax of the "
        "float32 logits; min_margin: smallest top1-top2 logprob gap over the generated positions.",
        "prompt_ids are the tokenizer's encoding of prompt_text with no special tokens added (the tokenizer "
        "adds none); chat cases were rendered with the model's chat template (messages/tools included), "
        "add_generation_prompt=true.",
    ]
    if name == "mistral":
        notes.append("sliding_window=128: the long_prompt and chat_tools cases are longer than the window "
                     "(a query at position q attends to keys k with q-128 < k <= q).")
    if name == "qwen3-qknorm":
        notes.append("yarn with original_max_position_embeddings=64: cases longer than 64 tokens go past it "
                     "(transformers applies the yarn inv_freq and the attention factor 0.1*ln(8)+1 at all positions, "
                     "whatever the sequence length).")
    golden = {
        "model": name,
        "architecture": type(model).__name__,
        "dtype_stored": str(spec["dtype"]).replace("torch.", ""),
        "compute": "float32",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "n_new_tokens": N_NEW,
        "notes": notes,
        "cases": cases,
    }
    dump_json(os.path.join(d, "golden.json"), golden)
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "models"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    for spec in MODELS:
        if only and spec["name"] not in only:
            continue
        print(f"building {spec['name']}", file=sys.stderr)
        d = build(spec, args.out)
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"  -> {d} ({size / 1e6:.2f} MB): {sorted(os.listdir(d))}", file=sys.stderr)


if __name__ == "__main__":
    main()
