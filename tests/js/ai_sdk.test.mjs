// The Vercel AI SDK with @ai-sdk/openai-compatible (what OpenCode uses)
// against a running weir: streamText with tools completes a tool round trip
// over several steps, reasoning arrives as reasoning parts, and a long tool
// call's arguments stream as tool-input-delta parts before the call completes.
//
// weir runs the `sim` backend in script mode (tests/python/data/tools_script.json):
// the scripted replies carry Qwen-style <tool_call> and <think> markup, which
// flows through weir's real tokenizer, scheduler, stream actors and parsers.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { streamText, tool, stepCountIs, jsonSchema } from "ai";

import { root, startWeir } from "./weir_server.mjs";

let server;
let baseURL;

before(async () => {
  ({ child: server, baseURL } = await startWeir(
    join(root, "tests", "python", "data", "tools_script.json"),
    ["--reasoning-parser", "think"]));
});

after(() => server?.kill());

function model(url = baseURL) {
  const provider = createOpenAICompatible({ name: "weir", baseURL: url, apiKey: "unused",
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

test("a long write call streams its input in pieces before the call completes", async () => {
  // 200 lines (about 12 KB) of file content in one call's arguments, with
  // characters JSON must escape.
  const lines = [];
  for (let i = 1; i <= 200; i++) {
    lines.push(`line ${String(i).padStart(3, "0")}: naïve café "quoted" \\ back\tslash {brace} [${i}]`);
  }
  const content = lines.join("\n") + "\n";
  const args = { filePath: "/tmp/weir-ai-sdk/long.txt", content };
  // Written as a Qwen model writes it (the template's `tojson`: ", " and ": ").
  const callJson = `{"name": "write", "arguments": {"filePath": ${JSON.stringify(args.filePath)}, `
    + `"content": ${JSON.stringify(content)}}}`;
  const dir = mkdtempSync(join(tmpdir(), "weir-ai-sdk-long-"));
  const scriptPath = join(dir, "script.json");
  writeFileSync(scriptPath, JSON.stringify({
    rules: [{ match: "(?i)write the long file", role: "user",
      reply: "Writing it.\n<tool_call>\n" + callJson + "\n</tool_call>" }],
    default: "I only write long files.",
  }));
  const { child, baseURL: url } = await startWeir(scriptPath, [], 20);
  try {
    const tools = {
      write: tool({
        description: "Write a file.",
        inputSchema: jsonSchema({ type: "object",
          properties: { filePath: { type: "string" }, content: { type: "string" } },
          required: ["filePath", "content"] }),
      }),
    };
    const prompt = "Please write the long file.";

    // What the same reply gives without streaming: the call's final arguments.
    const whole = await fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "weir-demo", messages: [{ role: "user", content: prompt }],
        tools: [{ type: "function", function: { name: "write",
          parameters: { type: "object", properties: { filePath: { type: "string" },
            content: { type: "string" } } } } }] }),
    }).then((r) => r.json());
    const finalArguments = whole.choices[0].message.tool_calls[0].function.arguments;
    assert.deepEqual(JSON.parse(finalArguments), args);

    const parts = [];
    const result = streamText({ model: model(url), prompt, tools });
    for await (const part of result.fullStream) parts.push(part);

    const callAt = parts.findIndex((p) => p.type === "tool-call");
    assert.ok(callAt >= 0, `no tool-call part: ${parts.map((p) => p.type).join(" ")}`);
    const toolCall = parts[callAt];
    assert.equal(toolCall.toolName, "write");
    assert.deepEqual(toolCall.input, args);
    const deltas = parts
      .map((p, i) => ({ ...p, at: i }))
      .filter((p) => p.type === "tool-input-delta" && p.id === toolCall.toolCallId);
    // The input arrives as the model writes it: in many pieces, all of them
    // before the call is complete.
    assert.ok(deltas.length >= 10,
      `the arguments arrived in ${deltas.length} tool-input-delta part(s), not streamed`);
    assert.ok(deltas.every((d) => d.at < callAt), "a tool-input-delta came after the tool-call");
    const streamed = deltas.map((d) => d.delta).join("");
    assert.equal(streamed, finalArguments);
    // No accumulated prefix parses as JSON before the last piece: the AI SDK
    // would take it for the complete call.
    let prefix = "";
    for (const d of deltas.slice(0, -1)) {
      prefix += d.delta;
      assert.throws(() => JSON.parse(prefix), SyntaxError, `a valid-JSON prefix: ${prefix}`);
    }
    const steps = await result.steps;
    assert.equal(steps[0].finishReason, "tool-calls");
  } finally {
    child.kill();
  }
});
