// Drives the Dashboard of an `lmx serve --hosts` leader in headless Chromium
// (fresh profile): the Group panel must show the group's state, every rank
// with its address and MLX memory, and the measured link; axe-core passes in
// light and dark, and the page is screenshot in both.
//
//   node tests/group.mjs ready URL ARTIFACT_DIR   the group has formed
//   node tests/group.mjs lost URL ARTIFACT_DIR    a rank was lost
import assert from "node:assert/strict";
import { axeLightDark, check, launch, noScriptErrors, screenshots, summary } from "./lib.mjs";

const [mode, url, artifacts] = process.argv.slice(2);
if (!["ready", "lost"].includes(mode) || !url || !artifacts) {
  console.error("usage: node tests/group.mjs ready|lost URL ARTIFACT_DIR");
  process.exit(2);
}

const { page, errors, close } = await launch();
try {
  await page.goto(`${url}/`);
  await page.locator("#group").waitFor({ timeout: 15000 });
  if (mode === "ready") {
    await check("the group is ready with both ranks, their memory and the link", async () => {
      assert.equal(await page.locator("#group .badge").innerText(), "Ready");
      const rows = page.locator("#group-ranks tbody tr");
      assert.equal(await rows.count(), 2);
      assert.match(await rows.nth(0).innerText(), /0 \(this Mac, leader\)\s+localhost\s+127\.0\.0\.1:\d+\s+\d[\d.]* (KiB|MiB|GiB)/);
      assert.match(await rows.nth(1).innerText(), /^1\s+localhost\s+127\.0\.0\.1:\d+\s+\d[\d.]* (KiB|MiB|GiB)/);
      assert.match(await page.locator("#group").innerText(), /Link: all_sum of 16(\.0)? MiB in [\d.]+ ms \([\d.]+ GB\/s\)/);
    });
  } else {
    await check("the group says a machine was lost and why", async () => {
      await page.locator("#group-error").waitFor({ timeout: 15000 });
      assert.match(await page.locator("#group .badge").innerText(), /lost|Waiting/);
      assert.match(await page.locator("#group-error").innerText(), /lost a rank|peer/);
    });
  }
  await axeLightDark(page, `group ${mode}`);
  await screenshots(page, artifacts, `group-${mode}`);
  await noScriptErrors(errors);
} finally {
  await close();
}
process.exit(summary(`group ${mode}`));
