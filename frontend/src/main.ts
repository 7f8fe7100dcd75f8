import "./style.css";
import { type Status, fetchStatus } from "./api";
import { renderDashboard } from "./dashboard";
import { inWindow, onWindowEvent } from "./wails";

const root = document.getElementById("app")!;
const connection = document.getElementById("connection")!;
let flashTimer = 0;

function render(s: Status): void {
  root.replaceChildren(renderDashboard(s, { run, flash }));
}

function flash(message: string): void {
  let toast = document.getElementById("toast");
  if (!toast) {
    toast = document.createElement("div");
    toast.id = "toast";
    toast.setAttribute("role", "status");
    document.body.append(toast);
  }
  toast.textContent = message;
  toast.hidden = false;
  window.clearTimeout(flashTimer);
  flashTimer = window.setTimeout(() => (toast.hidden = true), 4000);
}

// run performs a server action and shows its resulting status or error.
function run(action: () => Promise<Status>): void {
  action().then(render, (err: Error) => flash(err.message));
}

// follow keeps the page live: Wails events inside the window (its asset
// server answers requests but does not stream), server-sent events in a
// browser.
function follow(): void {
  if (inWindow()) {
    onWindowEvent<Status>("status", render);
    onWindowEvent<string>("navigate", (page) => (location.hash = `#/${page}`));
    return;
  }
  const events = new EventSource("/api/events");
  events.addEventListener("status", (e) => {
    connection.hidden = true;
    render(JSON.parse((e as MessageEvent<string>).data) as Status);
  });
  events.onerror = () => (connection.hidden = false);
}

fetchStatus().then(render, (err: Error) => {
  root.replaceChildren(`Cannot reach the LMX server: ${err.message}`);
});
follow();
