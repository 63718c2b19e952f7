// The Vercel AI SDK against kimi-graph serve: tools, JSON, streaming, usage.
// Run by tests/integration_tests/serve/test_clients.py with KIMI_SERVE_URL set; prints JSON.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateObject, generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const kimi = createOpenAICompatible({
  name: "kimi",
  baseURL: process.env.KIMI_SERVE_URL,
  apiKey: "ai-sdk-key",
  includeUsage: true,
  supportsStructuredOutputs: true,
});

const calls = [];
const weather = tool({
  description: "The weather in a city.",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => {
    calls.push(city);
    return `18 C in ${city}`;
  },
});

const tools = await generateText({
  model: kimi("kimi-thinking"),
  prompt: 'Weather in Paris? [[call get_weather {"city": "Paris"}]]',
  tools: { get_weather: weather },
  stopWhen: stepCountIs(3),
});

const object = await generateObject({
  model: kimi("kimi-thinking"),
  schema: z.object({ name: z.string(), age: z.number().int() }),
  schemaName: "person",
  prompt: "Alice is 31. Give her name and age.",
});

const stream = streamText({ model: kimi("kimi-thinking"), prompt: "What is 2+3*4?" });
let streamed = "";
let streamedReasoning = "";
for await (const part of stream.fullStream) {
  if (part.type === "text-delta") streamed += part.text;
  if (part.type === "reasoning-delta") streamedReasoning += part.text;
}

console.log(
  JSON.stringify({
    tools: {
      text: tools.text,
      calls,
      steps: tools.steps.length,
      finishReasons: tools.steps.map((s) => s.finishReason),
      reasoning: tools.steps[0].reasoningText ?? "",
    },
    object: { value: object.object, usage: object.usage },
    stream: {
      text: streamed,
      reasoning: streamedReasoning,
      usage: await stream.usage,
    },
  }),
);
