// The Vercel AI SDK (@ai-sdk/openai-compatible, what OpenCode uses) against
// an endpoint route, configured as the hosted provider documents it: the
// base URL `http://HOST/{project_id}/{endpoint_slug}/v1`, the key in an
// `Authorization: Bearer` header, a model name that differs from the
// deployed model's. The store is made with the real `weir admin` CLI.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";

import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { streamText, tool, stepCountIs, jsonSchema, APICallError } from "ai";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const bin = process.env.WEIR_BIN ?? join(root, "target", "release", "weir");
const dir = mkdtempSync(join(tmpdir(), "weir-ai-sdk-tenant-"));
const db = join(dir, "weir.db");
let server;
let base;
let key;

function admin(...args) {
  const r = spawnSync(bin, ["admin", ...args], { env: { ...process.env, WEIR_DB: db },
    encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

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
  admin("init");
  const project = admin("project", "create", "acme").match(/proj_[A-Za-z0-9]+/)[0];
  admin("endpoint", "create", "--project", project, "--slug", "coder", "--model", "weir-demo");
  key = admin("key", "create", "--project", project, "--scope", "inference")
    .split("\n").find((l) => l.startsWith("weir_")).trim();
  const port = await freePort();
  server = spawn(bin, ["serve", "--port", String(port), "--cache-dir", dir,
    "--backend", "sim", "--sim-mode", "script",
    "--sim-script", join(root, "tests", "python", "data", "tools_script.json"),
    "--sim-decode-step-us", "200", "--sim-decode-us-per-seq", "0", "--num-kv-blocks", "2048"],
    { stdio: "ignore", env: { ...process.env, WEIR_DB: db } });
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  base = `http://127.0.0.1:${port}/${project}/coder/v1`;
});

after(() => server?.kill());

function model(apiKey) {
  const provider = createOpenAICompatible({ name: "weir", baseURL: base,
    headers: { Authorization: `Bearer ${apiKey}` }, includeUsage: true });
  return provider("my-model");
}

test("streamText completes a tool round trip through an endpoint route", async () => {
  const calls = [];
  const result = streamText({
    model: model(key),
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
  assert.equal(await result.text, "It is sunny in Paris, 21 degrees.");
  assert.deepEqual(calls, ["Paris"]);
  const steps = await result.steps;
  assert.equal(steps[0].response.modelId, "weir-demo", "responses name the deployed model");
  const usage = await result.totalUsage;
  assert.ok(usage.inputTokens > 0 && usage.outputTokens > 0);
});

test("a wrong key is a 401 the SDK reports as an API call error", async () => {
  const result = streamText({ model: model("weir_nope_" + "x".repeat(32)), prompt: "hi",
    maxRetries: 0 });
  let error;
  for await (const part of result.fullStream) {
    if (part.type === "error") error = part.error;
  }
  assert.ok(APICallError.isInstance(error), String(error));
  assert.equal(error.statusCode, 401);
  assert.match(error.responseBody, /invalid_api_key/);
});
