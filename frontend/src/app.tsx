// The UI's shell: a skip link, the header with the page links and the
// server's state, the hash router, the API-key prompt and the toasts. Pages
// are Preact components in src/pages/, each given the route's parts after
// its own name (#/chat/abc → ["abc"]).
import { useEffect, useRef, useState } from "preact/hooks";
import Dashboard from "./pages/Dashboard";
import Models from "./pages/Models";
import Chat from "./pages/Chat";
import Settings from "./pages/Settings";
import { apiKey, setAPIKey, unauthorizedEvent } from "./api";
import { useStatus } from "./live";
import { Button } from "./ui/Button";
import { Toasts } from "./ui/Toast";
import { onWindowEvent } from "./wails";

export interface PageProps {
  route: string[];
}

const pages = [
  { path: "", title: "Dashboard", component: Dashboard },
  { path: "models", title: "Models", component: Models },
  { path: "chat", title: "Chat", component: Chat },
  { path: "settings", title: "Settings", component: Settings },
] as const;

// parseHash splits "#/chat/abc" into ["chat", "abc"].
export function parseHash(hash: string): string[] {
  return hash.replace(/^#\/?/, "").split("/").filter((p) => p !== "").map(decodeURIComponent);
}

function useRoute(): string[] {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(location.hash));
    window.addEventListener("hashchange", onChange);
    // The tray's "New chat" and other native actions send a route
    // ("chat/new", "models") to the window.
    const off = onWindowEvent<string>("navigate", (r) => {
      location.hash = `#/${String(r ?? "").replace(/^[#/]+/, "")}`;
    });
    return () => {
      window.removeEventListener("hashchange", onChange);
      off();
    };
  }, []);
  return route;
}

// ServerState is the header's short status: running on :PORT, stopped,
// engine unavailable, or no connection.
function ServerState() {
  const { value: s, error } = useStatus();
  let text = "Connecting…";
  let cls = "state-pending";
  if (error && !s?.server.running) {
    text = "Not connected";
    cls = "state-bad";
  } else if (error) {
    text = "Connection lost";
    cls = "state-bad";
  } else if (s && !s.server.running) {
    text = "Server stopped";
    cls = "state-bad";
  } else if (s && !s.engine.available) {
    text = `Engine unavailable · :${s.server.port}`;
    cls = "state-warn";
  } else if (s) {
    text = `Running on :${s.server.port}`;
    cls = "state-ok";
  }
  return (
    <span class={`server-state ${cls}`} id="connection-state" role="status">
      <span class="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

// KeyPrompt asks for the API key once the server answered 401: the key is
// kept in this browser (localStorage) and sent with every request.
function KeyPrompt() {
  const [open, setOpen] = useState(false);
  const [key, setKey] = useState("");
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const on = () => setOpen(true);
    window.addEventListener(unauthorizedEvent, on);
    return () => window.removeEventListener(unauthorizedEvent, on);
  }, []);
  useEffect(() => {
    if (open) input.current?.focus();
  }, [open]);
  if (!open) return null;
  const save = (e: Event) => {
    e.preventDefault();
    setAPIKey(key.trim());
    setOpen(false);
    location.reload();
  };
  return (
    <div class="key-prompt" role="dialog" aria-modal="false" aria-labelledby="key-prompt-title">
      <form onSubmit={save}>
        <h2 id="key-prompt-title">This server needs its API key</h2>
        <p>
          {apiKey() ? "The key this browser sent was refused. " : ""}
          Enter the key set in Settings (or with <code>lmx serve --api-key</code>). It is kept in this browser and sent as{" "}
          <code>Authorization: Bearer …</code>.
        </p>
        <label for="key-prompt-input">API key</label>
        <input id="key-prompt-input" ref={input} type="password" autoComplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        <div class="actions">
          <Button type="submit" disabled={!key.trim()}>Use this key</Button>
          <Button kind="secondary" onClick={() => setOpen(false)}>Not now</Button>
        </div>
      </form>
    </div>
  );
}

export function App() {
  const route = useRoute();
  const page = pages.find((p) => p.path === (route[0] ?? "")) ?? pages[0];
  const Page = page.component;
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    document.title = page.path === "" ? "LMX" : `${page.title} · LMX`;
  }, [page]);
  return (
    <>
      <a class="skip-link" href="#app" onClick={(e) => { e.preventDefault(); main.current?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">LMX</span>
        <nav aria-label="Pages">
          {pages.map((p) => (
            <a key={p.path} href={`#/${p.path}`} class={p === page ? "active" : undefined} aria-current={p === page ? "page" : undefined}>
              {p.title}
            </a>
          ))}
        </nav>
        <ServerState />
      </header>
      <KeyPrompt />
      <main id="app" ref={main} tabIndex={-1}>
        <Page route={page.path === "" ? route : route.slice(1)} />
      </main>
      <Toasts />
    </>
  );
}
