// Shared helpers for the browser scripts in tests/: a headless Chromium with
// a fresh profile, named checks with a summary, axe-core runs and light/dark
// screenshots. Chromium: $CHROMIUM or /usr/bin/chromium (Debian's package).
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));

let passed = 0;
let failed = 0;
const failures = [];

// launch starts headless Chromium with a fresh profile and returns
// { context, page, errors, close }: errors collects uncaught page errors
// (check it with noScriptErrors); close ends Chromium and deletes the profile.
export async function launch({ width = 1200, height = 800, colorScheme = "light" } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "lmx-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    viewport: { width, height },
    colorScheme,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, errors, close };
}

// check runs one named check, logs "ok"/"FAIL" and counts it; a failure does
// not stop the script (summary() sets the exit code).
export async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
    return true;
  } catch (err) {
    failed++;
    failures.push(name);
    console.log(`FAIL ${name}: ${err?.stack ?? err}`);
    return false;
  }
}

// noScriptErrors is a check that the page threw no uncaught errors.
export async function noScriptErrors(errors) {
  await check("no script errors", async () => assert.deepEqual(errors, []));
}

// axe injects axe-core into the page and runs it on the whole document; it
// throws (so use it inside check) on any violation, whatever its impact,
// listing rule, impact and the offending nodes.
export async function axe(page, name) {
  const src = readFileSync(join(here, "..", "node_modules", "axe-core", "axe.min.js"), "utf8");
  await page.evaluate(src);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary?.replace(/\s+/g, " ")}`),
    }));
  });
  if (result.length > 0) {
    const text = result.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.join("\n    ")}`).join("\n  ");
    throw new Error(`axe on ${name}: ${result.length} violation(s)\n  ${text}`);
  }
}

// setScheme switches prefers-color-scheme for the page ("light" or "dark").
export async function setScheme(page, scheme) {
  await page.emulateMedia({ colorScheme: scheme });
}

// screenshots writes DIR/NAME-light.png and DIR/NAME-dark.png (full page) and
// leaves the page in the light scheme.
export async function screenshots(page, dir, name) {
  mkdirSync(dir, { recursive: true });
  await page.evaluate(() => getSelection()?.removeAllRanges());
  for (const scheme of ["light", "dark"]) {
    await setScheme(page, scheme);
    await page.waitForTimeout(100);
    await page.screenshot({ path: join(dir, `${name}-${scheme}.png`), fullPage: true });
  }
  await setScheme(page, "light");
}

// axeLightDark runs axe in the light and the dark scheme as two checks.
export async function axeLightDark(page, name) {
  for (const scheme of ["light", "dark"]) {
    await check(`axe: ${name} (${scheme}) has no violations`, async () => {
      await setScheme(page, scheme);
      await page.waitForTimeout(100);
      await axe(page, `${name} (${scheme})`);
    });
  }
  await setScheme(page, "light");
}

// summary prints "SCRIPT: N passed, M failed" and returns the exit code
// (0 when nothing failed): process.exit(summary("dashboard")).
export function summary(name = "browser") {
  console.log(`${name}: ${passed} passed, ${failed} failed${failed ? ` (${failures.join("; ")})` : ""}`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

// api calls the server's JSON API from node (not the page): api(url, "GET",
// "/api/status", body, key) → { status, body }.
export async function api(base, method, path, body, key) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers.Authorization = `Bearer ${key}`;
  const resp = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: resp.status, body: json };
}
