// The Vercel AI SDK's Responses provider (@ai-sdk/openai, `provider.responses`)
// against weir's POST /v1/responses: text, a tool round trip over steps,
// reasoning shown as reasoning parts, numeric usage.
//
// weir keeps no responses yet, so the provider runs with `store: false` (as
// OpenCode configures it): each step sends the whole conversation, never an
// `item_reference`. The sim backend replies from the same script as
// ai_sdk.test.mjs (tests/python/data/tools_script.json).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, tool, stepCountIs, jsonSchema } from "ai";

import { root, startWeir } from "./weir_server.mjs";

let server;
let baseURL;

before(async () => {
  ({ child: server, baseURL } = await startWeir(
    join(root, "tests", "python", "data", "tools_script.json"),
    ["--reasoning-parser", "think"]));
});

after(() => server?.kill());

function model() {
  return createOpenAI({ baseURL, apiKey: "unused" }).responses("weir-demo");
}

const providerOptions = { openai: { store: false } };

test("generateText gets the text and numeric usage", async () => {
  const result = await generateText({ model: model(), prompt: "Hello there", providerOptions });
  assert.equal(result.text, "I can only talk about the weather.");
  assert.equal(result.finishReason, "stop");
  assert.ok(Number.isInteger(result.usage.inputTokens) && result.usage.inputTokens > 0);
  assert.ok(Number.isInteger(result.usage.outputTokens) && result.usage.outputTokens > 0);
});

test("streamText completes a tool round trip across steps", async () => {
  const calls = [];
  const result = streamText({
    model: model(),
    prompt: "What is the weather in Paris?",
    providerOptions,
    tools: {
      get_weather: tool({
        description: "Current weather for a city.",
        inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } },
          required: ["city"] }),
        execute: async ({ city }) => {
          calls.push(city);
          return "sunny, 21 C";
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
  assert.equal(text, "It is sunny in Paris, 21 degrees.");
  const usage = await result.totalUsage;
  assert.ok(Number.isInteger(usage.outputTokens) && usage.outputTokens > 0);
});

test("reasoning is shown as reasoning parts, apart from the text", async () => {
  const result = streamText({ model: model(), prompt: "Think: what is 2 + 2?", providerOptions });
  let reasoning = "";
  let text = "";
  for await (const part of result.fullStream) {
    if (part.type === "reasoning-delta") reasoning += part.text;
    if (part.type === "text-delta") text += part.text;
    if (part.type === "error") throw part.error;
  }
  assert.match(reasoning, /2 \+ 2 = 4/);
  assert.equal(text, "The answer is 4.");
});
