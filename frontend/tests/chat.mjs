// Drives the Chat page of a running `lmx serve` (serving the demo model from
// DEMO_DIR and a tiny Qwen3 with its real template from QWEN_DIR) in
// headless Chromium.
// usage: node tests/chat.mjs URL ARTIFACT_DIR DEMO_DIR QWEN_DIR
import assert from "node:assert/strict";
import { api, axeLightDark, check, launch, noScriptErrors, screenshots, summary } from "./lib.mjs";

const [url, artifacts, demoDir, qwenDir] = process.argv.slice(2);
if (!url || !artifacts || !demoDir || !qwenDir) {
  console.error("usage: node tests/chat.mjs URL ARTIFACT_DIR DEMO_DIR QWEN_DIR");
  process.exit(2);
}
const models = (await api(url, "GET", "/api/models")).body.models;
const demo = models.find((m) => m.path === demoDir)?.id;
const qwen = models.find((m) => m.path === qwenDir)?.id;
assert.ok(demo && qwen, `the library lists both models: ${JSON.stringify(models.map((m) => m.path))}`);

// untrusted is model output that would run code if it were injected as HTML.
const untrusted = [
  "Here is **bold** text and `<script>inline code</script>`.",
  "<script>window.__pwned = 'script'</script>",
  `<img src=x onerror="window.__pwned='img'">`,
  `<a href="https://example.org/" onclick="window.__pwned='onclick'">a link with a handler</a>`,
  "[a javascript link](javascript:window.__pwned='js')",
  "[a site](https://example.com/page)",
  `<iframe src="javascript:window.__pwned='iframe'"></iframe>`,
  `<svg onload="window.__pwned='svg'"><circle r="5"/></svg>`,
  `<details open ontoggle="window.__pwned='toggle'"><summary>s</summary>x</details>`,
  `<form action="https://evil.example/"><button formaction="javascript:window.__pwned='form'">go</button></form>`,
  `<div style="background:url(javascript:window.__pwned='style')" data-x="1">styled</div>`,
].join("\n\n");

// assertSafe checks that nothing of the untrusted output ran or can run.
async function assertSafe(page) {
  await page.waitForTimeout(500); // an image's onerror fires asynchronously
  assert.equal(await page.evaluate(() => window.__pwned), undefined, "a script of the model output ran");
  const bad = await page.evaluate(() => {
    const found = [];
    for (const el of document.querySelectorAll(".messages *")) {
      for (const a of el.attributes) {
        if (/^on/i.test(a.name) || a.name === "style" || a.name === "formaction" || /javascript:/i.test(a.value)) found.push(`${el.tagName} ${a.name}=${a.value}`);
      }
      if (["SCRIPT", "IMG", "IFRAME", "SVG", "FORM", "BUTTON", "OBJECT", "EMBED", "STYLE"].includes(el.tagName.toUpperCase())) found.push(el.tagName);
    }
    return found;
  });
  assert.deepEqual(bad, [], "dangerous elements or attributes in the messages");
  const links = await page.locator(".messages .md a").evaluateAll((as) => as.map((a) => ({ href: a.getAttribute("href"), target: a.getAttribute("target"), rel: a.getAttribute("rel"), text: a.textContent })));
  assert.ok(links.length >= 3, `links kept as links or text: ${JSON.stringify(links)}`);
  for (const l of links) {
    if (l.href === null) continue; // an unsafe link is kept as text
    assert.match(l.href, /^https:\/\//, `link ${l.text}`);
    assert.equal(l.target, "_blank", `link ${l.text}`);
    assert.equal(l.rel, "noopener noreferrer", `link ${l.text}`);
  }
  assert.ok(links.some((l) => l.href === "https://example.com/page"), "the markdown link is a link");
  assert.ok(links.some((l) => l.text === "a javascript link" && l.href === null), "the javascript: link is text");
}

const { page, errors, close } = await launch();
page.on("dialog", (d) => d.accept());
const chatID = () => decodeURIComponent(new URL(page.url()).hash.replace(/^#\/chat\/?/, ""));
const patched = () => page.waitForResponse((r) => r.url().includes("/api/chats/") && r.request().method() === "PATCH" && r.ok());
async function saveSettings(values) {
  const panel = page.locator("details.chat-settings");
  if (!(await panel.getAttribute("open") !== null)) await panel.locator("summary").click();
  for (const [label, v] of Object.entries(values)) {
    const field = page.getByLabel(label, { exact: true });
    if ((await field.evaluate((e) => e.tagName)) === "SELECT") await field.selectOption(v);
    else await field.fill(v);
  }
  const done = patched();
  await page.getByRole("button", { name: "Save settings" }).click();
  await done;
}
async function newChat(model) {
  await page.getByRole("button", { name: "New chat" }).click();
  await page.waitForURL(/#\/chat\/[0-9a-f]+-[0-9a-f]{12}$/, { timeout: 10000 });
  await page.locator("#chat-title").waitFor();
  const done = patched();
  await page.getByLabel("Model", { exact: true }).selectOption(model);
  await done;
}
async function send(text) {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByLabel("Message", { exact: true }).press("Enter");
}

try {
  await check("stored model output with <script>, HTML and links runs nothing and its links are safe", async () => {
    const chat = (await api(url, "POST", "/api/chats", {
      title: "Untrusted output", model: demo,
      messages: [
        { role: "user", content: "<b>hi</b> <script>window.__pwned='user'</script>" },
        {
          role: "assistant", content: untrusted, reasoning: `<img src=x onerror="window.__pwned='reasoning'">`,
          tool_calls: [{ id: "call_x", type: "function", function: { name: "<img src=x onerror=alert(1)>", arguments: `{"q":"<script>window.__pwned='args'</script>"}` } }],
        },
      ],
    })).body;
    await page.goto(`${url}/#/chat/${chat.id}`);
    await page.locator(".msg-assistant .md").waitFor({ timeout: 15000 });
    await assertSafe(page);
    assert.equal(await page.locator(".msg-assistant .md strong").innerText(), "bold");
    assert.equal(await page.locator(".msg-assistant .md code").first().innerText(), "<script>inline code</script>");
    assert.match(await page.locator(".msg-user").innerText(), /<b>hi<\/b> <script>window\.__pwned='user'<\/script>/);
    assert.equal(await page.locator(".tool-name").innerText(), "<img src=x onerror=alert(1)>");
    const reasoning = page.locator(".msg-assistant details.reasoning");
    assert.equal(await reasoning.getAttribute("open"), null, "the reasoning starts collapsed");
    assert.equal(await reasoning.locator(".reasoning-text").isVisible(), false);
    await reasoning.locator("summary").click();
    assert.equal(await reasoning.locator(".reasoning-text").innerText(), `<img src=x onerror="window.__pwned='reasoning'">`);
  });

  await check("streamed model output with <script>, HTML and links runs nothing either", async () => {
    // The test serves this one stream itself: a real model cannot be made to
    // write it. The page parses and renders it as any other.
    const chunk = (delta, finish = null) => ({ id: "x", object: "chat.completion.chunk", created: 1, model: demo, choices: [{ index: 0, delta, finish_reason: finish }] });
    const chunks = [chunk({ reasoning_content: "Thinking <b>hard</b>" }), ...untrusted.match(/[\s\S]{1,17}/g).map((c) => chunk({ content: c }))];
    chunks.push(chunk({}, "stop"));
    const body = chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join("") + "data: [DONE]\n\n";
    await page.route("**/v1/chat/completions", (route) => route.fulfill({ status: 200, headers: { "Content-Type": "text/event-stream" }, body }));
    await newChat(demo);
    await send("Say something dangerous.");
    await page.locator(".msg-assistant .msg-stats, .msg-assistant .md strong").first().waitFor({ timeout: 15000 });
    await page.locator(".msg.streaming").waitFor({ state: "detached", timeout: 15000 });
    await page.unroute("**/v1/chat/completions");
    await assertSafe(page);
    const stored = (await api(url, "GET", `/api/chats/${chatID()}`)).body;
    assert.equal(stored.messages[1].content, untrusted, "the reply is stored as it came");
    assert.equal(stored.messages[1].reasoning, "Thinking <b>hard</b>");
    assert.equal(await page.locator(".msg-assistant details.reasoning").getAttribute("open"), null, "the reasoning is collapsed");
  });

  let id = "";
  await check("a reply streams from the demo model with its speed and time to first token", async () => {
    await newChat(demo);
    id = chatID();
    await saveSettings({ Temperature: "0", "Max tokens": "16", "System prompt": "You are a helpful assistant." });
    await send("What is the capital of France?");
    await page.getByRole("button", { name: "Stop" }).waitFor({ timeout: 10000 });
    await page.locator(".msg-assistant .msg-stats .tps").waitFor({ timeout: 90000 });
    assert.match(await page.locator(".msg-assistant .md").innerText(), /Paris/);
    assert.match(await page.locator(".msg-assistant .tps").innerText(), /^[\d.]+ tok\/s$/);
    assert.match(await page.locator(".msg-assistant .ttft").innerText(), /^first token (\d+ ms|[\d.]+ s)$/);
    const stored = (await api(url, "GET", `/api/chats/${id}`)).body;
    const n = stored.messages[1].stats.completion_tokens;
    assert.ok(n > 1 && n <= 16, `completion_tokens ${n}`);
    assert.equal(await page.locator(".msg-assistant .tokens").innerText(), `${n} tokens`);
    assert.equal(stored.title, "What is the capital of France?");
    assert.equal(stored.messages.length, 2);
    assert.ok(stored.messages[1].stats.tokens_per_sec > 0 && stored.messages[1].stats.ttft_ms > 0);
    assert.equal(await page.locator(`.chat-list a[data-id="${id}"] .chat-title`).innerText(), "What is the capital of France?");
  });

  await check("a long reply stopped mid-stream stops and is kept as stopped", async () => {
    await saveSettings({ "Max tokens": "400" });
    await send("Tell me a long story about a dragon who learns to fly.");
    const live = page.locator(".msg.streaming .md");
    await page.waitForFunction(() => (document.querySelector(".msg.streaming .md")?.textContent ?? "").length >= 20, null, { timeout: 60000 });
    assert.ok((await live.innerText()).length >= 20);
    await page.getByRole("button", { name: "Stop" }).click();
    await page.locator(".msg.streaming").waitFor({ state: "detached", timeout: 10000 });
    const last = page.locator(".msg-assistant").last();
    await last.locator(".stopped").waitFor();
    const text = await last.locator(".md").innerText();
    await page.waitForTimeout(1500);
    assert.equal(await last.locator(".md").innerText(), text, "the reply grew after Stop");
    const stored = (await api(url, "GET", `/api/chats/${id}`)).body;
    const m = stored.messages.at(-1);
    assert.equal(m.stopped, true);
    assert.ok(m.content.length >= 20 && m.stats.completion_tokens === undefined, JSON.stringify(m));
    // The server stops generating when the stream is closed.
    for (let i = 0; ; i++) {
      const pool = (await api(url, "GET", "/api/pool")).body;
      if (pool.models.find((p) => p.id === demo)?.requests === 0) break;
      assert.ok(i < 50, "the demo model is still busy 10 s after Stop");
      await page.waitForTimeout(200);
    }
  });

  await check("a conversation is renamed", async () => {
    await page.getByRole("button", { name: "Rename" }).click();
    await page.getByLabel("Conversation title").fill("Capital cities");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.locator("#chat-title", { hasText: "Capital cities" }).waitFor({ timeout: 10000 });
    await page.locator(`.chat-list a[data-id="${id}"]`, { hasText: "Capital cities" }).waitFor({ timeout: 10000 });
    assert.equal((await api(url, "GET", `/api/chats/${id}`)).body.title, "Capital cities");
  });
  await screenshots(page, artifacts, "chat");
  await axeLightDark(page, "Chat with a reply and a stopped reply");

  await check("a forced tool call is shown as a call with its arguments", async () => {
    await newChat(qwen);
    const tools = [{
      type: "function",
      function: {
        name: "get_weather", description: "Weather forecast for a city",
        parameters: { type: "object", properties: { city: { enum: ["Paris", "Oslo"] } }, required: ["city"], additionalProperties: false },
      },
    }];
    await saveSettings({ Temperature: "0", "Max tokens": "96", Reasoning: "none", "Tools (an OpenAI \"tools\" JSON array; empty for none)": JSON.stringify(tools), "Tool choice": "required" });
    await send("What is the weather in Paris?");
    const call = page.locator('.msg-assistant:not(.streaming) .tool-call[data-tool="get_weather"]');
    await call.waitFor({ timeout: 90000 });
    assert.equal(await call.locator(".tool-name").innerText(), "get_weather");
    const args = JSON.parse(await call.locator(".tool-args").innerText());
    assert.ok(["Paris", "Oslo"].includes(args.city) && Object.keys(args).length === 1, JSON.stringify(args));
    assert.doesNotMatch(await page.locator(".msg-assistant").last().innerText(), /tool_call>/);
    const m = (await api(url, "GET", `/api/chats/${chatID()}`)).body.messages.at(-1);
    assert.equal(m.tool_calls[0].function.name, "get_weather");
    assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), args);
    assert.equal(m.stats.finish_reason, "tool_calls");
  });
  await screenshots(page, artifacts, "chat-tool-call");
  await axeLightDark(page, "Chat with a tool call");

  await check("a conversation is deleted", async () => {
    const gone = chatID();
    await page.getByRole("button", { name: "Delete" }).click();
    await page.waitForURL(/#\/chat$/, { timeout: 10000 });
    await page.locator(`.chat-list a[data-id="${gone}"]`).waitFor({ state: "detached", timeout: 10000 });
    assert.equal((await api(url, "GET", `/api/chats/${gone}`)).status, 404);
  });

  await check("#/chat/new (the tray's New chat) starts a conversation", async () => {
    const before = (await api(url, "GET", "/api/chats")).body.chats.length;
    await page.goto(`${url}/#/chat/new`);
    await page.waitForURL(/#\/chat\/[0-9a-f]+-[0-9a-f]{12}$/, { timeout: 10000 });
    await page.locator("#chat-title", { hasText: "New chat" }).waitFor();
    assert.equal((await api(url, "GET", "/api/chats")).body.chats.length, before + 1);
  });
  await noScriptErrors(errors);
} finally {
  await close();
}
process.exit(summary("chat"));
