// Drives the Models page of a running `lmx serve` (with the MLX runtime and a
// fake Hub that serves REPO, its weights throttled) in headless Chromium.
// usage: node tests/models.mjs URL ARTIFACT_DIR REPO TRUNCATED_GGUF GGUF
import assert from "node:assert/strict";
import { api, axeLightDark, check, launch, noScriptErrors, screenshots, summary } from "./lib.mjs";

const [url, artifacts, repo, truncated, gguf] = process.argv.slice(2);
if (!url || !artifacts || !repo || !truncated || !gguf) {
  console.error("usage: node tests/models.mjs URL ARTIFACT_DIR REPO TRUNCATED_GGUF GGUF");
  process.exit(2);
}

const { page, errors, close } = await launch();
page.on("dialog", (d) => d.accept());
try {
  await page.goto(`${url}/#/models`);
  await page.locator("#library").waitFor({ timeout: 15000 });

  await check("an empty library says how to get a model", async () => {
    await page.locator("#library .empty").waitFor({ timeout: 10000 });
    assert.match(await page.locator("#library").innerText(), /No model installed/);
  });
  await axeLightDark(page, "Models, empty");

  const row = page.locator(`tr.result[data-repo="${repo}"]`);
  await check("a search shows size, quantization and whether the model fits", async () => {
    await page.getByLabel("Search mlx-community models").fill("stories");
    await page.getByRole("button", { name: "Search" }).click();
    await row.waitFor({ timeout: 15000 });
    assert.equal(await page.locator("tr.result").count(), 2, "both stories repos are found");
    await row.locator(".fit").getByText(/^(Fits|Tight fit|Won't fit)/).waitFor({ timeout: 15000 });
    assert.match(await row.locator(".size").innerText(), /^1\.0 MiB$|^\d+(\.\d)? (KiB|MiB)$/);
    assert.equal(await row.locator(".quant").innerText(), "unquantized");
    assert.match(await row.locator(".fit").innerText(), /^Fits \([\d.]+ [KMG]iB of [\d.]+ [MGT]iB\)$/);
  });

  const dl = page.locator(`#downloads li.download`).first();
  let pausedAt = -1;
  await check("a download shows its progress, speed and ETA", async () => {
    await page.getByRole("button", { name: `Download ${repo}`, exact: true }).click();
    await dl.waitFor({ timeout: 10000 });
    // Progress must be seen between 0 and 100, with a speed and an ETA.
    const deadline = Date.now() + 20000;
    let seen = -1;
    while (Date.now() < deadline) {
      const v = Number(await dl.locator("progress").getAttribute("value"));
      if (v > 0 && v < 100 && (await dl.locator(".speed").count()) > 0) {
        seen = v;
        break;
      }
      await page.waitForTimeout(100);
    }
    assert.ok(seen > 0, "no partial progress with a speed was shown");
    assert.match(await dl.locator(".speed").innerText(), /^[\d.]+ (B|KiB|MiB)\/s$/);
    assert.match(await dl.locator(".eta").innerText(), /^\d+ s left$|^\d+ min \d+ s left$/);
    assert.match(await dl.locator(".pct").innerText(), /^\d+%$/);
  });
  await screenshots(page, artifacts, "models-downloading");

  await check("Pause stops the download and keeps its progress; Resume finishes it", async () => {
    await page.getByRole("button", { name: `Pause ${repo}`, exact: true }).click();
    await page.locator(`#downloads li[data-state="paused"]`).waitFor({ timeout: 10000 });
    pausedAt = Number(await dl.locator("progress").getAttribute("value"));
    assert.ok(pausedAt < 100, `paused at ${pausedAt}%`);
    await page.waitForTimeout(1500);
    assert.equal(Number(await dl.locator("progress").getAttribute("value")), pausedAt, "progress moved while paused");
    const downloads = await api(url, "GET", "/api/downloads");
    assert.equal(downloads.body.downloads[0].state, "paused");
    await page.getByRole("button", { name: `Resume ${repo}`, exact: true }).click();
    await page.locator(`#library tr[data-id="${repo}"]`).waitFor({ timeout: 30000 });
    await page.locator("#downloads").waitFor({ state: "detached", timeout: 10000 });
    assert.match(await page.locator("#disk-usage").innerText(), /^1 model · [\d.]+ (KiB|MiB) on disk/);
    assert.equal(await row.locator(".row-actions").innerText(), "Installed");
  });

  const lib = page.locator(`#library tr[data-id="${repo}"]`);
  await check("the downloaded model loads, pins and unpins", async () => {
    await page.getByRole("button", { name: `Load ${repo}`, exact: true }).click();
    await lib.locator(".state-loaded").waitFor({ timeout: 60000 });
    const pool = await api(url, "GET", "/api/pool");
    assert.deepEqual(pool.body.models.map((m) => m.id), [repo]);
    await page.getByRole("button", { name: `Pin ${repo}`, exact: true }).click();
    await lib.getByText("pinned", { exact: true }).waitFor({ timeout: 10000 });
    assert.deepEqual((await api(url, "GET", "/api/pool")).body.pinned, [repo]);
    await page.getByRole("button", { name: `Unpin ${repo}`, exact: true }).click();
    await page.getByRole("button", { name: `Pin ${repo}`, exact: true }).waitFor({ timeout: 10000 });
  });

  await check("importing a truncated GGUF file says why it failed", async () => {
    await page.getByLabel("Path of the .gguf file").fill(truncated);
    await page.getByRole("button", { name: "Import" }).click();
    await page.locator("#import-error").waitFor({ timeout: 15000 });
    assert.match(await page.locator("#import-error").innerText(), /corrupt GGUF file/);
    await page.getByLabel("Path of the .gguf file").fill("relative/model.gguf");
    await page.getByRole("button", { name: "Import" }).click();
    await page.locator("#import-error", { hasText: "is not absolute" }).waitFor({ timeout: 10000 });
  });
  await check("importing a GGUF file adds it to the library", async () => {
    await page.getByLabel("Path of the .gguf file").fill(gguf);
    await page.getByRole("button", { name: "Import" }).click();
    await page.locator("#import-done").waitFor({ timeout: 180000 });
    const name = gguf.split("/").pop().replace(/\.gguf$/, "");
    assert.equal(await page.locator("#import-done").innerText(), `Imported ${name}`);
    assert.equal(await page.locator("#import-error").count(), 0);
    const row = page.locator("#library tbody tr").filter({ hasText: name });
    await row.waitFor({ timeout: 10000 });
    assert.match(await row.innerText(), /llama · 4-bit/);
  });
  await screenshots(page, artifacts, "models");
  await axeLightDark(page, "Models with results, a loaded model and an error");

  await check("Unload frees the model and Delete removes it from disk", async () => {
    await page.getByRole("button", { name: `Unload ${repo}`, exact: true }).click();
    await lib.locator(".state-not-loaded").waitFor({ timeout: 30000 });
    assert.deepEqual((await api(url, "GET", "/api/pool")).body.models, []);
    await page.getByRole("button", { name: `Delete ${repo}`, exact: true }).click();
    await lib.waitFor({ state: "detached", timeout: 10000 });
    assert.deepEqual((await api(url, "GET", "/api/models")).body.models.filter((m) => m.repo === repo), []);
  });
  await noScriptErrors(errors);
} finally {
  await close();
}
process.exit(summary("models"));
