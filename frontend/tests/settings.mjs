// Drives the Settings page of a running `lmx serve` in headless Chromium
// (fresh profile each run). Two runs around a server restart:
//
//   node tests/settings.mjs edit URL ARTIFACT_DIR MODEL KEY
//     checks axe and screenshots, the prefix cache's hit rate and its Clear
//     button on MODEL, a refused value, changes every setting through the
//     form and saves, checks what applies at once (CORS), then sets the API
//     key KEY in the UI: /v1 then needs it, and the UI keeps working.
//
//   node tests/settings.mjs check URL ARTIFACT_DIR MODEL KEY
//     after the restart: the form shows the saved values and /v1 still
//     needs KEY.
import assert from "node:assert/strict";
import { api, axe, axeLightDark, check, launch, noScriptErrors, screenshots, summary } from "./lib.mjs";

const [mode, url, artifacts, model, key] = process.argv.slice(2);
if (!["edit", "check"].includes(mode) || !url || !artifacts || !model || !key) {
  console.error("usage: node tests/settings.mjs edit|check URL ARTIFACT_DIR MODEL KEY");
  process.exit(2);
}

// The values the edit run saves and the check run expects to find.
const want = {
  "CORS origins": "http://localhost:3000\nhttp://example.test:8080",
  "Allowed host names": "lmx.local",
  "Unload an idle model after (minutes)": "15",
  "Models loaded at once": "2",
  "Prefix cache size per model (GB)": "1.5",
  "Disk cache size (GB)": "4",
  "Max KV size (tokens)": "4096",
  "Memory budget (GB)": "3",
  "Wired limit (GB)": "2",
  "MLX buffer cache limit (GB)": "0.5",
};
const wantChecks = {
  "Load a model when a request names it (auto-load)": false,
  "Keep the prefix cache on disk": true,
  "Launch LMX at login": true,
};

const { page, errors, close } = await launch();
try {
  await page.goto(`${url}/#/settings`);
  if (mode === "check") await enterKey();
  await page.locator("#save").waitFor({ timeout: 15000 });
  if (mode === "edit") await edit();
  else await checkSaved();
  await noScriptErrors(errors);
} finally {
  await close();
}
process.exit(summary(`settings ${mode}`));

async function chat(content, headers = {}) {
  const resp = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: "user", content }] }),
  });
  const text = await resp.text();
  assert.equal(resp.status, 200, `chat: HTTP ${resp.status} ${text}`);
  JSON.parse(text);
}

async function edit() {
  await check("shows the defaults of a fresh install", async () => {
    assert.equal(await page.getByLabel("Host", { exact: true }).inputValue(), "127.0.0.1");
    assert.equal(await page.getByLabel("Port", { exact: true }).inputValue(), "1235");
    assert.equal(await page.getByLabel("Load a model when a request names it (auto-load)").isChecked(), true);
    assert.equal(await page.getByLabel("KV cache quantization").inputValue(), "0");
    assert.match(await page.locator("#key-state").innerText(), /No key is required/);
    assert.equal(await page.getByRole("button", { name: "Save settings" }).isDisabled(), true, "nothing to save yet");
    assert.match(await page.locator("#port-hint").innerText(), /Restarts the server/);
    assert.match(await page.locator("#max-kv-hint").innerText(), /models loaded from now on/);
  });
  await axeLightDark(page, "Settings");
  await screenshots(page, artifacts, "settings");

  await check("the prefix cache shows its hit rate and Clear empties it", async () => {
    await chat("A prompt sent twice so the prefix cache is hit.");
    await chat("A prompt sent twice so the prefix cache is hit.");
    await page.locator("#cache-stats", { hasText: /Hit rate [1-9]\d*%/ }).waitFor({ timeout: 10000 });
    const before = await api(url, "GET", "/api/stats");
    const entries = before.body.models.reduce((a, m) => a + m.prefix_cache.entries, 0);
    assert.ok(entries > 0, `prefix cache entries before clearing: ${entries}`);
    await page.getByRole("button", { name: "Clear prefix cache" }).click();
    await page.locator(".toast", { hasText: /^Prefix cache cleared: [\d.]+ [KMG]?i?B in memory/ }).waitFor({ timeout: 10000 });
    const after = await api(url, "GET", "/api/stats");
    assert.deepEqual(after.body.models.map((m) => [m.prefix_cache.entries, m.prefix_cache.bytes]), after.body.models.map(() => [0, 0]));
  });

  await check("a refused value is named and nothing is saved", async () => {
    await page.getByLabel("Port", { exact: true }).fill("70000");
    await page.getByRole("button", { name: "Save settings" }).click();
    const error = page.locator("#save-error");
    await error.waitFor();
    assert.equal(await error.innerText(), "Port must be a whole number from 1 to 65535.");
    assert.equal(await page.getByLabel("Port", { exact: true }).getAttribute("aria-invalid"), "true");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "port", "focus moves to the bad field");
    assert.equal((await api(url, "GET", "/api/settings")).body.server.port, 1235);
    await page.getByRole("button", { name: "Discard changes" }).click();
    assert.equal(await page.getByLabel("Port", { exact: true }).inputValue(), "1235");
  });

  await check("every setting changed in the form is saved", async () => {
    for (const [label, value] of Object.entries(want)) await page.getByLabel(label, { exact: true }).fill(value);
    for (const [label, on] of Object.entries(wantChecks)) await page.getByLabel(label).setChecked(on);
    await page.getByLabel("KV cache quantization").selectOption("8");
    assert.match(await page.locator(".save-bar").innerText(), /Unsaved changes/);
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.locator(".save-bar", { hasText: "All changes saved" }).waitFor({ timeout: 15000 });
    assert.equal(await page.locator("#save-error").count(), 0);
    const s = (await api(url, "GET", "/api/settings")).body;
    assert.deepEqual(s.server.cors_origins, ["http://localhost:3000", "http://example.test:8080"]);
    assert.deepEqual(s.server.allowed_hosts, ["lmx.local"]);
    assert.equal(s.requests.load_on_demand, false);
    assert.equal(s.cache.prompt_cache_bytes, 1.5 * 2 ** 30);
    assert.equal(s.cache.persist_to_disk, true);
    assert.equal(s.cache.disk_cache_bytes, 4 * 2 ** 30);
    assert.equal(s.cache.max_kv_size, 4096);
    assert.equal(s.cache.kv_bits, 8);
    assert.equal(s.memory.limit_bytes, 3 * 2 ** 30);
    assert.equal(s.memory.wired_limit_bytes, 2 * 2 ** 30);
    assert.equal(s.memory.cache_limit_bytes, 2 ** 29);
    assert.equal(s.idle_unload_sec, 900);
    assert.equal(s.pool.max_models, 2);
    assert.equal(s.launch_at_login, true);
    assert.equal(s.server.port, 1235, "the port stays");
  });
  await check("a new CORS origin applies at once, without a restart", async () => {
    const resp = await fetch(`${url}/api/status`, { headers: { Origin: "http://localhost:3000" } });
    assert.equal(resp.status, 200);
    assert.equal(resp.headers.get("access-control-allow-origin"), "http://localhost:3000");
    const other = await fetch(`${url}/api/status`, { headers: { Origin: "http://evil.test" } });
    assert.equal(other.status, 403);
  });

  await check("an API key set in the UI is then required on /v1", async () => {
    assert.equal((await api(url, "GET", "/v1/models")).status, 200, "no key needed before");
    await page.getByRole("textbox", { name: "API key", exact: true }).fill(key);
    await page.getByRole("button", { name: "Set key" }).click();
    await page.locator("#key-state", { hasText: "A key is required" }).waitFor({ timeout: 10000 });
    assert.equal(await page.getByRole("textbox", { name: "New API key", exact: true }).inputValue(), "", "the key is not left in the field");
    assert.equal((await api(url, "GET", "/v1/models")).status, 401);
    assert.equal((await api(url, "GET", "/v1/models", undefined, "sk-wrong")).status, 401);
    assert.equal((await api(url, "GET", "/v1/models", undefined, key)).status, 200);
    const noKey = await fetch(`${url}/v1/chat/completions`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model, max_tokens: 4, messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(noKey.status, 401);
    await chat("hi", { Authorization: `Bearer ${key}` });
    await chat("hi", { "x-api-key": key });
  });
  await check("the UI keeps working with the key: it holds it and sends it", async () => {
    assert.equal(await page.evaluate(() => localStorage.getItem("lmx.apiKey")), key);
    await page.goto(`${url}/#/`);
    await page.locator("#server .badge", { hasText: "Running" }).waitFor({ timeout: 15000 });
    await page.locator("#loaded-table").waitFor({ timeout: 15000 });
    const fromPage = await page.evaluate(async () => {
      const bare = await fetch("/v1/models");
      const keyed = await fetch("/v1/models", { headers: { Authorization: `Bearer ${localStorage.getItem("lmx.apiKey")}` } });
      return [bare.status, keyed.status];
    });
    assert.deepEqual(fromPage, [401, 200]);
    await page.goto(`${url}/#/settings`);
    await page.locator("#key-state", { hasText: "A key is required" }).waitFor({ timeout: 15000 });
  });
  await screenshots(page, artifacts, "settings-saved");
}

async function checkSaved() {
  await check("the settings saved before the restart are shown", async () => {
    for (const [label, value] of Object.entries(want)) {
      assert.equal(await page.getByLabel(label, { exact: true }).inputValue(), value, label);
    }
    for (const [label, on] of Object.entries(wantChecks)) {
      assert.equal(await page.getByLabel(label).isChecked(), on, label);
    }
    assert.equal(await page.getByLabel("KV cache quantization").inputValue(), "8");
    assert.match(await page.locator("#key-state").innerText(), /A key is required/);
  });
  await check("after the restart /v1 still needs the key set in the UI", async () => {
    assert.equal((await api(url, "GET", "/v1/models")).status, 401);
    assert.equal((await api(url, "GET", "/v1/models", undefined, key)).status, 200);
  });
  await check("the dashboard marks the MLX wired limit saved in Settings on the memory bar", async () => {
    await page.goto(`${url}/#/`);
    await page.locator("#memory .legend").waitFor({ timeout: 15000 });
    const legend = await page.locator("#memory .legend li").allInnerTexts();
    assert.ok(legend.includes("MLX wired limit 2.0 GiB"), `legend: ${legend}`);
    assert.equal(await page.locator("#memory .stacked-bar .marker.limit").count(), 1);
    assert.match(await page.locator("#mlx-memory").innerText(), /Wired limit\s+2\.0 GiB/);
    await page.goto(`${url}/#/settings`);
    await page.locator("#save").waitFor({ timeout: 15000 });
  });
  await check("a change saved from this browser (which was given the key) applies", async () => {
    await page.getByLabel("Models loaded at once").fill("3");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.locator(".save-bar", { hasText: "All changes saved" }).waitFor({ timeout: 15000 });
    assert.equal((await api(url, "GET", "/api/settings", undefined, key)).body.pool.max_models, 3);
    assert.equal(await page.evaluate(() => localStorage.getItem("lmx.apiKey")), key);
  });
}

// enterKey: a new browser (no key held) is asked for the key before the
// management API shows anything (it answers 401 without it, from this
// machine too); a wrong key is refused and the right one opens the page.
async function enterKey() {
  await check("a new browser is asked for the key; the management API refuses it without", async () => {
    const dialog = page.getByRole("dialog", { name: "This server needs its API key" });
    await dialog.waitFor({ timeout: 15000 });
    await axe(page, "Settings with the key prompt");
    assert.equal((await api(url, "GET", "/api/settings")).status, 401);
    assert.equal((await api(url, "GET", "/api/status")).status, 401);
    assert.equal((await api(url, "GET", "/api/settings", undefined, key)).body.pool.max_models, 2, "the saved value");
    assert.equal(await page.locator("#save").count(), 0, "the settings form is not shown without the key");
    await dialog.getByLabel("API key").fill(key);
    await dialog.getByRole("button", { name: "Use this key" }).click();
    await page.locator("#save").waitFor({ timeout: 15000 });
  });
}
