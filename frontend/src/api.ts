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

export interface Status {
  version: string;
  data_dir: string;
  server: ServerStatus;
  engine: EngineStatus;
  memory?: Memory;
  memory_error?: string;
}

interface APIErrorBody {
  error?: { message?: string };
}

// request calls the management API and returns the status it answers with,
// throwing the server's error message on failure.
async function request(method: string, path: string): Promise<Status> {
  const resp = await fetch(path, { method, headers: { Accept: "application/json" } });
  const body = (await resp.json()) as Status & APIErrorBody;
  if (!resp.ok) {
    throw new Error(body.error?.message ?? `${method} ${path}: HTTP ${resp.status}`);
  }
  return body;
}

export const fetchStatus = () => request("GET", "/api/status");
export const startServer = () => request("POST", "/api/server/start");
export const stopServer = () => request("POST", "/api/server/stop");
