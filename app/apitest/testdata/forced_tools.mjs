// Forces tool calls through lmx serve with the official JavaScript SDKs
// (pinned in internal/sdkclients), as forced_tools.py does in Python.
// Usage: node forced_tools.mjs SDKCLIENTS_DIR SPEC_JSON
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.argv[2] + "/package.json");
const { default: OpenAI } = await import(pathToFileURL(require.resolve("openai")).href);
const { default: Anthropic } = await import(pathToFileURL(require.resolve("@anthropic-ai/sdk")).href);
const spec = JSON.parse(process.argv[3]);
const oa = new OpenAI({ baseURL: spec.url + "/v1", apiKey: "unused", maxRetries: 0 });
const an = new Anthropic({ baseURL: spec.url, apiKey: "unused", maxRetries: 0 });
const { model, max_tokens: n, user, tools, named } = spec;
const out = { calls: [], formats: [] };

for (const choice of ["required", { type: "function", function: { name: named } }]) {
  const r = await oa.chat.completions.create({ model, messages: [{ role: "user", content: user }], tools,
    tool_choice: choice, temperature: 0, max_tokens: n, reasoning_effort: "none" });
  for (const c of r.choices[0].message.tool_calls ?? []) {
    out.calls.push({ api: "chat", choice: JSON.stringify(choice), name: c.function.name,
      arguments: c.function.arguments, finish: r.choices[0].finish_reason });
  }
}

const flat = tools.map((t) => ({ type: "function", name: t.function.name, parameters: t.function.parameters, strict: true }));
for (const choice of ["required", { type: "function", name: named }]) {
  const r = await oa.responses.create({ model, input: user, tools: flat, tool_choice: choice, temperature: 0,
    max_output_tokens: n, reasoning: { effort: "none" } });
  for (const it of r.output) {
    if (it.type === "function_call") {
      out.calls.push({ api: "responses", choice: JSON.stringify(choice), name: it.name, arguments: it.arguments,
        finish: r.status });
    }
  }
}

const atools = tools.map((t) => ({ name: t.function.name, input_schema: t.function.parameters }));
for (const choice of [{ type: "any" }, { type: "tool", name: named }]) {
  const r = await an.messages.create({ model, max_tokens: n, tools: atools, tool_choice: choice,
    messages: [{ role: "user", content: user }], thinking: { type: "disabled" }, temperature: 0 });
  for (const b of r.content) {
    if (b.type === "tool_use") {
      out.calls.push({ api: "messages", choice: JSON.stringify(choice), name: b.name,
        arguments: JSON.stringify(b.input), finish: r.stop_reason });
    }
  }
}

const format = { name: "weather", strict: true, schema: spec.schema };
let r = await oa.chat.completions.create({ model, messages: [{ role: "user", content: user }], temperature: 0,
  max_tokens: n, reasoning_effort: "none", response_format: { type: "json_schema", json_schema: format } });
out.formats.push({ api: "chat", text: r.choices[0].message.content, finish: r.choices[0].finish_reason });
r = await oa.responses.create({ model, input: user, temperature: 0, max_output_tokens: n, reasoning: { effort: "none" },
  text: { format: { type: "json_schema", ...format } } });
out.formats.push({ api: "responses", text: r.output_text, finish: r.status });
console.log(JSON.stringify(out));
