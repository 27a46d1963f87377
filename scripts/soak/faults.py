#!/usr/bin/env python3
"""The soak's misbehaving clients: streams that hang up and streams that stall.

Runs beside `weir load` for a fixed time against one server and writes what
it did as JSON, so the soak can reconcile the server's counters exactly:

- disconnects: a streamed request (chat or completions, at random) that
  hangs up after the response headers (before the first token) or after k
  tokens (mid-stream). `ignore_eos` and a max_tokens far above k mean the
  server cannot have finished the request before the hang-up, so each one
  is an abort on the server's side.
- stalled readers: a streamed request with large events (top logprobs)
  that reads the headers, stops reading for longer than the server's stall
  timeout with a small receive buffer, then reads on to the end: either
  the whole stream (the server kept it) or a cut (the server let it go).

Every request waits for its response headers before it may leave: a 200
means the server has taken the prompt (counted in prompt_tokens_total), so
the prompt tokens of every accepted request are known exactly (completions
send token ids; chat reads the prompt size from the role chunk's running
usage). Standard library only.
"""

import argparse
import asyncio
import json
import random
import socket
import sys
import time
from urllib.parse import urlsplit


class Tally:
    """What the fault clients did, summed; written out as the JSON report."""

    def __init__(self):
        self.sent = 0
        self.status = {}
        self.accepted = 0
        self.accepted_prompt_tokens = 0
        self.completed = 0
        self.completed_prompt_tokens = 0
        self.completed_completion_tokens = 0
        self.aborted = 0
        self.aborted_received_tokens = 0
        self.aborted_max_tokens = 0
        self.by_kind = {}
        self.unexpected = []

    def kind(self, name):
        self.by_kind[name] = self.by_kind.get(name, 0) + 1

    def oops(self, what):
        self.unexpected.append(what)

    def as_json(self):
        return {
            "sent": self.sent,
            "http_status": self.status,
            "accepted": self.accepted,
            "accepted_prompt_tokens": self.accepted_prompt_tokens,
            "completed": self.completed,
            "completed_prompt_tokens": self.completed_prompt_tokens,
            "completed_completion_tokens": self.completed_completion_tokens,
            "aborted": self.aborted,
            "aborted_received_tokens": self.aborted_received_tokens,
            "aborted_max_tokens": self.aborted_max_tokens,
            "by_kind": self.by_kind,
            "unexpected": len(self.unexpected),
            "unexpected_samples": self.unexpected[:20],
        }


class Stream:
    """One HTTP/1.1 streamed request on a raw socket: headers, then SSE
    events out of the chunked body, read only when asked."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.buf = b""
        self.body_done = False

    @classmethod
    async def open(cls, host, port, path, body, rcvbuf=None):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Set before connecting, so the window the server sees is small.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 22)
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        ).encode()
        writer.write(head + data)
        await writer.drain()
        return cls(reader, writer)

    async def status(self):
        """Reads the status line and headers; returns the status code."""
        line = await self.reader.readline()
        parts = line.split()
        if len(parts) < 2:
            raise ConnectionError(f"no status line: {line[:80]!r}")
        code = int(parts[1])
        self.chunked = False
        while True:
            h = await self.reader.readline()
            if h in (b"\r\n", b""):
                break
            if h.lower().startswith(b"transfer-encoding:") and b"chunked" in h.lower():
                self.chunked = True
        return code

    async def _more(self):
        """Appends the next piece of body to the buffer; False at its end."""
        if self.body_done:
            return False
        if not self.chunked:
            data = await self.reader.read(65536)
            if not data:
                self.body_done = True
                return False
            self.buf += data
            return True
        size_line = await self.reader.readline()
        if not size_line:
            raise ConnectionError("connection closed inside the chunked body")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            self.body_done = True
            await self.reader.readline()
            return False
        self.buf += await self.reader.readexactly(size)
        await self.reader.readexactly(2)
        return True

    async def event(self):
        """The next SSE event's data (str), or None at the end of the body."""
        while b"\n\n" not in self.buf:
            if not await self._more():
                return None
        raw, self.buf = self.buf.split(b"\n\n", 1)
        lines = [
            ln[5:].strip() for ln in raw.split(b"\n") if ln.startswith(b"data:")
        ]
        return b"\n".join(lines).decode()

    async def error_body(self):
        """The body of a non-200 answer, for the report (best effort)."""
        try:
            while await asyncio.wait_for(self._more(), 2):
                pass
        except Exception:
            pass
        return self.buf[:200].decode(errors="replace")

    def close(self):
        try:
            self.writer.transport.abort()
        except Exception:
            pass


def request_body(rng, args, kind, endpoint, max_tokens):
    """A streamed request; returns (path, body, prompt token count or None)."""
    common = {
        "model": args.model,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "temperature": 1.0,
        "seed": rng.randrange(1 << 30),
    }
    if endpoint == "completions":
        ids = [rng.randrange(args.vocab) for _ in range(rng.randint(16, 256))]
        body = {"prompt": ids, **common}
        if kind == "stall":
            body["logprobs"] = 20
        return "/v1/completions", body, len(ids)
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 120)))
    body = {"messages": [{"role": "user", "content": words}], **common}
    if kind == "stall":
        body["logprobs"] = True
        body["top_logprobs"] = 20
    return "/v1/chat/completions", body, None


WORDS = (
    "the server keeps every stream it promised and frees every block "
    "a client leaves behind while the scheduler steps on through the night"
).split()


def usage_of(data):
    try:
        u = json.loads(data).get("usage")
    except ValueError:
        return None
    return u if isinstance(u, dict) else None


async def one_request(rng, args, tally, kind):
    """One fault client: `disconnect` or `stall`."""
    endpoint = rng.choice(["chat", "completions"])
    max_tokens = args.max_tokens
    # Where a disconnect hangs up: 0 = right after the headers (and the
    # chat role chunk), before the first token; k > 0 = after k tokens.
    cut_at = 0 if rng.random() < 0.4 else rng.randint(1, args.cut_max)
    path, body, prompt = request_body(rng, args, kind, endpoint, max_tokens)
    tally.sent += 1
    rcvbuf = 4096 if kind == "stall" else None
    stream = None
    try:
        stream = await Stream.open(args.host, args.port, path, body, rcvbuf)
        code = await asyncio.wait_for(stream.status(), args.header_timeout)
        tally.status[str(code)] = tally.status.get(str(code), 0) + 1
        if code != 200:
            tally.oops(f"{kind} {endpoint}: http {code}: {await stream.error_body()}")
            return
        tally.accepted += 1
        received = 0
        if endpoint == "chat":
            # The role chunk carries the running usage: the prompt's size.
            first = await asyncio.wait_for(stream.event(), args.header_timeout)
            u = usage_of(first or "")
            if u is None or "prompt_tokens" not in u:
                tally.oops(f"{kind} chat: first event has no usage: {first!r:.200}")
                tally.aborted += 1
                tally.aborted_max_tokens += max_tokens
                return
            prompt = u["prompt_tokens"]
        tally.accepted_prompt_tokens += prompt
        if kind == "disconnect":
            while received < cut_at:
                data = await asyncio.wait_for(stream.event(), args.token_timeout)
                if data is None or data == "[DONE]":
                    tally.oops(f"disconnect {endpoint}: stream ended at {received} tokens")
                    tally.aborted += 1
                    tally.aborted_received_tokens += received
                    tally.aborted_max_tokens += max_tokens
                    return
                u = usage_of(data)
                if u is None:
                    tally.oops(f"disconnect {endpoint}: event without usage: {data[:200]}")
                    continue
                received = u.get("completion_tokens", received)
            tally.kind(f"disconnect_{'before_first_token' if cut_at == 0 else 'mid_stream'}")
            tally.aborted += 1
            tally.aborted_received_tokens += received
            tally.aborted_max_tokens += max_tokens
            return
        # A stalled reader: read nothing for a while, then read on.
        await asyncio.sleep(rng.uniform(args.stall_min, args.stall_max))
        while True:
            try:
                data = await asyncio.wait_for(stream.event(), args.token_timeout)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                data = None
            if data is None:
                tally.kind("stall_cut_by_server")
                tally.aborted += 1
                tally.aborted_received_tokens += received
                tally.aborted_max_tokens += max_tokens
                return
            if data == "[DONE]":
                tally.kind("stall_completed")
                tally.completed += 1
                tally.completed_prompt_tokens += prompt
                tally.completed_completion_tokens += received
                return
            u = usage_of(data)
            if u is not None:
                received = u.get("completion_tokens", received)
                if u.get("prompt_tokens", prompt) != prompt:
                    tally.oops(f"stall {endpoint}: prompt_tokens {u.get('prompt_tokens')} != {prompt}")
    except asyncio.TimeoutError:
        tally.oops(f"{kind} {endpoint}: timed out")
    except (ConnectionError, asyncio.IncompleteReadError, OSError) as e:
        tally.oops(f"{kind} {endpoint}: {type(e).__name__}: {e}")
    finally:
        if stream is not None:
            stream.close()


async def spawner(rng, args, tally, kind, mean_gap, deadline, tasks):
    """Starts `kind` clients at Poisson arrivals of mean gap `mean_gap` until
    the deadline."""
    while True:
        await asyncio.sleep(rng.expovariate(1.0 / mean_gap))
        if time.monotonic() >= deadline:
            return
        tasks.add(asyncio.create_task(one_request(random.Random(rng.random()), args, tally, kind)))


async def main(args):
    rng = random.Random(args.seed)
    tally = Tally()
    deadline = time.monotonic() + args.duration
    tasks = set()
    await asyncio.gather(
        spawner(random.Random(rng.random()), args, tally, "disconnect", args.disconnect_every, deadline, tasks),
        spawner(random.Random(rng.random()), args, tally, "stall", args.stall_every, deadline, tasks),
    )
    # Drain: the clients in flight finish (stalled readers read on to the end).
    if tasks:
        await asyncio.gather(*tasks)
    with open(args.out, "w") as f:
        json.dump(tally.as_json(), f, indent=1)
    print(
        f"faults: {tally.sent} sent, {tally.accepted} accepted, {tally.completed} completed, "
        f"{tally.aborted} aborted, {len(tally.unexpected)} unexpected; {tally.by_kind}"
    )


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True, help="http://HOST:PORT")
    p.add_argument("--model", default="weir-demo")
    p.add_argument("--duration", type=float, required=True, help="seconds")
    p.add_argument("--out", required=True, help="the JSON tally")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vocab", type=int, default=16384, help="token ids are drawn below this")
    p.add_argument("--disconnect-every", type=float, default=2.0, help="mean seconds between disconnects")
    p.add_argument("--stall-every", type=float, default=15.0, help="mean seconds between stalled readers")
    p.add_argument("--stall-min", type=float, default=8.0, help="shortest stall, seconds")
    p.add_argument("--stall-max", type=float, default=20.0, help="longest stall, seconds")
    p.add_argument("--max-tokens", type=int, default=1024)
    p.add_argument("--cut-max", type=int, default=32, help="a mid-stream hang-up comes after 1..this many tokens")
    p.add_argument("--header-timeout", type=float, default=300.0)
    p.add_argument("--token-timeout", type=float, default=300.0)
    args = p.parse_args(argv)
    url = urlsplit(args.base_url)
    args.host, args.port = url.hostname, url.port or 80
    if args.cut_max * 4 > args.max_tokens:
        p.error("--max-tokens must be well above --cut-max, so a hang-up always beats the end")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args(sys.argv[1:])))
