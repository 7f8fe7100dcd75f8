// Drives lmx serve's Responses API with the official OpenAI JavaScript SDK
// (pinned in internal/sdkclients): a greedy response whole (raw body kept
// for the schema) and streamed (recording the event order), a
// previous_response_id follow-up, and the second half of a function call.
// Prints the answers as JSON.
// Usage: node responses_client.mjs SDKCLIENTS_DIR SPEC_JSON
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.argv[2] + "/package.json");
const { default: OpenAI } = await import(pathToFileURL(require.resolve("openai")).href);
const spec = JSON.parse(process.argv[3]);
const client = new OpenAI({ baseURL: spec.url, apiKey: "unused", maxRetries: 0 });
const story = { model: spec.model, instructions: spec.instructions, input: spec.input, temperature: 0,
  max_output_tokens: spec.max_tokens };

const raw = await client.responses.create(story).asResponse();
const body = await raw.json();
const first = await client.responses.retrieve(body.id);
const out = { text: first.output_text, status: first.status, bodies: [body] };

const events = [];
let text = "";
for await (const event of await client.responses.create({ ...story, stream: true })) {
  events.push(event.type);
  // Stream events carry the plain response; output_text is added only to
  // responses the SDK returns itself.
  if (event.type === "response.completed" || event.type === "response.incomplete") {
    text = event.response.output.filter((it) => it.type === "message")
      .flatMap((it) => it.content.map((part) => part.text)).join("");
  }
}
out.events = events;
out.stream_text = text;

out.follow_up = (await client.responses.create({ ...story, input: spec.follow_up, previous_response_id: first.id })).output_text;

const tool = await client.responses.create({ model: spec.model, input: spec.tool_input, tools: [spec.tool], temperature: 0,
  max_output_tokens: spec.max_tokens });
out.tool = tool.output_text;
console.log(JSON.stringify(out));
