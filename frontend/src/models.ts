import { type DemoStatus, type Download, type LocalModel, type Status, cancelDownload, installDemo, pullModel } from "./api";
import { el, formatBytes, inlineCode } from "./dom";

// The Models card of the Dashboard: the installed models, downloads in
// progress, and a field to download one from Hugging Face.

// ModelActions are what the card's controls do; main.ts supplies them.
export interface ModelActions {
  flash(message: string): void;
}

// pullForm is built once and moved into each rendering, so what the user is
// typing survives the status updates that re-render the page.
let pullForm: HTMLFormElement | null = null;

function formFor(actions: ModelActions): HTMLFormElement {
  if (pullForm) return pullForm;
  const input = el("input", {
    id: "pull-repo", type: "text", placeholder: "mlx-community/Qwen3-0.6B-4bit",
    "aria-label": "Hugging Face repo to download", spellcheck: "false",
  });
  const form = el("form", { class: "pull" }, input, el("button", { type: "submit" }, "Download"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const repo = input.value.trim();
    if (!repo) return;
    pullModel(repo).then(
      () => {
        input.value = "";
        actions.flash(`Downloading ${repo}`);
      },
      (err: Error) => actions.flash(err.message),
    );
  });
  pullForm = form;
  return form;
}

// renderModels builds the Models card for one status snapshot.
export function renderModels(s: Status, actions: ModelActions): HTMLElement {
  const models = s.models ?? [];
  const active = (s.downloads ?? []).filter((d) => d.state !== "done");
  return el(
    "section",
    { class: "card", id: "models" },
    el("h2", {}, "Models"),
    s.model_hint ? el("p", { class: "hint", id: "model-hint" }, ...inlineCode(s.model_hint)) : null,
    demoBlock(s, actions),
    models.length ? el("ul", { class: "models", id: "model-list" }, ...models.map(modelRow)) : null,
    active.length ? el("ul", { class: "downloads", id: "download-list" }, ...active.map((d) => downloadRow(d, actions))) : null,
    s.models_error ? el("p", { class: "error" }, s.models_error) : null,
    formFor(actions),
  );
}

// demoBlock offers the demo model while no supported model is installed,
// and shows its install's progress or error.
function demoBlock(s: Status, actions: ModelActions): HTMLElement | null {
  const d = s.demo;
  const running = d !== undefined && d.state !== "ready" && d.state !== "failed";
  if (!s.model_hint && !running) return null;
  const install = el("button", { type: "button", id: "demo-install" }, "Install the demo model (SmolLM2-135M-Instruct, 98 MB)");
  install.disabled = running;
  install.addEventListener("click", () => {
    install.disabled = true;
    installDemo().then(
      () => actions.flash("Installing the demo model"),
      (err: Error) => {
        install.disabled = false;
        actions.flash(err.message);
      },
    );
  });
  return el("div", { class: "demo", id: "demo-model" }, install, d ? demoState(d) : null);
}

function demoState(d: DemoStatus): HTMLElement {
  if (d.state === "failed") {
    return el("p", { class: "error", id: "demo-error" }, ...inlineCode(d.error ?? "the install failed"));
  }
  const pct = d.total ? Math.floor((d.bytes / d.total) * 100) : 0;
  const text = {
    downloading: `Downloading from PyPI: ${pct}% (${formatBytes(d.bytes)} of ${formatBytes(d.total)})`,
    extracting: `Extracting the model: ${pct}%`,
    loading: "Loading the model…",
    ready: `Ready: ${d.model ?? d.path}`,
  }[d.state];
  return el("p", { class: "muted", id: "demo-progress" }, text);
}

function quant(m: LocalModel): string {
  const q = m.quantization;
  return q.bits ? `${q.bits}-bit` : "unquantized";
}

function modelRow(m: LocalModel): HTMLElement {
  const facts = [formatBytes(m.size_bytes), m.architecture || "unknown architecture", quant(m)].join(" · ");
  return el(
    "li",
    { "data-id": m.id, class: m.supported ? "model" : "model unsupported" },
    el("span", { class: "model-id" }, m.id),
    " ",
    el("span", { class: "muted" }, facts),
    m.supported ? null : el("span", { class: "error" }, ` — not supported: ${m.reason ?? "unknown reason"}`),
  );
}

function downloadRow(d: Download, actions: ModelActions): HTMLElement {
  const pct = d.total_bytes ? Math.floor((d.done_bytes / d.total_bytes) * 100) : 0;
  const cancel = el("button", { type: "button", class: "secondary" }, "Cancel");
  cancel.addEventListener("click", () => {
    cancelDownload(d.id).then(() => actions.flash(`Canceled ${d.repo}`), (err: Error) => actions.flash(err.message));
  });
  const speed = d.state === "running" && d.bytes_per_sec > 0 ? ` · ${formatBytes(d.bytes_per_sec)}/s` : "";
  return el(
    "li",
    { "data-id": d.id },
    el("span", { class: "model-id" }, d.repo),
    ` ${d.state} ${pct}% (${formatBytes(d.done_bytes)} of ${formatBytes(d.total_bytes)})${speed}`,
    d.error ? el("span", { class: "error" }, ` ${d.error}`) : null,
    cancel,
  );
}
