#!/usr/bin/env python3
"""Record what OpenCode sends to an OpenAI-compatible endpoint.

Starts a tiny HTTP server that saves every POST body to
/v1/chat/completions (plus its headers) as DIR/request-N.json and answers
with a minimal valid SSE stream ("ok", stop, usage, [DONE]). Point an
OpenCode project-level opencode.json at http://127.0.0.1:PORT/v1 with the
`@ai-sdk/openai-compatible` provider, run `opencode run ...`, then read the
saved bodies; with --summary DIR it prints the sizes weir load's OpenCode
profile is matched against (crates/weir-load/src/profile.rs).

    scripts/record_opencode_request.py --port 8765 --out /tmp/oc-rec
    scripts/record_opencode_request.py --summary /tmp/oc-rec

--tool-call NAME:JSON (repeatable) answers the agent's next requests with
calls to its own tools, one per request, to record tool round trips and
OpenCode's tool-result formats. Offline OpenCode setup: opencode.json with
"provider": {"rec": {"npm": "@ai-sdk/openai-compatible", "options":
{"baseURL": "http://127.0.0.1:8765/v1", "apiKey": "unused"}, "models": {"m":
{"name": "m", "tool_call": true}}}}, env OPENCODE_DISABLE_AUTOUPDATE=1
OPENCODE_DISABLE_MODELS_FETCH=1 OPENCODE_DISABLE_LSP_DOWNLOAD=1
OPENCODE_DISABLE_DEFAULT_PLUGINS=1 PWD=<project>, `opencode run -m rec/m "..."`
from the project (a git repository).
"""

import argparse
import http.server
import json
import os


def chunk(delta, finish=None, usage=None, choices=True):
    body = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []}
    if usage is not None:
        body["usage"] = usage
    return "data: " + json.dumps(body) + "\n\n"


def serve(port, out, tool_call):
    os.makedirs(out, exist_ok=True)
    counter = [0]
    calls = list(tool_call or [])

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            counter[0] += 1
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode("utf-8", "replace")
            with open(os.path.join(out, f"request-{counter[0]}.json"), "w") as f:
                json.dump({"path": self.path, "headers": dict(self.headers.items()), "body": parsed},
                          f, indent=1, ensure_ascii=False)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            usage = {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}
            answer = [chunk({"role": "assistant", "content": "ok"}), chunk({}, finish="stop")]
            if calls and isinstance(parsed, dict) and parsed.get("tools"):
                # Answer the agent's next requests with calls to its own tools
                # (one per request, in order) to record tool round trips.
                name, args = calls.pop(0).split(":", 1)
                answer = [chunk({"role": "assistant", "content": None, "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function",
                     "function": {"name": name, "arguments": args}}]}),
                    chunk({}, finish="tool_calls")]
            for part in (*answer,
                         chunk({}, usage=usage, choices=False),
                         "data: [DONE]\n\n"):
                self.wfile.write(part.encode())
                self.wfile.flush()

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def summary(out):
    for name in sorted(os.listdir(out), key=lambda n: (len(n), n)):
        rec = json.load(open(os.path.join(out, name)))
        body = rec["body"]
        print(f"== {name} {rec['path']}")
        print("headers:", {k: v for k, v in rec["headers"].items() if k.lower() != "authorization"})
        if not isinstance(body, dict):
            continue
        print("top-level:", {k: v for k, v in body.items() if k not in ("messages", "tools")})
        for m in body.get("messages", []):
            c = m.get("content")
            size = len(c) if isinstance(c, str) else len(json.dumps(c))
            extra = {k: v for k, v in m.items() if k not in ("role", "content")}
            print(f"  message role={m['role']} chars={size} {json.dumps(extra) if extra else ''}")
        for t in body.get("tools", []):
            fn = t["function"]
            print(f"  tool {fn['name']:10} description={len(fn.get('description', '')):5} "
                  f"parameters={len(json.dumps(fn.get('parameters'), separators=(',', ':')))}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--out", default="/tmp/oc-rec")
    p.add_argument("--summary")
    p.add_argument("--tool-call", action="append", help='NAME:JSON_ARGS, e.g. \'read:{"filePath":"/tmp/p/opencode.json"}\'')
    a = p.parse_args()
    if a.summary:
        summary(a.summary)
    else:
        serve(a.port, a.out, a.tool_call)
