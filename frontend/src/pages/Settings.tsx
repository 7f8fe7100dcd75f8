// The Settings page: the server's address and access, requests, the prefix
// and KV caches, memory, idle unloading and launch at login. One form, saved
// with one PUT /api/settings; each field says when it takes effect.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { PageProps } from "../app";
import { type Settings as S, type SettingsUpdate, apiKey, clearPrefixCaches, getSettings, putSettings, setAPIKey } from "../api";
import { useStats, useStatus } from "../live";
import { Button } from "../ui/Button";
import { formatBytes, formatNumber } from "../ui/format";
import { Card, ErrorState } from "../ui/States";
import { flash, flashError } from "../ui/Toast";
import { inWindow } from "../wails";

const GiB = 1 << 30;

// Draft is the form's state: what the inputs show, as typed.
interface Draft {
  host: string;
  port: string;
  cors: string;
  allowedHosts: string;
  loadOnDemand: boolean;
  promptCacheGB: string;
  persist: boolean;
  diskCacheGB: string;
  maxKV: string;
  kvBits: string;
  memoryLimitGB: string;
  wiredLimitGB: string;
  cacheLimitGB: string;
  idleMin: string;
  maxModels: string;
  launchAtLogin: boolean;
}

const gb = (b: number) => (b ? String(Math.round((b / GiB) * 100) / 100) : "0");
const lines = (xs?: string[]) => (xs ?? []).join("\n");

function draftOf(s: S): Draft {
  return {
    host: s.server.host,
    port: String(s.server.port),
    cors: lines(s.server.cors_origins),
    allowedHosts: lines(s.server.allowed_hosts),
    loadOnDemand: s.requests.load_on_demand,
    promptCacheGB: gb(s.cache.prompt_cache_bytes),
    persist: s.cache.persist_to_disk,
    diskCacheGB: gb(s.cache.disk_cache_bytes),
    maxKV: String(s.cache.max_kv_size),
    kvBits: String(s.cache.kv_bits),
    memoryLimitGB: gb(s.memory.limit_bytes),
    wiredLimitGB: gb(s.memory.wired_limit_bytes),
    cacheLimitGB: gb(s.memory.cache_limit_bytes),
    idleMin: String(Math.round(s.idle_unload_sec / 60)),
    maxModels: String(s.pool.max_models),
    launchAtLogin: s.launch_at_login,
  };
}

class FieldError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

function num(v: string, field: string, what: string, { min = 0, max = Number.MAX_SAFE_INTEGER, int = true } = {}): number {
  const n = Number(v.trim());
  if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max || (int && !Number.isInteger(n))) {
    throw new FieldError(field, `${what} must be ${int ? "a whole number" : "a number"} from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : " up"}.`);
  }
  return n;
}

const bytes = (v: string, field: string, what: string) => Math.round(num(v, field, what, { int: false }) * GiB);
const list = (v: string) => v.split(/[\n,]/).map((x) => x.trim()).filter((x) => x !== "");

// update builds the PUT body from the draft, checking the numbers.
function update(d: Draft): SettingsUpdate {
  return {
    server: {
      host: d.host.trim(),
      port: num(d.port, "port", "Port", { min: 1, max: 65535 }),
      cors_origins: list(d.cors),
      allowed_hosts: list(d.allowedHosts),
    },
    requests: { load_on_demand: d.loadOnDemand },
    cache: {
      prompt_cache_bytes: bytes(d.promptCacheGB, "prompt-cache", "The prefix cache size"),
      persist_to_disk: d.persist,
      disk_cache_bytes: bytes(d.diskCacheGB, "disk-cache", "The disk cache size"),
      max_kv_size: num(d.maxKV, "max-kv", "Max KV size"),
      kv_bits: Number(d.kvBits),
    },
    memory: {
      limit_bytes: bytes(d.memoryLimitGB, "memory-limit", "The memory budget"),
      wired_limit_bytes: bytes(d.wiredLimitGB, "wired-limit", "The wired limit"),
      cache_limit_bytes: bytes(d.cacheLimitGB, "cache-limit", "The MLX cache limit"),
    },
    idle_unload_sec: num(d.idleMin, "idle-unload", "Idle unload") * 60,
    pool: { max_models: num(d.maxModels, "max-models", "Max models") },
    launch_at_login: d.launchAtLogin,
  };
}

// Field is one labelled input with its hint (what it does, when it applies).
function Field({ id, label, hint, applies, children }: { id: string; label: string; hint?: ComponentChildren; applies?: string; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {(hint || applies) && (
        <p class="hint-text" id={`${id}-hint`}>
          {hint}
          {applies && <span class="applies"> {applies}</span>}
        </p>
      )}
    </div>
  );
}

function Check({ id, label, checked, onChange, hint, applies }: { id: string; label: string; checked: boolean; onChange: (v: boolean) => void; hint?: ComponentChildren; applies?: string }) {
  return (
    <div class="field check">
      <input id={id} type="checkbox" checked={checked} aria-describedby={hint || applies ? `${id}-hint` : undefined} onChange={(e) => onChange(e.currentTarget.checked)} />
      <label for={id}>{label}</label>
      {(hint || applies) && (
        <p class="hint-text" id={`${id}-hint`}>
          {hint}
          {applies && <span class="applies"> {applies}</span>}
        </p>
      )}
    </div>
  );
}

const now = "Applies at once.";
const nextLoad = "Applies to models loaded from now on (unload and load a model on the Models page to apply it to it).";
const restart = "Restarts the server on the new address.";

export default function Settings(_props: PageProps) {
  const [saved, setSaved] = useState<S>();
  const [draft, setDraft] = useState<Draft>();
  const [loadError, setLoadError] = useState("");
  const [saveError, setSaveError] = useState<{ field?: string; message: string }>();
  const [newKey, setNewKey] = useState("");
  const { value: status } = useStatus();

  useEffect(() => {
    getSettings().then(
      (s) => {
        setSaved(s);
        setDraft(draftOf(s));
      },
      (err) => setLoadError(err instanceof Error ? err.message : String(err)),
    );
  }, []);

  if (loadError) {
    return (
      <>
      <h1 class="page-title">Settings</h1>
      <ErrorState title="Settings could not be read" message={loadError} id="settings-error">
        <p>Check that LMX is running, then reload this page.</p>
      </ErrorState>
      </>
    );
  }
  if (!saved || !draft) return <p class="loading" role="status">Loading settings…</p>;

  const set = <K extends keyof Draft>(k: K) => (v: Draft[K]) => setDraft({ ...draft, [k]: v });
  const text = <K extends keyof Draft>(k: K) => ({
    value: draft[k] as string,
    onInput: (e: Event) => set(k)((e.currentTarget as HTMLInputElement).value as Draft[K]),
  });
  const invalid = (field: string) => (saveError?.field === field ? { "aria-invalid": true, "aria-errormessage": "save-error" } : {});
  const dirty = JSON.stringify(draft) !== JSON.stringify(draftOf(saved));

  const save = async (e: Event) => {
    e.preventDefault();
    let body: SettingsUpdate;
    try {
      body = update(draft);
    } catch (err) {
      const fe = err as FieldError;
      setSaveError({ field: fe.field, message: fe.message });
      document.getElementById(fe.field)?.focus();
      return;
    }
    const moved = body.server?.host !== saved.server.host || body.server?.port !== saved.server.port;
    try {
      const s = await putSettings(body);
      setSaved(s);
      setDraft(draftOf(s));
      setSaveError(undefined);
      flash(moved ? "Settings saved; the server restarted on its new address" : "Settings saved");
      if (moved && !inWindow()) {
        // This page was served by the old address: follow the server.
        const host = s.server.host === "0.0.0.0" || s.server.host === "::" ? location.hostname : s.server.host;
        location.href = `${location.protocol}//${host.includes(":") ? `[${host}]` : host}:${s.server.port}/#/settings`;
      }
    } catch (err) {
      setSaveError({ message: err instanceof Error ? err.message : String(err) });
    }
  };

  const saveKey = async (key: string) => {
    try {
      const s = await putSettings({ api_key: key });
      // The UI sends the key with its own requests (see api.ts).
      setAPIKey(key);
      setSaved(s);
      setNewKey("");
      flash(key ? "API key set: clients must now send it" : "API key removed: no key is required");
    } catch (err) {
      flashError(err);
    }
  };

  return (
    <form class="settings" onSubmit={save} aria-describedby="settings-intro" noValidate>
      <h1 class="page-title">Settings</h1>
      <p id="settings-intro" class="muted">
        Changes take effect when you save; each setting says when it applies. They are kept in LMX's data folder
        {status?.data_dir ? ` (${status.data_dir})` : ""}.
      </p>

      <Card title="Server" id="settings-server">
        <div class="fields">
          <Field id="host" label="Host" applies={restart}
            hint={<>127.0.0.1 serves this computer only; 0.0.0.0 serves the network and needs an API key.</>}>
            <input id="host" type="text" spellcheck={false} aria-describedby="host-hint" {...text("host")} {...invalid("host")} />
          </Field>
          <Field id="port" label="Port" applies={restart} hint="LM Studio uses 1234, Ollama 11434; LMX's default is 1235.">
            <input id="port" type="number" inputMode="numeric" min={1} max={65535} aria-describedby="port-hint" {...text("port")} {...invalid("port")} />
          </Field>
          <Field id="cors" label="CORS origins" applies={now}
            hint={<>Web apps allowed to call LMX from a browser, one origin per line (e.g. <code>http://localhost:3000</code>). No wildcards.</>}>
            <textarea id="cors" rows={3} spellcheck={false} aria-describedby="cors-hint" {...text("cors")} />
          </Field>
          <Field id="allowed-hosts" label="Allowed host names" applies={now}
            hint="Names this server may be reached by besides localhost (for a server on the network), one per line.">
            <textarea id="allowed-hosts" rows={2} spellcheck={false} aria-describedby="allowed-hosts-hint" {...text("allowedHosts")} />
          </Field>
        </div>
      </Card>

      <Card title="API key" id="settings-key">
        <p id="key-state">
          {saved.api_key_set ? (
            <>A key is <strong>required</strong> on <code>/v1</code>: clients send it as <code>Authorization: Bearer KEY</code> or <code>x-api-key</code>.</>
          ) : (
            <>No key is required: any app on this computer can use the endpoint.</>
          )}
        </p>
        <div class="fields">
          <Field id="api-key" label={saved.api_key_set ? "New API key" : "API key"} applies={now}
            hint="LMX keeps only its hash. This browser keeps the key to call LMX (local storage) and sends it with every request.">
            <div class="inline">
              <input id="api-key" type="password" autoComplete="new-password" aria-describedby="api-key-hint" value={newKey}
                onInput={(e) => setNewKey(e.currentTarget.value)} />
              <Button kind="secondary" onClick={() => setNewKey(`sk-lmx-${randomToken()}`)}>Generate</Button>
              <Button id="set-key" disabled={!newKey.trim()} onClick={() => saveKey(newKey.trim())}>Set key</Button>
              {saved.api_key_set && (
                <Button id="remove-key" kind="danger" onClick={() => saveKey("")}>Remove key</Button>
              )}
            </div>
          </Field>
          {newKey && (
            <p class="small muted">Copy the key before you set it: LMX cannot show it again.</p>
          )}
          {saved.api_key_set && !apiKey() && (
            <p class="small">This browser does not hold the key: the Chat page needs it. Enter it above to keep it here.</p>
          )}
        </div>
      </Card>

      <Card title="Requests and models" id="settings-requests">
        <div class="fields">
          <Check id="load-on-demand" label="Load a model when a request names it (auto-load)" checked={draft.loadOnDemand} onChange={set("loadOnDemand")}
            applies={now} hint="Off: only models loaded at start or from the Models page answer." />
          <Field id="idle-unload" label="Unload an idle model after (minutes)" applies={now} hint="0 keeps models loaded. Pinned models stay loaded.">
            <input id="idle-unload" type="number" min={0} aria-describedby="idle-unload-hint" {...text("idleMin")} {...invalid("idle-unload")} />
          </Field>
          <Field id="max-models" label="Models loaded at once" applies={now} hint="0: as many as fit in the memory budget.">
            <input id="max-models" type="number" min={0} aria-describedby="max-models-hint" {...text("maxModels")} {...invalid("max-models")} />
          </Field>
        </div>
      </Card>

      <CacheCard draft={draft} set={set} text={text} invalid={invalid} />

      <Card title="KV cache" id="settings-kv">
        <div class="fields">
          <Field id="max-kv" label="Max KV size (tokens)" applies={nextLoad} hint="Caps each sequence's context; 0 uses the model's full context.">
            <input id="max-kv" type="number" min={0} aria-describedby="max-kv-hint" {...text("maxKV")} {...invalid("max-kv")} />
          </Field>
          <Field id="kv-bits" label="KV cache quantization" applies={nextLoad} hint="Fewer bits hold longer contexts in less memory, at some cost in quality.">
            <select id="kv-bits" aria-describedby="kv-bits-hint" value={draft.kvBits} onChange={(e) => set("kvBits")(e.currentTarget.value)}>
              <option value="0">None (the model's precision)</option>
              <option value="8">8-bit</option>
              <option value="6">6-bit</option>
              <option value="5">5-bit</option>
              <option value="4">4-bit</option>
              <option value="3">3-bit</option>
              <option value="2">2-bit</option>
            </select>
          </Field>
        </div>
      </Card>

      <Card title="Memory" id="settings-memory">
        <div class="fields">
          <Field id="memory-limit" label="Memory budget (GB)" applies={now}
            hint="Loaded models must fit in it (idle ones unload to make room); MLX's memory limit is set to it. 0: Metal's recommended working set, or 75% of memory.">
            <input id="memory-limit" type="number" min={0} step="0.5" aria-describedby="memory-limit-hint" {...text("memoryLimitGB")} {...invalid("memory-limit")} />
          </Field>
          <Field id="wired-limit" label="Wired limit (GB)" applies={now}
            hint={<>How much MLX keeps wired (macOS), capped by the system's <code>iogpu.wired_limit_mb</code>
              {status?.memory?.wired_limit ? ` (${formatBytes(status.memory.wired_limit)} here)` : ""}. 0: MLX's default.</>}>
            <input id="wired-limit" type="number" min={0} step="0.5" aria-describedby="wired-limit-hint" {...text("wiredLimitGB")} {...invalid("wired-limit")} />
          </Field>
          <Field id="cache-limit" label="MLX buffer cache limit (GB)" applies={now} hint="Freed buffers MLX keeps for reuse. 0: MLX's default.">
            <input id="cache-limit" type="number" min={0} step="0.5" aria-describedby="cache-limit-hint" {...text("cacheLimitGB")} {...invalid("cache-limit")} />
          </Field>
        </div>
      </Card>

      <Card title="App" id="settings-app">
        <div class="fields">
          <Check id="launch-at-login" label="Launch LMX at login" checked={draft.launchAtLogin} onChange={set("launchAtLogin")} applies={now}
            hint="On macOS LMX adds a LaunchAgent (~/Library/LaunchAgents/app.lmx.LMX.plist); elsewhere an autostart entry (~/.config/autostart/lmx.desktop)." />
        </div>
      </Card>

      <div class="save-bar">
        {saveError && (
          <p class="error" id="save-error" role="alert">
            {saveError.message}
          </p>
        )}
        <Button type="submit" id="save" disabled={!dirty}>Save settings</Button>
        <Button kind="secondary" disabled={!dirty} onClick={() => { setDraft(draftOf(saved)); setSaveError(undefined); }}>
          Discard changes
        </Button>
        <span class="muted small" role="status">{dirty ? "Unsaved changes" : "All changes saved"}</span>
      </div>
    </form>
  );
}

type TextProps = (k: keyof Draft) => { value: string; onInput: (e: Event) => void };

function CacheCard({ draft, set, text, invalid }: { draft: Draft; set: <K extends keyof Draft>(k: K) => (v: Draft[K]) => void; text: TextProps; invalid: (f: string) => object }) {
  const { value: stats } = useStats();
  const models = stats?.latest?.models ?? [];
  const hits = models.reduce((a, m) => a + m.prefix_cache.hits, 0);
  const misses = models.reduce((a, m) => a + m.prefix_cache.misses, 0);
  const held = models.reduce((a, m) => a + m.prefix_cache.bytes, 0);
  const onDisk = models.reduce((a, m) => a + (m.prefix_cache.disk?.bytes ?? 0), 0);
  return (
    <Card title="Prefix cache" id="settings-cache">
      <p class="small" id="cache-stats" role="status">
        {models.length === 0
          ? "No model is loaded."
          : `Hit rate ${hits + misses ? `${formatNumber((100 * hits) / (hits + misses), 0)}%` : "–"} (${hits} of ${hits + misses} prompts reused a cached prefix) · ${formatBytes(held)} in memory${draft.persist ? ` · ${formatBytes(onDisk)} on disk` : ""}`}
      </p>
      <div class="fields">
        <Field id="prompt-cache" label="Prefix cache size per model (GB)" applies={nextLoad}
          hint="Keeps the KV cache of finished requests so a prompt that starts the same (a system prompt, a growing chat) skips that part. 0 turns it off.">
          <input id="prompt-cache" type="number" min={0} step="0.5" aria-describedby="prompt-cache-hint" {...text("promptCacheGB")} {...invalid("prompt-cache")} />
        </Field>
        <Check id="persist" label="Keep the prefix cache on disk" checked={draft.persist} onChange={set("persist")} applies={nextLoad}
          hint="Cached prefixes survive restarts and model reloads (in the data folder)." />
        <Field id="disk-cache" label="Disk cache size (GB)" applies={nextLoad}>
          <input id="disk-cache" type="number" min={0} step="1" aria-describedby="disk-cache-hint" {...text("diskCacheGB")} {...invalid("disk-cache")} />
        </Field>
      </div>
      <div class="actions">
        <Button id="clear-cache" kind="secondary" onClick={() =>
          clearPrefixCaches().then(
            (r) => flash(`Prefix cache cleared: ${formatBytes(r.memory_bytes)} in memory, ${r.disk_files} files (${formatBytes(r.disk_bytes)}) on disk`),
            flashError,
          )}>
          Clear prefix cache
        </Button>
        <span class="muted small">Empties every loaded model's cache, in memory and on disk.</span>
      </div>
    </Card>
  );
}

function randomToken(): string {
  const b = new Uint8Array(18);
  crypto.getRandomValues(b);
  return btoa(String.fromCharCode(...b)).replace(/[+/=]/g, "").slice(0, 24);
}
