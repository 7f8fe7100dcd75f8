// The client of LMX's HTTP API (/api/* and /v1/*) and its wire types
// (app/api/*.go, described in app/api/openapi.yaml).
//
// Authentication: when the server has an API key, /v1/* always needs it and
// /api/* needs it from other machines (app/api/security.go). The UI keeps the
// key the user enters (in Settings, or in the prompt a 401 brings up) in this
// browser's localStorage and sends it as "Authorization: Bearer KEY" on every
// request, /api/* included. The key never comes back from the server (it
// keeps only its hash).

// ---- status (GET /api/status, "status" events) ----

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
  added_at?: string;
  last_used_at?: string;
  pinned?: boolean;
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
  notices?: Notice[];
  group?: GroupStatus;
}

// GroupStatus is the group of machines this server leads (lmx serve --hosts).
export interface GroupStatus {
  state: "forming" | "ready" | "lost";
  error?: string;
  hosts_file: string;
  backend: string;
  ranks: { rank: number; host: string; address: string; active_bytes: number; peak_bytes: number }[];
  link_bytes?: number;
  link_ms?: number;
  link_gbps?: number;
  formed: number;
}

// Notice is something this run had to do that the user should hear of
// (kind "store_reset": a damaged settings database was set aside at path).
export interface Notice {
  kind: string;
  message: string;
  time: string;
  path?: string;
}

// ---- pool (GET /api/pool) ----

export interface MLXMemory {
  active: number;
  peak: number;
  cache: number;
  limit: number;
}

export interface PoolModel {
  id: string;
  state: "loading" | "loaded" | "unloading";
  pinned: boolean;
  requests: number;
  weight_bytes: number;
  kv_bytes: number;
  context_tokens: number;
  prefix_cache_bytes: number;
  estimate_bytes: number;
  loaded_at?: string;
  last_used_at?: string;
  idle_unload_at?: string;
}

export interface PoolStatus {
  budget_bytes: number;
  budget_source: string;
  reserved_bytes: number;
  max_models: number;
  idle_unload_sec: number;
  pinned: string[];
  models: PoolModel[];
  mlx?: MLXMemory;
}

// ---- serving stats (GET /api/stats, "stats" events) ----

export interface DiskCacheStats {
  files: number;
  bytes: number;
  limit_bytes: number;
  writes: number;
  written_bytes: number;
  loads: number;
  rejected: number;
}

export interface PrefixCacheStats {
  entries: number;
  bytes: number;
  limit_bytes: number;
  hits: number;
  misses: number;
  hit_tokens: number;
  evictions: number;
  pressured: number;
  refused: number;
  refused_reason?: string;
  disk?: DiskCacheStats;
}

export interface ModelStats {
  id: string;
  requests: number;
  failed: number;
  active: number;
  queued: number;
  prefill_tokens: number;
  generated_tokens: number;
  decode_steps: number;
  batched_rows: number;
  mean_batch: number;
  prefill_tokens_per_second: number;
  decode_tokens_per_second: number;
  time_to_first_token_ms: number;
  draft_proposed: number;
  draft_accepted: number;
  draft_acceptance_rate: number;
  prefix_cache: PrefixCacheStats;
}

export interface Stats {
  time: string;
  models: ModelStats[];
  mlx?: MLXMemory;
  memory?: Memory;
}

// ---- request log (GET /api/requests) ----

export interface RequestRecord {
  id: number;
  time: string;
  api: string;
  model: string;
  status: number;
  prompt_tokens: number;
  cached_tokens: number;
  cache_explain?: string;
  completion_tokens: number;
  time_to_first_token_ms: number;
  tokens_per_second: number;
  duration_ms: number;
}

export interface RequestsBody {
  requests: RequestRecord[];
  last: number;
  kept: number;
}

export interface CacheClear {
  models: string[];
  memory_bytes: number;
  memory_entries: number;
  disk_files: number;
  disk_bytes: number;
}

// ---- settings (GET/PUT /api/settings, store/settings.go) ----

export interface ServerSettings {
  host: string;
  port: number;
  cors_origins?: string[];
  allowed_hosts?: string[];
  auto_start: boolean;
}

export interface CacheSettings {
  prompt_cache_bytes: number;
  persist_to_disk: boolean;
  disk_cache_bytes: number;
  max_kv_size: number;
  kv_bits: number;
}

export interface MemorySettings {
  limit_bytes: number;
  cache_limit_bytes: number;
  wired_limit_bytes: number;
}

export interface LibrarySettings {
  hub_cache?: string;
  extra_folders?: string[];
  endpoint?: string;
}

export interface RequestSettings {
  load_on_demand: boolean;
  max_tokens: number;
  max_choices: number;
}

export interface PoolSettings {
  max_models: number;
  pinned?: string[];
}

export interface ServingSettings {
  max_sequences: number;
  max_batch_tokens: number;
  draft_models?: Record<string, string>;
}

export interface UISettings {
  theme: "system" | "light" | "dark";
  chat_model?: string;
}

export interface Settings {
  server: ServerSettings;
  cache: CacheSettings;
  memory: MemorySettings;
  library: LibrarySettings;
  requests: RequestSettings;
  pool: PoolSettings;
  serving: ServingSettings;
  ui: UISettings;
  idle_unload_sec: number;
  launch_at_login: boolean;
  // api_key_set says whether a key is required on /v1 (the key itself is
  // write-only); hub_token_set whether a Hugging Face token is stored.
  api_key_set: boolean;
  hub_token_set: boolean;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

// SettingsUpdate is a PUT body: the fields it names change, the rest stay.
// api_key sets the key ("" removes it); library.hub_token sets the token.
export type SettingsUpdate = DeepPartial<Omit<Settings, "api_key_set" | "hub_token_set" | "library">> & {
  api_key?: string;
  library?: Partial<LibrarySettings> & { hub_token?: string };
};

// ---- the API key ----

const keyStorage = "lmx.apiKey";

// apiKey is the key this browser sends ("" for none).
export function apiKey(): string {
  try {
    return localStorage.getItem(keyStorage) ?? "";
  } catch {
    return "";
  }
}

// setAPIKey keeps key for later requests ("" forgets it).
export function setAPIKey(key: string): void {
  try {
    if (key) localStorage.setItem(keyStorage, key);
    else localStorage.removeItem(keyStorage);
  } catch {
    // storage disabled: requests go without a key
  }
}

// authHeaders are the headers that carry the key, for fetches made outside
// call() (streams).
export function authHeaders(): Record<string, string> {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// unauthorizedEvent is dispatched on window when the server answers 401: the
// shell then asks for the key.
export const unauthorizedEvent = "lmx:unauthorized";

// APIError is a failed request: the server's message, the HTTP status.
export class APIError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

interface APIErrorBody {
  error?: { message?: string };
}

// call sends an API request and returns its JSON answer, throwing an
// APIError with the server's message on failure.
export async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp: Response;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new APIError(`LMX cannot be reached (${method} ${path}): is it running? Start it from the menu-bar icon or with \`lmx serve\`.`, 0);
  }
  const text = await resp.text();
  const answer = parseJSON(text) as (T & APIErrorBody) | undefined;
  if (!resp.ok) {
    if (resp.status === 401) window.dispatchEvent(new Event(unauthorizedEvent));
    // A plain-text answer (a proxy) is shown as it is, not as a JSON syntax error.
    const plain = text.trim().slice(0, 200);
    throw new APIError(answer?.error?.message ?? `${method} ${path}: HTTP ${resp.status}${plain ? ` (${plain})` : ""}`, resp.status);
  }
  if (answer === undefined) throw new APIError(`${method} ${path}: the server's answer is not JSON`, resp.status);
  return answer;
}

function parseJSON(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// streamEvents reads a text/event-stream (with the key's header, which
// EventSource cannot send) and calls onEvent for each event until the stream
// ends or signal aborts. It resolves when the stream ends and rejects on
// HTTP errors.
export async function streamEvents(path: string, onEvent: (event: string, data: string) => void, signal: AbortSignal): Promise<void> {
  const resp = await fetch(path, { headers: { Accept: "text/event-stream", ...authHeaders() }, signal, cache: "no-store" });
  if (!resp.ok || !resp.body) {
    if (resp.status === 401) window.dispatchEvent(new Event(unauthorizedEvent));
    const answer = parseJSON(await resp.text()) as APIErrorBody | undefined;
    throw new APIError(answer?.error?.message ?? `GET ${path}: HTTP ${resp.status}`, resp.status);
  }
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, "\n");
    let end: number;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const v = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") event = v;
        else if (field === "data") data.push(v);
      }
      if (data.length > 0) onEvent(event, data.join("\n"));
    }
  }
}

// ---- calls ----

export const fetchStatus = () => call<Status>("GET", "/api/status");
export const startServer = () => call<Status>("POST", "/api/server/start");
export const stopServer = () => call<Status>("POST", "/api/server/stop");

export const getSettings = () => call<Settings>("GET", "/api/settings");
export const putSettings = (update: SettingsUpdate) => call<Settings>("PUT", "/api/settings", update);

export const getPool = () => call<PoolStatus>("GET", "/api/pool");
export const getStats = () => call<Stats>("GET", "/api/stats");
export const getRequests = (after = 0) => call<RequestsBody>("GET", `/api/requests?after=${after}`);
export const clearPrefixCaches = () => call<CacheClear>("POST", "/api/cache/clear");

// pullModel starts downloading a Hub repo; progress arrives with the status.
export const pullModel = (repo: string) => call<{ id: string }>("POST", "/api/models/pull", { repo });
// cancelDownload stops a download and deletes its partial files.
export const cancelDownload = (id: string) =>
  call<unknown>("POST", `/api/downloads/${encodeURIComponent(id)}/cancel`);
// installDemo starts installing the demo model; progress arrives with the status.
export const installDemo = () => call<DemoStatus>("POST", "/api/models/demo");
