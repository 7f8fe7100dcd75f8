// Drives lmx serve's Messages API with the official Anthropic JavaScript
// SDK (pinned in internal/sdkclients): a greedy message whole and streamed
// (recording the raw event order), count_tokens, and the second half of a
// tool call. Prints the answers as JSON.
// Usage: node anthropic_client.mjs SDKCLIENTS_DIR SPEC_JSON
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.argv[2] + "/package.json");
const { default: Anthropic } = await import(pathToFileURL(require.resolve("@anthropic-ai/sdk")).href);
const spec = JSON.parse(process.argv[3]);
const client = new Anthropic({ baseURL: spec.url, apiKey: "unused", maxRetries: 0 });
const model = spec.model, n = spec.max_tokens;
const system = [{ type: "text", text: spec.system, cache_control: { type: "ephemeral" } }];
const story = [{ role: "user", content: spec.user }];

const msg = await client.messages.create({ model, max_tokens: n, system, messages: story, temperature: 0,
  metadata: { user_id: "u1" } });
const out = { text: msg.content[0].text, stop_reason: msg.stop_reason,
  input_tokens: msg.usage.input_tokens, output_tokens: msg.usage.output_tokens,
  cache_read_input_tokens: msg.usage.cache_read_input_tokens ?? 0 };

const events = [];
const stream = client.messages.stream({ model, max_tokens: n, system, messages: story, temperature: 0 });
for await (const event of stream) events.push(event.type);
const final = await stream.finalMessage();
out.stream_text = final.content[0].text;
out.events = events;

out.count = (await client.messages.countTokens({ model, system, messages: story })).input_tokens;

const tool = await client.messages.create({ model, max_tokens: n, temperature: 0, tools: [spec.tool], messages: [
  { role: "user", content: spec.tool_user },
  { role: "assistant", content: [{ type: "tool_use", id: spec.tool_id, name: spec.tool_name, input: spec.tool_args }] },
  { role: "user", content: [{ type: "tool_result", tool_use_id: spec.tool_id, content: spec.tool_result }] },
] });
out.tool = tool.content[0].text;
console.log(JSON.stringify(out));
