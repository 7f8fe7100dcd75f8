// Drives the dashboard served by a running `lmx serve` (started without the
// MLX runtime, with an empty model library and a Hub that serves REPO) in
// headless Chromium, and screenshots it.
// usage: node tests/dashboard.mjs URL ARTIFACT_DIR REPO
// Chromium: $CHROMIUM or /usr/bin/chromium (Debian's package).
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [url, artifacts, repo] = process.argv.slice(2);
if (!url || !artifacts || !repo) {
  console.error("usage: node tests/dashboard.mjs URL ARTIFACT_DIR REPO");
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

const profile = mkdtempSync(join(tmpdir(), "lmx-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1200, height: 800 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.message}`);
  }
}

try {
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on("pageerror", (err) => consoleErrors.push(err.message));
  await page.goto(`${url}/`);
  await page.locator("#engine-error").waitFor({ timeout: 15000 });

  await check("shows the server running with its endpoint", async () => {
    assert.equal(await page.locator("#server .badge").innerText(), "Running");
    assert.equal(await page.locator("#endpoint-url").innerText(), `${url}/v1`);
  });
  await check("shows the engine unavailable with the paths searched and the fix", async () => {
    assert.equal(await page.locator("#engine .badge").innerText(), "Engine unavailable");
    assert.match(await page.locator("#engine-error").innerText(), /\/nonexistent\/liblmxshim/);
    assert.match(await page.locator("#engine").innerText(), /make mlx/);
  });
  await check("shows the system memory", async () => {
    assert.match(await page.locator("#memory").innerText(), /[\d.]+ [KMGT]iB of [\d.]+ GiB used \(\d+%\)/);
  });
  await check("with no model installed, says how to get one", async () => {
    assert.match(await page.locator("#model-hint").innerText(), /lmx pull mlx-community\/Qwen3-0\.6B-4bit/);
    assert.equal(await page.locator("#model-hint code").innerText(), "lmx pull mlx-community/Qwen3-0.6B-4bit");
    assert.doesNotMatch(await page.locator("#model-hint").innerText(), /`/);
    assert.equal(await page.locator("#model-list").count(), 0);
  });
  await page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true });

  await check("a model downloaded from the dashboard appears in its list and in /v1/models", async () => {
    await page.locator("#pull-repo").fill(repo);
    await page.getByRole("button", { name: "Download" }).click();
    const row = page.locator(`#model-list li[data-id="${repo}"]`);
    await row.waitFor({ timeout: 30000 });
    assert.match(await row.innerText(), /llama · unquantized/);
    assert.equal(await page.locator("#model-hint").count(), 0);
    const models = await (await fetch(`${url}/v1/models`)).json();
    assert.deepEqual(models.data.map((m) => m.id), [repo]);
    assert.equal(models.data[0].owned_by, repo.split("/")[0]);
  });
  await page.screenshot({ path: join(artifacts, "dashboard-model.png"), fullPage: true });

  await check("Stop server stops it and the page notices the lost event stream", async () => {
    await page.getByRole("button", { name: "Stop server" }).click();
    await page.locator("#server .badge", { hasText: "Stopped" }).waitFor({ timeout: 10000 });
    await page.locator("#connection").waitFor({ state: "visible", timeout: 10000 });
  });
  await page.screenshot({ path: join(artifacts, "dashboard-stopped.png"), fullPage: true });

  await check("no script errors", async () => assert.deepEqual(consoleErrors, []));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(`dashboard: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
