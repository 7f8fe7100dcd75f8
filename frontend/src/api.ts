// Wire types of GET /api/status and the "status" events (app/api/status.go).

export interface ServerStatus {
  running: boolean;
  url: string;
  host: string;
  port: number;
  error?: string;
}

export interface EngineStatus {
  available: boolean;
  error?: string;
  device?: Record<string, unknown>;
}

export interface Memory {
  total: number;
  available: number;
  free: number;
  used: number;
  wired: number;
  active: number;
  inactive: number;
  compressed: number;
  wired_limit: number;
}

// LocalModel is an installed model (app/api LocalModel over library.Model).
export interface LocalModel {
  id: string;
  repo: string;
  path: string;
  source: string;
  size_bytes: number;
  architecture: string;
  params: number;
  quantization: { bits?: number; group_size?: number; mode?: string };
  supported: boolean;
  reason?: string;
}

// Download is one download's progress (store/hub Progress).
export interface Download {
  id: string;
  repo: string;
  state: "queued" | "running" | "paused" | "done" | "failed" | "canceled";
  done_bytes: number;
  total_bytes: number;
  bytes_per_sec: number;
  files_done: number;
  files_total: number;
  error?: string;
}

// DemoStatus is the demo model's install (app/api DemoStatus).
export interface DemoStatus {
  state: "downloading" | "extracting" | "loading" | "ready" | "failed";
  bytes: number;
  total: number;
  path: string;
  model?: string;
  error?: string;
}

export interface Status {
  version: string;
  data_dir: string;
  server: ServerStatus;
  engine: EngineStatus;
  memory?: Memory;
  memory_error?: string;
  models: LocalModel[] | null;
  models_error?: string;
  model_hint?: string;
  downloads: Download[] | null;
  demo?: DemoStatus;
}

interface APIErrorBody {
  error?: { message?: string };
}

// call sends a management API request and returns its JSON answer, throwing
// the server's error message on failure.
async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  const answer = parseJSON(text) as (T & APIErrorBody) | undefined;
  if (!resp.ok) {
    // A plain-text answer (the router's 404/405, a proxy) is shown as it is,
    // not as a JSON syntax error.
    const plain = text.trim().slice(0, 200);
    throw new Error(answer?.error?.message ?? `${method} ${path}: HTTP ${resp.status}${plain ? ` (${plain})` : ""}`);
  }
  if (answer === undefined) throw new Error(`${method} ${path}: the server's answer is not JSON`);
  return answer;
}

function parseJSON(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const request = (method: string, path: string) => call<Status>(method, path);

export const fetchStatus = () => request("GET", "/api/status");
export const startServer = () => request("POST", "/api/server/start");
export const stopServer = () => request("POST", "/api/server/stop");

// pullModel starts downloading a Hub repo; progress arrives with the status.
export const pullModel = (repo: string) => call<{ id: string }>("POST", "/api/models/pull", { repo });
// cancelDownload stops a download and deletes its partial files.
export const cancelDownload = (id: string) =>
  call<unknown>("POST", `/api/downloads/${encodeURIComponent(id)}/cancel`);
// installDemo starts installing the demo model; progress arrives with the status.
export const installDemo = () => call<DemoStatus>("POST", "/api/models/demo");
