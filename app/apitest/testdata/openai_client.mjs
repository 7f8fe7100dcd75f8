// Drives lmx serve with the official OpenAI Node SDK (pinned in
// internal/sdkclients): list models, greedy chat whole and streamed, greedy
// completion whole and streamed, and the second half of a tool call.
// Prints the answers as JSON. Usage: node openai_client.mjs SDKDIR SPEC
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.argv[2], "package.json"));
const { OpenAI } = require("openai");
const spec = JSON.parse(process.argv[3]);
const client = new OpenAI({ baseURL: spec.url, apiKey: "unused", maxRetries: 0 });
const { model, max_tokens } = spec;
const greedy = { model, temperature: 0, max_tokens };
const out = { models: [] };

for await (const m of client.models.list()) out.models.push(m.id);

const chat = await client.chat.completions.create({ ...greedy, messages: spec.story });
out.chat = chat.choices[0].message.content;

out.chat_stream = "";
out.stream_usage = 0;
const stream = await client.chat.completions.create({
  ...greedy, messages: spec.story, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  for (const c of chunk.choices) out.chat_stream += c.delta.content ?? "";
  if (chunk.usage) out.stream_usage = chunk.usage.completion_tokens;
}

const comp = await client.completions.create({ ...greedy, prompt: spec.prompt });
out.completion = comp.choices[0].text;
out.completion_stream = "";
for await (const c of await client.completions.create({ ...greedy, prompt: spec.prompt, stream: true })) {
  for (const ch of c.choices) out.completion_stream += ch.text;
}

const tool = await client.chat.completions.create({ ...greedy, messages: spec.tool_messages, tools: [spec.tool] });
out.tool = tool.choices[0].message.content;
console.log(JSON.stringify(out));
