// The Dashboard: the server and its endpoint, what to do without a model or
// engine, the loaded models and their memory, unified memory, live serving
// charts and the last requests.
import { useEffect, useState } from "preact/hooks";
import type { PageProps } from "../app";
import {
  type GroupStatus, type Memory, type MLXMemory, type PoolStatus, type RequestRecord, type Settings, type Status,
  getSettings, installDemo, startServer, stopServer,
} from "../api";
import { refreshPool, setStatus, usePool, useRequests, useStats, useStatus } from "../live";
import { Button } from "../ui/Button";
import { Chart } from "../ui/Chart";
import { CopyButton } from "../ui/CopyButton";
import { formatBytes, formatMs, formatNumber } from "../ui/format";
import { StackedBar } from "../ui/StackedBar";
import { Badge, Card, Empty, ErrorState } from "../ui/States";
import { CodeText } from "../ui/Text";
import { flash, flashError } from "../ui/Toast";
import { inWindow, openInBrowser } from "../wails";

const demoLabel = "Install the demo model (SmolLM2-135M-Instruct, 98 MB)";

export default function Dashboard(_props: PageProps) {
  const { value: s, error } = useStatus();
  const [settings, setSettings] = useState<Settings>();
  useEffect(() => {
    getSettings().then(setSettings, () => {});
  }, [s?.server.running]);
  if (!s) {
    return error ? (
      <>
      <h1 class="page-title">Dashboard</h1>
      <ErrorState title="LMX cannot be reached" message={error} id="connection">
        <p>Start LMX from the menu-bar icon or run <code>lmx serve</code>, then reload this page.</p>
      </ErrorState>
      </>
    ) : (
      <p class="loading" role="status">Loading status…</p>
    );
  }
  return (
    <div class="dashboard">
      <h1 class="page-title">Dashboard</h1>
      {error && (
        <ErrorState title="Live updates stopped" message={error} id="connection">
          <p>The figures below are from the last update. The page reconnects by itself once LMX runs again.</p>
        </ErrorState>
      )}
      {(s.notices ?? []).map((n) => (
        <ErrorState key={`${n.kind}-${n.time}`} title={n.kind === "store_reset" ? "LMX's settings were reset" : "Notice"} message={n.message}>
          {n.path && (
            <p>
              The damaged file is kept at <code>{n.path}</code>.
            </p>
          )}
        </ErrorState>
      ))}
      <ServerCard s={s} />
      {!s.engine.available && <EngineError s={s} />}
      <GetModel s={s} />
      <LoadedModels />
      {s.group && <GroupCard g={s.group} />}
      <MemoryCard s={s} settings={settings} />
      <Performance />
      <Requests />
      <footer class="meta">
        LMX {s.version}
        {s.data_dir ? ` · data in ${s.data_dir}` : ""}
      </footer>
    </div>
  );
}

// ---- server and endpoint ----

function act(fn: () => Promise<Status>, done: string) {
  return fn().then(
    (st) => {
      setStatus(st);
      flash(done);
    },
    flashError,
  );
}

function exampleModel(s: Status, pool?: PoolStatus): string {
  const loaded = pool?.models.find((m) => m.state === "loaded")?.id;
  const id = loaded ?? s.models?.find((m) => m.supported)?.id ?? "MODEL";
  return id.split("/").pop() ?? id;
}

function snippets(url: string, model: string): { name: string; lang: string; code: string }[] {
  return [
    {
      name: "curl",
      lang: "shell",
      code: `curl ${url}/v1/chat/completions \\
  -H 'Content-Type: application/json' \\
  -d '{"model":"${model}","messages":[{"role":"user","content":"Hello"}]}'`,
    },
    {
      name: "Python (openai)",
      lang: "python",
      code: `from openai import OpenAI

client = OpenAI(base_url="${url}/v1", api_key="-")  # the API key, if one is set
reply = client.chat.completions.create(
    model="${model}",
    messages=[{"role": "user", "content": "Hello"}],
)
print(reply.choices[0].message.content)`,
    },
    {
      name: "Anthropic",
      lang: "python",
      code: `import anthropic  # Claude Code: ANTHROPIC_BASE_URL=${url}

client = anthropic.Anthropic(base_url="${url}", api_key="-")
msg = client.messages.create(
    model="${model}", max_tokens=256,
    messages=[{"role": "user", "content": "Hello"}],
)
print(msg.content[0].text)`,
    },
  ];
}

function ServerCard({ s }: { s: Status }) {
  const srv = s.server;
  const { value: pool } = usePool();
  const [tab, setTab] = useState(0);
  const list = snippets(srv.url, exampleModel(s, pool));
  // A browser page is served by the server itself: once it stops, only the
  // window (which reaches the API in-process) or the tray can start it again.
  const canStart = inWindow();
  return (
    <Card title="Server" id="server">
      <div class="server-row">
        <Badge ok={srv.running}>{srv.running ? "Running" : "Stopped"}</Badge>
        {srv.running ? (
          <Button kind="secondary" accessKey="s" aria-keyshortcuts="Alt+S" onClick={() => act(stopServer, "Server stopped")}>Stop server</Button>
        ) : canStart ? (
          <Button accessKey="s" aria-keyshortcuts="Alt+S" onClick={() => act(startServer, "Server started")}>Start server</Button>
        ) : (
          <span class="muted">Start it again from the LMX window or the menu-bar icon.</span>
        )}
        {inWindow() && srv.running && (
          <Button kind="ghost" onClick={() => openInBrowser()}>Open in browser</Button>
        )}
      </div>
      {srv.running ? (
        <>
          <div class="endpoint">
            <span class="endpoint-label" id="endpoint-label">Endpoint</span>
            <code id="endpoint-url" aria-labelledby="endpoint-label">{`${srv.url}/v1`}</code>
            <CopyButton text={`${srv.url}/v1`} what="endpoint URL" />
          </div>
          <p class="muted small">
            OpenAI-compatible clients use this base URL; Anthropic clients use <code>{srv.url}</code>. Any API key works unless one is
            set in <a href="#/settings">Settings</a>.
          </p>
          <div class="snippets">
            <div role="tablist" aria-label="Code examples">
              {list.map((sn, i) => (
                <button
                  key={sn.name}
                  type="button"
                  role="tab"
                  id={`snippet-tab-${i}`}
                  aria-selected={i === tab}
                  aria-controls={`snippet-${i}`}
                  tabIndex={i === tab ? 0 : -1}
                  class={i === tab ? "tab active" : "tab"}
                  onClick={() => setTab(i)}
                  onKeyDown={(e) => {
                    const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
                    if (!d) return;
                    const n = (tab + d + list.length) % list.length;
                    setTab(n);
                    document.getElementById(`snippet-tab-${n}`)?.focus();
                  }}
                >
                  {sn.name}
                </button>
              ))}
            </div>
            <div role="tabpanel" id={`snippet-${tab}`} aria-labelledby={`snippet-tab-${tab}`} class="snippet">
              <pre tabIndex={0} aria-label={`${list[tab].name} example`}><code>{list[tab].code}</code></pre>
              <CopyButton text={list[tab].code} what={`${list[tab].name} example`} />
            </div>
          </div>
        </>
      ) : (
        <p class="muted">Not listening (configured for {srv.host}:{srv.port}).</p>
      )}
      {srv.error && (
        <ErrorState title="The server did not start" message={srv.error}>
          <p>Pick another port or host in <a href="#/settings">Settings</a>, or stop the program using it.</p>
        </ErrorState>
      )}
    </Card>
  );
}

// ---- engine and models ----

// ---- the group of machines (lmx serve --hosts) ----

const groupStates: Record<GroupStatus["state"], string> = {
  forming: "Waiting for every machine to join",
  ready: "Ready",
  lost: "A machine was lost — forming again",
};

function GroupCard({ g }: { g: GroupStatus }) {
  return (
    <Card title="Group of machines" id="group" class="wide">
      <p>
        <Badge ok={g.state === "ready"}>{groupStates[g.state] ?? g.state}</Badge>{" "}
        {g.ranks.length} machines over {g.backend} · hostfile <code>{g.hosts_file}</code>
        {g.formed > 1 ? ` · formed ${g.formed} times` : ""}
      </p>
      {g.error && <pre class="error" id="group-error">{g.error}</pre>}
      <table class="grid" id="group-ranks">
        <caption class="sr-only">Ranks of the group</caption>
        <thead>
          <tr>
            <th scope="col">Rank</th>
            <th scope="col">Host</th>
            <th scope="col">Address</th>
            <th scope="col" class="num">MLX memory</th>
          </tr>
        </thead>
        <tbody>
          {g.ranks.map((r) => (
            <tr key={r.rank}>
              <td>{r.rank === 0 ? "0 (this Mac, leader)" : r.rank}</td>
              <td>{r.host}</td>
              <td>
                <code>{r.address}</code>
              </td>
              <td class="num">{r.active_bytes > 0 ? formatBytes(r.active_bytes) : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {g.link_gbps ? (
        <p class="hint">
          Link: all_sum of {formatBytes(g.link_bytes ?? 0)} in {formatMs(g.link_ms ?? 0)} ({formatNumber(g.link_gbps, 2)} GB/s),
          measured when the group formed. Split models hold about 1/{g.ranks.length} of their weights on each machine.
        </p>
      ) : null}
    </Card>
  );
}

function EngineError({ s }: { s: Status }) {
  return (
    <Card title="MLX engine" id="engine" class="wide">
      <p>
        <Badge ok={false}>Engine unavailable</Badge>
      </p>
      <pre class="error" id="engine-error">{s.engine.error ?? "unknown error"}</pre>
      <p>
        To fix it, build the runtime with <code>make mlx</code> (or <code>build/mlx.sh</code>) and restart LMX, or set{" "}
        <code>LMX_MLX_LIB</code> to the folder holding it. The server and this page work without it; models cannot run.
      </p>
    </Card>
  );
}

function GetModel({ s }: { s: Status }) {
  const supported = (s.models ?? []).filter((m) => m.supported);
  const demo = s.demo;
  const busy = demo && ["downloading", "extracting", "loading"].includes(demo.state);
  if (supported.length > 0 && !busy) return null;
  return (
    <Card title="Get a model" id="get-model" class="wide">
      <Empty
        title={supported.length ? "Installing the demo model…" : "No model installed yet"}
        actions={
          <>
            <Button id="demo-install" disabled={busy} onClick={() => installDemo().then(() => flash("Installing the demo model"), flashError)}>
              {demoLabel}
            </Button>
            <a class="btn secondary" href="#/models">Find a model on the Models page</a>
          </>
        }
      >
        <p>
          Install the small demo chat model to try LMX at once, or download any MLX model from Hugging Face on the Models page.
        </p>
        {s.model_hint && (
          <p class="hint" id="model-hint">
            <CodeText text={s.model_hint} />
          </p>
        )}
      </Empty>
      {busy && demo && (
        <p role="status" id="demo-progress">
          Demo model: {demo.state}
          {demo.total > 0 ? ` ${Math.round((100 * demo.bytes) / demo.total)}%` : ""}
        </p>
      )}
      {demo?.state === "failed" && demo.error && (
        <ErrorState title="The demo model was not installed" message={demo.error} id="demo-error" />
      )}
    </Card>
  );
}

function LoadedModels() {
  const { value: pool, error } = usePool();
  const { value: stats } = useStats();
  useEffect(refreshPool, []);
  const models = pool?.models ?? [];
  return (
    <Card title="Loaded models" id="loaded" class="wide" actions={<a href="#/models">Manage models</a>}>
      {error && !pool && <ErrorState title="The model pool could not be read" message={error} />}
      {pool && models.length === 0 && (
        <Empty title="No model loaded">
          <p>
            A request naming an installed model loads it (when auto-load is on in <a href="#/settings">Settings</a>), or load one on
            the <a href="#/models">Models</a> page.
          </p>
        </Empty>
      )}
      {models.length > 0 && (
        <div class="table-wrap">
          <table class="grid" id="loaded-table">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">State</th>
                <th scope="col" class="num">Weights</th>
                <th scope="col" class="num">KV cache</th>
                <th scope="col" class="num">Prefix cache</th>
                <th scope="col" class="num">Reserved</th>
                <th scope="col" class="num">Running</th>
              </tr>
            </thead>
            <tbody>
              {models.map((m) => {
                const ms = stats?.latest?.models.find((x) => x.id === m.id);
                return (
                  <tr key={m.id} data-id={m.id}>
                    <td class="model-id" title={m.id}>
                      {shortName(m.id)}
                      {m.pinned && <span class="tag">pinned</span>}
                    </td>
                    <td>{m.state}</td>
                    <td class="num">{formatBytes(m.weight_bytes)}</td>
                    <td class="num" title={`for ${m.context_tokens} tokens of context`}>
                      {formatBytes(m.kv_bytes)}
                    </td>
                    <td class="num">
                      {ms ? `${formatBytes(ms.prefix_cache.bytes)} of ` : ""}
                      {formatBytes(m.prefix_cache_bytes)}
                    </td>
                    <td class="num">{formatBytes(m.estimate_bytes)}</td>
                    <td class="num">{ms ? `${ms.active} + ${ms.queued} queued` : m.requests}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {pool && pool.budget_bytes > 0 && (
        <p class="muted small" id="budget">
          {formatBytes(pool.reserved_bytes)} reserved of the {formatBytes(pool.budget_bytes)} memory budget ({budgetSource(pool.budget_source)}).
        </p>
      )}
    </Card>
  );
}

function budgetSource(src: string): string {
  switch (src) {
    case "memory.limit_bytes":
      return "set in Settings";
    case "recommended_working_set":
      return "Metal's recommended working set";
    case "system_memory":
      return "75% of system memory";
    default:
      return src;
  }
}

// ---- memory ----

function MemoryCard({ s, settings }: { s: Status; settings?: Settings }) {
  const { value: stats } = useStats();
  const m: Memory | undefined = stats?.latest?.memory ?? s.memory;
  const mlx: MLXMemory | undefined = stats?.latest?.mlx;
  if (!m) {
    return (
      <Card title="Memory" id="memory">
        <ErrorState title="System memory could not be read" message={s.memory_error ?? "not available on this system"} />
      </Card>
    );
  }
  const known = m.wired + m.active + m.inactive + m.compressed;
  const free = Math.max(0, m.total - known);
  const used = m.total - m.available;
  const pct = m.total ? Math.round((100 * used) / m.total) : 0;
  const wiredLimit = settings?.memory.wired_limit_bytes ?? 0;
  return (
    <Card title="Memory" id="memory" class="wide">
      <p class="memory-summary">
        {formatBytes(used)} of {formatBytes(m.total)} used ({pct}%) · {formatBytes(m.available)} available
      </p>
      <StackedBar
        label="Unified memory"
        total={m.total}
        segments={[
          { label: "Wired", bytes: m.wired, color: "var(--mem-wired)" },
          { label: "Active", bytes: m.active, color: "var(--mem-active)" },
          { label: "Inactive", bytes: m.inactive, color: "var(--mem-inactive)" },
          { label: "Compressed", bytes: m.compressed, color: "var(--mem-compressed)" },
          { label: "Free", bytes: free, color: "var(--mem-free)" },
        ]}
        markers={[
          { label: "Wired cap (iogpu.wired_limit_mb)", bytes: m.wired_limit, kind: "cap" },
          { label: "MLX wired limit", bytes: wiredLimit, kind: "limit" },
        ]}
      />
      <div class="memory-cols">
        <table class="kv" id="mlx-memory">
          <caption>MLX</caption>
          <tbody>
            {mlx ? (
              <>
                <tr><th scope="row">Active</th><td>{formatBytes(mlx.active)}</td></tr>
                <tr><th scope="row">Peak</th><td>{formatBytes(mlx.peak)}</td></tr>
                <tr><th scope="row">Cache (freed buffers kept)</th><td>{formatBytes(mlx.cache)}</td></tr>
                <tr><th scope="row">Memory limit</th><td>{mlx.limit ? formatBytes(mlx.limit) : "none"}</td></tr>
              </>
            ) : (
              <tr><td colSpan={2} class="muted">No MLX runtime: no MLX memory in use.</td></tr>
            )}
            <tr>
              <th scope="row">Wired limit</th>
              <td>{wiredLimit ? formatBytes(wiredLimit) : "system default"}</td>
            </tr>
          </tbody>
        </table>
        <div class="explain small">
          <p>
            On a Mac, memory the GPU uses is <strong>wired</strong>: kept in RAM, never swapped. macOS caps it at the{" "}
            <strong>wired cap</strong>
            {m.wired_limit ? ` (${formatBytes(m.wired_limit)} here)` : ""}; a model whose weights and KV cache do not fit under it
            runs slowly or fails.
          </p>
          <p>
            Raising the cap (<code>sudo sysctl iogpu.wired_limit_mb=N</code>, until the next restart) lets bigger models and longer
            contexts run on the GPU, but leaves less memory to other apps: keep several GB free for macOS. LMX's own wired limit is
            in <a href="#/settings">Settings → Memory</a>.
          </p>
        </div>
      </div>
    </Card>
  );
}

// ---- charts ----

function Performance() {
  const { value: h, error } = useStats();
  const samples = h?.samples ?? [];
  const times = samples.map((x) => x.t);
  const last = h?.latest?.models ?? [];
  return (
    <Card title="Performance" id="performance" class="wide">
      {error && <ErrorState title="Live serving stats stopped" message={error} />}
      {last.length === 0 && (
        <p class="muted small">No model is loaded: the charts start moving with the first request.</p>
      )}
      <div class="charts">
        <Chart
          id="chart-tps"
          title="Tokens per second"
          unit="tok/s"
          times={times}
          series={[
            { label: "Decode", color: "--chart-1", values: samples.map((x) => x.decodeTPS) },
            { label: "Prefill", color: "--chart-2", values: samples.map((x) => x.prefillTPS) },
          ]}
        />
        <Chart id="chart-ttft" title="Time to first token (last request)" unit="ms" times={times}
          series={[{ label: "TTFT", color: "--chart-3", values: samples.map((x) => x.ttftMs) }]} />
        <Chart
          id="chart-seq"
          title="Sequences"
          unit=""
          times={times}
          series={[
            { label: "Active", color: "--chart-1", values: samples.map((x) => x.active) },
            { label: "Queued", color: "--chart-4", values: samples.map((x) => x.queued) },
          ]}
        />
        <Chart id="chart-hit" title="Prefix-cache hit rate" unit="%" max={100} times={times}
          series={[{ label: "Hit rate", color: "--chart-2", values: samples.map((x) => x.hitRate) }]} />
      </div>
      {last.map((m) => (
        <p key={m.id} class="muted small model-speed">
          {m.id}: last request {formatNumber(m.decode_tokens_per_second)} tok/s decode, {formatNumber(m.prefill_tokens_per_second, 0)} tok/s
          prefill, first token after {formatMs(m.time_to_first_token_ms)}; {m.requests} requests, mean batch {formatNumber(m.mean_batch, 2)}
          {m.draft_proposed > 0 ? `, draft acceptance ${Math.round(100 * m.draft_acceptance_rate)}%` : ""}.
        </p>
      ))}
    </Card>
  );
}

// ---- request log ----

function Requests() {
  const { value: reqs, error } = useRequests();
  const rows = [...(reqs ?? [])].reverse().slice(0, 20);
  return (
    <Card title="Recent requests" id="requests" class="wide">
      {error && !reqs && <ErrorState title="The request log could not be read" message={error} />}
      {reqs && rows.length === 0 && (
        <Empty title="No requests yet">
          <p>Requests to the endpoint appear here with their tokens, speed and what the prefix cache reused.</p>
        </Empty>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="grid" id="requests-table">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">API</th>
                <th scope="col">Model</th>
                <th scope="col" class="num">Status</th>
                <th scope="col" class="num">Prompt (cached)</th>
                <th scope="col" class="num">Output</th>
                <th scope="col" class="num">TTFT</th>
                <th scope="col" class="num">tok/s</th>
                <th scope="col">Prefix cache</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <RequestRow key={r.id} r={r} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

// shortName is a model id's last part (its alias): "mlx-community/X" → "X".
function shortName(id: string): string {
  return id.split("/").pop() ?? id;
}

function RequestRow({ r }: { r: RequestRecord }) {
  const ok = r.status < 400;
  return (
    <tr data-id={r.id}>
      <td class="nowrap">{new Date(r.time).toLocaleTimeString()}</td>
      <td>{r.api}</td>
      <td class="model-id" title={r.model}>{shortName(r.model) || "–"}</td>
      <td class={ok ? "num" : "num error"}>{r.status === 499 ? "client left" : r.status}</td>
      <td class="num">
        {r.prompt_tokens} ({r.cached_tokens})
      </td>
      <td class="num">{r.completion_tokens}</td>
      <td class="num">{r.time_to_first_token_ms ? formatMs(r.time_to_first_token_ms) : "–"}</td>
      <td class="num">{r.tokens_per_second ? formatNumber(r.tokens_per_second) : "–"}</td>
      <td class="explain-cell">{r.cache_explain || "–"}</td>
    </tr>
  );
}
