import { type Memory, type Status, startServer, stopServer } from "./api";
import { el, formatBytes } from "./dom";
import { renderModels } from "./models";
import { copyText, inWindow, openInBrowser } from "./wails";

// Actions the Dashboard's buttons trigger; main.ts re-renders with the result.
export interface Actions {
  run(action: () => Promise<Status>): void;
  flash(message: string): void;
}

// renderDashboard builds the Dashboard for one status snapshot.
export function renderDashboard(s: Status, actions: Actions): HTMLElement {
  return el(
    "div",
    { class: "dashboard" },
    serverCard(s, actions),
    renderModels(s, actions),
    engineCard(s),
    memoryCard(s),
    el("footer", { class: "meta" }, `LMX ${s.version}`, s.data_dir ? ` · data in ${s.data_dir}` : ""),
  );
}

function card(title: string, id: string, ...body: (Node | string | null)[]): HTMLElement {
  return el("section", { class: "card", id }, el("h2", {}, title), ...body);
}

function badge(ok: boolean, yes: string, no: string): HTMLElement {
  return el("span", { class: ok ? "badge ok" : "badge bad" }, ok ? yes : no);
}

function button(label: string, onClick: () => void, kind = ""): HTMLButtonElement {
  const b = el("button", { type: "button", class: kind }, label);
  b.addEventListener("click", onClick);
  return b;
}

function serverCard(s: Status, actions: Actions): HTMLElement {
  const srv = s.server;
  // A browser page is served by the server itself: once stopped, only the
  // window (which reaches the API in-process) or the tray can start it.
  const toggle = srv.running
    ? button("Stop server", () => actions.run(stopServer), "secondary")
    : inWindow()
      ? button("Start server", () => actions.run(startServer))
      : el("span", { class: "muted" }, "Start it again from the LMX window or the menu-bar icon.");
  const endpoint = srv.running
    ? el(
        "div",
        { class: "endpoint" },
        el("code", { id: "endpoint-url" }, `${srv.url}/v1`),
        button("Copy", () => {
          copyText(`${srv.url}/v1`).then(
            () => actions.flash("Endpoint copied"),
            () => actions.flash("Copy failed: select the URL and copy it"),
          );
        }, "secondary"),
      )
    : el("p", { class: "muted" }, `Not listening (configured for ${srv.host}:${srv.port}).`);
  return card(
    "Server",
    "server",
    el("p", {}, badge(srv.running, "Running", "Stopped"), " ", toggle,
      inWindow() && srv.running ? button("Open in browser", () => void openInBrowser(), "secondary") : null),
    endpoint,
    srv.error ? el("p", { class: "error" }, `Last start failed: ${srv.error}`) : null,
    srv.running
      ? el("p", { class: "muted" }, "OpenAI-compatible clients: set the base URL above; any API key works unless one is configured.")
      : null,
  );
}

function engineCard(s: Status): HTMLElement {
  const e = s.engine;
  if (!e.available) {
    return card(
      "MLX engine",
      "engine",
      el("p", {}, badge(false, "", "Engine unavailable")),
      el("pre", { class: "error", id: "engine-error" }, e.error ?? "unknown error"),
      el("p", {}, "To fix it, build the runtime with ", el("code", {}, "make mlx"),
        " (or ", el("code", {}, "build/mlx.sh"), ") and restart LMX, or set ",
        el("code", {}, "LMX_MLX_LIB"), " to the folder holding it. The server and this page work without it; models cannot run."),
    );
  }
  const rows = Object.entries(e.device ?? {}).map(([k, v]) =>
    el("tr", {}, el("th", {}, k.replaceAll("_", " ")), el("td", {}, deviceValue(k, v))),
  );
  return card("MLX engine", "engine", el("p", {}, badge(true, "Engine available", "")),
    rows.length ? el("table", { class: "kv" }, ...rows) : null);
}

function deviceValue(key: string, v: unknown): string {
  if (typeof v === "number" && /size|memory/.test(key)) return formatBytes(v);
  return typeof v === "string" ? v : JSON.stringify(v);
}

function memoryCard(s: Status): HTMLElement {
  if (!s.memory) {
    return card("System memory", "memory", el("p", { class: "error" }, s.memory_error ?? "not available"));
  }
  const m: Memory = s.memory;
  const pct = m.total ? Math.round((m.used / m.total) * 100) : 0;
  const bar = el("div", { class: "bar", role: "meter", "aria-valuenow": String(pct), "aria-valuemin": "0", "aria-valuemax": "100" });
  bar.append(el("div", { class: "fill", style: `width:${pct}%` }));
  const rows: [string, number][] = [
    ["Total", m.total], ["Used", m.used], ["Available", m.available],
    ["Wired", m.wired], ["Compressed", m.compressed],
  ];
  if (m.wired_limit) rows.push(["GPU wired limit (iogpu.wired_limit_mb)", m.wired_limit]);
  return card(
    "System memory",
    "memory",
    el("p", {}, `${formatBytes(m.used)} of ${formatBytes(m.total)} used (${pct}%)`),
    bar,
    el("table", { class: "kv" }, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, formatBytes(v))))),
  );
}
