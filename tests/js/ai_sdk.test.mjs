// The Vercel AI SDK with @ai-sdk/openai-compatible (what OpenCode uses)
// against a running weir: streamText with tools completes a tool round trip
// over several steps, and reasoning arrives as reasoning parts.
//
// weir runs the `sim` backend in script mode (tests/python/data/tools_script.json):
// the scripted replies carry Qwen-style <tool_call> and <think> markup, which
// flows through weir's real tokenizer, scheduler, stream actors and parsers.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";

import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { streamText, tool, stepCountIs, jsonSchema } from "ai";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
let server;
let baseURL;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  const port = await freePort();
  const cache = mkdtempSync(join(tmpdir(), "weir-ai-sdk-"));
  const bin = process.env.WEIR_BIN ?? join(root, "target", "release", "weir");
  server = spawn(bin, ["serve", "--port", String(port), "--cache-dir", cache,
    "--backend", "sim", "--sim-mode", "script",
    "--sim-script", join(root, "tests", "python", "data", "tools_script.json"),
    "--sim-decode-step-us", "200", "--reasoning-parser", "think", "--num-kv-blocks", "2048"],
    { stdio: "ignore" });
  baseURL = `http://127.0.0.1:${port}/v1`;
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("weir did not start");
});

after(() => server?.kill());

function model() {
  const provider = createOpenAICompatible({ name: "weir", baseURL, apiKey: "unused",
    includeUsage: true });
  return provider("weir-demo");
}

test("streamText completes a tool round trip across steps", async () => {
  const calls = [];
  const result = streamText({
    model: model(),
    prompt: "What is the weather in Paris?",
    tools: {
      get_weather: tool({
        description: "Current weather for a city.",
        inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } },
          required: ["city"] }),
        execute: async ({ city }) => {
          calls.push(city);
          return { sky: "sunny", temp: 21 };
        },
      }),
    },
    stopWhen: stepCountIs(3),
  });
  const text = await result.text;
  const steps = await result.steps;
  assert.deepEqual(calls, ["Paris"]);
  assert.equal(steps.length, 2);
  assert.equal(steps[0].finishReason, "tool-calls");
  assert.equal(steps[0].toolCalls[0].toolName, "get_weather");
  assert.equal(steps[1].finishReason, "stop");
  assert.equal(text, "It is sunny in Paris, 21 degrees.");
  const usage = await result.totalUsage;
  assert.ok(usage.outputTokens > 0);
});

test("reasoning arrives as reasoning parts, apart from the text", async () => {
  const result = streamText({ model: model(), prompt: "Think: what is 2 + 2?" });
  let reasoning = "";
  let text = "";
  for await (const part of result.fullStream) {
    if (part.type === "reasoning-delta") reasoning += part.text;
    if (part.type === "text-delta") text += part.text;
  }
  assert.match(reasoning, /2 \+ 2 = 4/);
  assert.equal(text.trim(), "The answer is 4.");
});
