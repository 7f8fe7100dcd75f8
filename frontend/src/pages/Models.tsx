// The Models page: search mlx-community with size, quantization and "will it
// fit" per result; downloads with progress, speed, ETA, pause / resume /
// cancel; the local library with load / unload / pin / delete and disk use;
// importing a .gguf file.
import "./models.css";
import { useEffect, useRef, useState } from "preact/hooks";
import type { PageProps } from "../app";
import type { LocalModel, PoolModel } from "../api";
import { refreshPool, usePool, useStatus } from "../live";
import { Button } from "../ui/Button";
import { Card, Empty, ErrorState } from "../ui/States";
import { flash, flashError } from "../ui/Toast";
import { formatBytes } from "../ui/format";
import {
  type DownloadProgress, type HubModel, type HubSummary,
  cancelDownload, deleteModel, hubModel, importGGUF, pauseDownload, poolAction, pull, resumeDownload, searchHub,
} from "../models/api";
import { fitLabel, formatCount, formatETA, formatParams, modelName, quantLabel } from "../models/format";

export default function Models(_props: PageProps) {
  const status = useStatus();
  const pool = usePool();
  const s = status.value;
  const downloads = (s?.downloads ?? []) as DownloadProgress[];
  return (
    <div class="models-page">
      <h1 class="page-title">Models</h1>
      {status.error && <ErrorState title="LMX cannot be reached" message={status.error} />}
      <Downloads downloads={downloads} />
      <Library models={s?.models ?? null} error={s?.models_error} pool={pool.value?.models ?? []} pinned={pool.value?.pinned ?? []} budget={pool.value?.budget_bytes ?? 0} />
      <Search installed={s?.models ?? []} downloads={downloads} />
      <ImportGGUF engineOK={s?.engine.available ?? true} engineError={s?.engine.error} />
    </div>
  );
}

// ---- downloads ----

function Downloads({ downloads }: { downloads: DownloadProgress[] }) {
  const shown = downloads.filter((d) => d.state !== "done");
  if (shown.length === 0) return null;
  return (
    <Card title="Downloads" id="downloads">
      <ul class="download-list">
        {shown.map((d) => <DownloadRow key={d.id} d={d} />)}
      </ul>
    </Card>
  );
}

function DownloadRow({ d }: { d: DownloadProgress }) {
  const pct = d.total_bytes ? Math.floor((d.done_bytes / d.total_bytes) * 100) : 0;
  const running = d.state === "running" || d.state === "queued";
  const label = `${d.repo}: ${pct}%`;
  return (
    <li class="download" data-id={d.id} data-state={d.state}>
      <div class="download-head">
        <span class="model-id">{d.repo}</span>
        <span class={`state state-${d.state}`}>{d.state}</span>
      </div>
      <progress max={100} value={pct} aria-label={label} />
      <div class="download-facts muted">
        <span class="pct">{pct}%</span> · {formatBytes(d.done_bytes)} of {formatBytes(d.total_bytes)} · files {d.files_done}/{d.files_total}
        {d.state === "running" && d.bytes_per_sec > 0 && (
          <>
            {" · "}<span class="speed">{formatBytes(d.bytes_per_sec)}/s</span>{" · "}<span class="eta">{formatETA(d.eta_ns)} left</span>
          </>
        )}
      </div>
      {d.error && <p class="error">{d.error}</p>}
      <div class="actions">
        {running && <Button kind="secondary" aria-label={`Pause ${d.repo}`} onClick={() => pauseDownload(d.id).catch(flashError)}>Pause</Button>}
        {!running && <Button kind="secondary" aria-label={`Resume ${d.repo}`} onClick={() => resumeDownload(d.id).catch(flashError)}>Resume</Button>}
        <Button kind="danger" aria-label={`Cancel ${d.repo}`} onClick={() => cancelDownload(d.id).then(() => flash(`Canceled ${d.repo}`), flashError)}>Cancel</Button>
      </div>
    </li>
  );
}

// ---- the library ----

function Library({ models, error, pool, pinned, budget }: { models: LocalModel[] | null; error?: string; pool: PoolModel[]; pinned: string[]; budget: number }) {
  if (models === null && !error) return <Card title="Installed" id="library"><p class="loading">Loading…</p></Card>;
  const list = models ?? [];
  const disk = list.reduce((a, m) => a + m.size_bytes, 0);
  return (
    <Card title="Installed" id="library">
      {error && <ErrorState title="The library cannot be read" message={error} />}
      {list.length === 0 ? (
        <Empty title="No model installed">
          Search mlx-community below and download one, import a .gguf file, or install the demo model from the Dashboard.
        </Empty>
      ) : (
        <>
          <p class="muted" id="disk-usage">
            {list.length} {list.length === 1 ? "model" : "models"} · {formatBytes(disk)} on disk
            {budget > 0 && <> · memory budget {formatBytes(budget)}</>}
          </p>
          <table class="library">
            <caption class="sr-only">Installed models</caption>
            <thead>
              <tr><th scope="col">Model</th><th scope="col">Size</th><th scope="col">State</th><th scope="col">Actions</th></tr>
            </thead>
            <tbody>
              {list.map((m) => <LibraryRow key={m.id} m={m} p={pool.find((p) => p.id === m.id)} pinned={pinned.includes(m.id)} />)}
            </tbody>
          </table>
        </>
      )}
    </Card>
  );
}

// LibraryRow is one installed model; pinned is the pool's pool.pinned
// setting (a pinned model stays loaded).
function LibraryRow({ m, p, pinned }: { m: LocalModel; p?: PoolModel; pinned: boolean }) {
  const name = modelName(m);
  const act = (action: "load" | "unload" | "pin" | "unpin", done: string) =>
    poolAction(action, m.id).then(() => {
      refreshPool();
      flash(done);
    }, flashError);
  const remove = async () => {
    if (!confirm(`Delete ${m.repo} from disk (${formatBytes(m.size_bytes)})?`)) return;
    try {
      await deleteModel(m.repo);
      flash(`Deleted ${m.repo}`);
    } catch (err) {
      flashError(err);
    }
  };
  const state = p?.state ?? "not loaded";
  return (
    <tr data-id={m.id} class={m.supported ? undefined : "unsupported"}>
      <th scope="row">
        <span class="model-id">{name}</span>
        <div class="muted small">
          {[m.architecture || "unknown architecture", quantLabel(m.quantization), formatParams(m.params), m.source].filter(Boolean).join(" · ")}
        </div>
        {!m.supported && <div class="error small">Not supported: {m.reason ?? "unknown reason"}</div>}
      </th>
      <td>{formatBytes(m.size_bytes)}</td>
      <td>
        <span class={`state state-${state.replace(" ", "-")}`}>{state}</span>
        {p && p.state === "loaded" && <div class="muted small">{formatBytes(p.estimate_bytes)} reserved</div>}
        {pinned && <div class="muted small">pinned</div>}
      </td>
      <td>
        <div class="row-actions">
        {m.supported && !p && <Button aria-label={`Load ${name}`} onClick={() => act("load", `Loaded ${name}`)}>Load</Button>}
        {p && <Button kind="secondary" aria-label={`Unload ${name}`} onClick={() => act("unload", `Unloaded ${name}`)}>Unload</Button>}
        {m.supported && (pinned
          ? <Button kind="ghost" aria-label={`Unpin ${name}`} onClick={() => act("unpin", `Unpinned ${name}`)}>Unpin</Button>
          : <Button kind="ghost" aria-label={`Pin ${name}`} onClick={() => act("pin", `Pinned ${name}: it stays loaded`)}>Pin</Button>)}
        {m.repo && <Button kind="danger" aria-label={`Delete ${name}`} onClick={remove}>Delete</Button>}
        </div>
      </td>
    </tr>
  );
}

// ---- search ----

function Search({ installed, downloads }: { installed: LocalModel[]; downloads: DownloadProgress[] }) {
  const [q, setQ] = useState("");
  const [results, setResults] = useState<HubSummary[] | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const ctl = useRef<AbortController | null>(null);
  const run = async (e?: Event) => {
    e?.preventDefault();
    ctl.current?.abort();
    const c = new AbortController();
    ctl.current = c;
    setBusy(true);
    setError("");
    try {
      const r = await searchHub(q.trim(), c.signal);
      setResults(r.models);
    } catch (err) {
      if (!c.signal.aborted) setError(err instanceof Error ? err.message : String(err));
    } finally {
      if (ctl.current === c) setBusy(false);
    }
  };
  return (
    <Card title="Download from mlx-community" id="search">
      <form class="search-form" onSubmit={run} role="search">
        <label for="hub-query" class="sr-only">Search mlx-community models</label>
        <input id="hub-query" type="search" value={q} placeholder="Search mlx-community, e.g. qwen3 4bit" spellcheck={false}
          onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        <Button type="submit" disabled={busy}>{busy ? "Searching…" : "Search"}</Button>
      </form>
      {error && <ErrorState title="The search failed" message={error} />}
      {results !== null && results.length === 0 && <Empty title="No models found">Try fewer words, or another spelling.</Empty>}
      {results !== null && results.length > 0 && (
        <table class="results">
          <caption class="sr-only">Search results</caption>
          <thead>
            <tr><th scope="col">Model</th><th scope="col">Downloads</th><th scope="col">Size</th><th scope="col">Quantization</th><th scope="col">Will it fit?</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
          </thead>
          <tbody>
            {results.map((r) => (
              <ResultRow key={r.id} r={r} installed={installed.some((m) => m.repo === r.id)} download={downloads.find((d) => d.repo === r.id && d.state !== "done")} />
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

// detailSlots bounds the concurrent GET /api/hub/model requests.
let detailSlots = 4;
const waiting: (() => void)[] = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (detailSlots === 0) await new Promise<void>((r) => waiting.push(r));
  detailSlots--;
  try {
    return await fn();
  } finally {
    detailSlots++;
    waiting.shift()?.();
  }
}

function ResultRow({ r, installed, download }: { r: HubSummary; installed: boolean; download?: DownloadProgress }) {
  const [detail, setDetail] = useState<HubModel | null>(null);
  const [detailErr, setDetailErr] = useState("");
  useEffect(() => {
    const c = new AbortController();
    limited(() => (c.signal.aborted ? Promise.reject(new Error("aborted")) : hubModel(r.id, c.signal))).then(setDetail, (err) => {
      if (!c.signal.aborted) setDetailErr(err instanceof Error ? err.message : String(err));
    });
    return () => c.abort();
  }, [r.id]);
  const start = () => pull(r.id).then(() => flash(`Downloading ${r.id}`), flashError);
  const fit = detail?.fit;
  return (
    <tr data-repo={r.id} class="result">
      <th scope="row"><span class="model-id">{r.id}</span></th>
      <td>{formatCount(r.downloads)}</td>
      <td class="size">{detail ? formatBytes(detail.size_bytes) : detailErr ? "?" : "…"}</td>
      <td class="quant">{detail ? quantLabel(detail.quantization) : detailErr ? "?" : "…"}</td>
      <td class="fit">
        {fit && (
          <span class={`fit-${fit.verdict}`} title={`needs ${formatBytes(fit.need_bytes)} (weights ${formatBytes(fit.weights_bytes)} + KV cache ${formatBytes(fit.kv_bytes)} for ${detail?.context_tokens} tokens) of ${formatBytes(fit.budget_bytes)}`}>
            {fitLabel(fit)} <span class="muted small">({formatBytes(fit.need_bytes)} of {formatBytes(fit.budget_bytes)})</span>
          </span>
        )}
        {detail && !fit && <span class="muted">unknown: {detail.fit_error}</span>}
        {detailErr && <span class="error small">{detailErr}</span>}
        {!detail && !detailErr && <span class="muted">…</span>}
      </td>
      <td>
        <div class="row-actions">
        {installed ? <span class="muted">Installed</span>
          : download ? <span class="muted">{download.state}</span>
          : <Button aria-label={`Download ${r.id}`} onClick={start}>Download</Button>}
        </div>
      </td>
    </tr>
  );
}

// ---- GGUF import ----

function ImportGGUF({ engineOK, engineError }: { engineOK: boolean; engineError?: string }) {
  const [path, setPath] = useState("");
  const [error, setError] = useState("");
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    setDone("");
    setBusy(true);
    try {
      const r = await importGGUF(path.trim());
      setDone(`Imported ${modelName(r.model)}`);
      setPath("");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Import a GGUF file" id="import">
      <p class="muted">
        A llama, mistral, qwen2, qwen3, gemma3 or phi3 .gguf file on this Mac: it is converted once into an MLX model in LMX's data folder.
      </p>
      {!engineOK && <p class="error">Importing needs the MLX engine, which is unavailable: {engineError}</p>}
      <form class="import-form" onSubmit={submit}>
        <label for="gguf-path">Path of the .gguf file</label>
        <input id="gguf-path" type="text" value={path} placeholder="/Users/me/Downloads/model.Q4_K_M.gguf" spellcheck={false}
          onInput={(e) => setPath((e.target as HTMLInputElement).value)} />
        <Button type="submit" disabled={busy || path.trim() === ""}>{busy ? "Importing…" : "Import"}</Button>
      </form>
      {error && <ErrorState id="import-error" title="The import failed" message={error} />}
      {done && <p class="ok" id="import-done" role="status">{done}</p>}
    </Card>
  );
}
