#!/usr/bin/env python3
"""Serving benchmark: prefill tok/s, decode tok/s at batch 1, and aggregate
decode tok/s with 16 and 64 concurrent requests, against a running weir.

    cargo run --release -- gen-model --shape qwen2-0.5b --out bench-models/qwen2-0.5b
    cargo run --release -- serve --model bench-models/qwen2-0.5b --port 8123 &
    .venv/bin/python scripts/bench_serve.py --base http://127.0.0.1:8123 --model qwen2-0.5b

Prompts are token ids (random, fixed seed); generation ignores eos so every
request produces exactly max_tokens. A benchmark, not a test: run it on a
quiet machine and report the limit beside the figure.
"""

import argparse
import asyncio
import json
import random
import time

import httpx


async def stream_completion(client, base, model, prompt, max_tokens):
    """Returns (time to first token, time of last token, tokens) from the start."""
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            "ignore_eos": True, "stream": True,
            # Token counts from the server (a token whose text is empty or
            # held back sends no text chunk).
            "stream_options": {"include_usage": True, "continuous_usage_stats": True}}
    t0 = time.perf_counter()
    first = last = None
    n = 0
    async with client.stream("POST", base + "/v1/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            usage = chunk.get("usage") or {}
            done = usage.get("completion_tokens", 0)
            if done > n:
                now = time.perf_counter() - t0
                first = first if first is not None else now
                last = now
                n = done
    return first, last, n


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8123")
    ap.add_argument("--model", default="qwen2-0.5b")
    ap.add_argument("--vocab", type=int, default=16000)
    ap.add_argument("--prefill-len", type=int, default=512)
    args = ap.parse_args()
    rng = random.Random(0)

    def prompt(n):
        return [rng.randrange(1000, args.vocab) for _ in range(n)]

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=256)) as c:
        await stream_completion(c, args.base, args.model, prompt(16), 4)  # warm-up
        # Prefill: time to the first token of a long prompt, best of 3.
        best = min([(await stream_completion(c, args.base, args.model,
                                              prompt(args.prefill_len), 1))[0]
                    for _ in range(3)])
        print(f"prefill: {args.prefill_len / best:.1f} tok/s ({args.prefill_len} tokens in {best*1000:.0f} ms)")
        # Decode at batch 1: inter-token time after the first token.
        first, last, n = await stream_completion(c, args.base, args.model, prompt(16), 129)
        print(f"decode batch 1: {(n - 1) / (last - first):.1f} tok/s")
        for conc in (16, 64):
            t0 = time.perf_counter()
            res = await asyncio.gather(*[stream_completion(c, args.base, args.model, prompt(16), 64)
                                         for _ in range(conc)])
            wall = time.perf_counter() - t0
            toks = sum(r[2] for r in res)
            print(f"aggregate decode, {conc} concurrent: {toks / wall:.1f} tok/s "
                  f"({toks} tokens in {wall:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
