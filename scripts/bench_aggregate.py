#!/usr/bin/env python3
"""Aggregate decode throughput of any OpenAI-compatible server: N concurrent
non-streamed /v1/completions of `--max-tokens` tokens each (random 16-token
id prompts, eos ignored), tokens counted from the server's `usage`.
Used to compare weir with llama.cpp's server on the same machine.

    .venv/bin/python scripts/bench_aggregate.py --base http://127.0.0.1:8123 --model M -n 16
"""
import argparse
import asyncio
import random
import time

import httpx


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=16000)
    args = ap.parse_args()
    rng = random.Random(0)

    async def one(c):
        body = {"model": args.model, "prompt": [rng.randrange(1000, args.vocab) for _ in range(16)],
                "max_tokens": args.max_tokens, "temperature": 0, "ignore_eos": True}
        r = await c.post(args.base + "/v1/completions", json=body, timeout=600)
        r.raise_for_status()
        return r.json()["usage"]["completion_tokens"]

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=512)) as c:
        await one(c)  # warm-up
        t0 = time.perf_counter()
        toks = sum(await asyncio.gather(*[one(c) for _ in range(args.n)]))
        wall = time.perf_counter() - t0
    print(f"{args.n} concurrent: {toks / wall:.1f} tok/s ({toks} tokens in {wall:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
