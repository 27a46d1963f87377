#!/usr/bin/env python3
"""Writes every block of a weir server's KV cache once, before the soak's
measured run, so that its resident memory starts at its working size.

The KV cache is allocated zeroed, so its pages become resident only when a
block is first written, and the block pool hands blocks out oldest-freed
first: without this, RSS would climb for as long as it takes the load to
touch every block (minutes on the demo model), which is not a leak but
would hide one. Non-streamed completions of random token ids (nothing to
share in the prefix cache), max_tokens 1, until at least `blocks x
block_size` prompt tokens have been computed. Standard library only.
"""

import argparse
import concurrent.futures
import json
import random
import sys
import urllib.request


def one(base_url, model, ids):
    body = json.dumps({"model": model, "prompt": ids, "max_tokens": 1}).encode()
    req = urllib.request.Request(
        f"{base_url}/v1/completions", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)["usage"]["prompt_tokens"]


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True, help="http://HOST:PORT")
    p.add_argument("--model", default="weir-demo")
    p.add_argument("--blocks", type=int, required=True, help="the server's --num-kv-blocks")
    p.add_argument("--block-size", type=int, default=16)
    p.add_argument("--prompt-tokens", type=int, default=1024, help="tokens per request")
    p.add_argument("--vocab", type=int, default=16384)
    p.add_argument("--concurrency", type=int, default=4)
    args = p.parse_args(argv)
    rng = random.Random(1)
    need = args.blocks * args.block_size
    n = -(-need // args.prompt_tokens) + 1
    prompts = [[rng.randrange(args.vocab) for _ in range(args.prompt_tokens)] for _ in range(n)]
    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        done = sum(pool.map(lambda ids: one(args.base_url, args.model, ids), prompts))
    print(f"fill: {n} requests, {done} prompt tokens written to a {need}-token KV cache")


if __name__ == "__main__":
    main(sys.argv[1:])
