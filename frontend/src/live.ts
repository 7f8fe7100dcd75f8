// Live data for the pages: the status (SSE /api/events in a browser, Wails
// "status" events in the window, whose asset server does not stream), the
// serving stats (SSE /api/stats/stream in a browser, polled GET /api/stats in
// the window) with a short history for the charts, the request log and the
// pool. Each source is one shared connection, opened while a component uses
// it; components re-render with the new value and Preact changes only the
// DOM that differs, so focus and text selection survive updates.
import { useEffect, useState } from "preact/hooks";
import {
  type PoolStatus, type RequestRecord, type Stats, type Status,
  fetchStatus, getPool, getRequests, getStats, streamEvents,
} from "./api";
import { inWindow, onWindowEvent } from "./wails";

// Live is a value from the server with its connection state.
export interface Live<T> {
  value?: T;
  // error is why the last fetch or the stream failed ("" when connected).
  error: string;
}

// Source is a shared, subscribable live value: start runs while it has
// subscribers and returns its stop function.
class Source<T> {
  private subs = new Set<(v: Live<T>) => void>();
  private stop?: () => void;
  state: Live<T> = { error: "" };

  constructor(private start: (src: Source<T>) => () => void) {}

  set(patch: Partial<Live<T>>): void {
    this.state = { ...this.state, ...patch };
    for (const fn of this.subs) fn(this.state);
  }

  subscribe(fn: (v: Live<T>) => void): () => void {
    this.subs.add(fn);
    if (this.subs.size === 1) this.stop = this.start(this);
    return () => {
      this.subs.delete(fn);
      if (this.subs.size === 0) {
        this.stop?.();
        this.stop = undefined;
      }
    };
  }
}

function useSource<T>(src: Source<T>): Live<T> {
  const [state, setState] = useState(src.state);
  useEffect(() => {
    setState(src.state);
    return src.subscribe(setState);
  }, [src]);
  return state;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// sse keeps an event stream open, reconnecting after a second (up to ten
// when it keeps failing); onFail reports each break.
function sse(path: string, event: string, onData: (data: string) => void, onFail: (why: string) => void): () => void {
  const ctl = new AbortController();
  let delay = 1000;
  let timer: number | undefined;
  const open = () => {
    streamEvents(path, (name, data) => {
      delay = 1000;
      if (name === event) onData(data);
    }, ctl.signal).then(
      () => onFail("The connection to LMX ended (the server stopped)."),
      (err) => {
        if (!ctl.signal.aborted) onFail(err instanceof TypeError ? "LMX cannot be reached: the server is stopped or restarting." : message(err));
      },
    ).finally(() => {
      if (ctl.signal.aborted) return;
      timer = window.setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    });
  };
  open();
  return () => {
    ctl.abort();
    window.clearTimeout(timer);
  };
}

// poll calls fn now and every ms until stopped.
function poll(fn: () => Promise<void>, ms: number): () => void {
  let stopped = false;
  let timer: number | undefined;
  const tick = async () => {
    await fn();
    if (!stopped) timer = window.setTimeout(tick, ms);
  };
  void tick();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}

// ---- status ----

export const statusSource = new Source<Status>((src) => {
  if (inWindow()) {
    // The window gets every published status as a Wails event, plus one
    // fetch for the first (in-process, it cannot fail for the network).
    fetchStatus().then((s) => src.set({ value: s, error: "" }), (err) => src.set({ error: message(err) }));
    return onWindowEvent<Status>("status", (s) => src.set({ value: s, error: "" }));
  }
  return sse("/api/events", "status",
    (data) => src.set({ value: JSON.parse(data) as Status, error: "" }),
    (why) => src.set({ error: why }));
});

// useStatus is the live status.
export const useStatus = () => useSource(statusSource);

// setStatus replaces the status with an action's answer (start, stop), so
// the page does not wait for the next event.
export function setStatus(s: Status): void {
  statusSource.set({ value: s, error: "" });
}

// ---- serving stats, with history ----

// Sample is one point of the charts, derived from two consecutive stats.
export interface Sample {
  t: number; // seconds since the epoch
  decodeTPS: number; // tokens generated per second over the interval, all models
  prefillTPS: number; // prompt tokens prefilled per second over the interval
  ttftMs: number | null; // time to first token of the latest request
  active: number;
  queued: number;
  hitRate: number | null; // prefix-cache hits / lookups so far, percent
}

export interface StatsHistory {
  latest?: Stats;
  samples: Sample[];
}

// historyLength is how many samples the charts keep (at one a second, two minutes).
export const historyLength = 120;

function sum(s: Stats, f: (m: Stats["models"][number]) => number): number {
  return s.models.reduce((a, m) => a + f(m), 0);
}

function sample(prev: Stats | undefined, s: Stats): Sample {
  const t = Date.parse(s.time) / 1000;
  const dt = prev ? t - Date.parse(prev.time) / 1000 : 0;
  const rate = (f: (m: Stats["models"][number]) => number) => {
    if (!prev || dt <= 0) return 0;
    // Counters restart when a model reloads: never draw a negative rate.
    return Math.max(0, (sum(s, f) - sum(prev, f)) / dt);
  };
  const hits = sum(s, (m) => m.prefix_cache.hits);
  const lookups = hits + sum(s, (m) => m.prefix_cache.misses);
  const ttfts = s.models.map((m) => m.time_to_first_token_ms).filter((v) => v > 0);
  return {
    t,
    decodeTPS: rate((m) => m.generated_tokens),
    prefillTPS: rate((m) => m.prefill_tokens),
    ttftMs: ttfts.length ? Math.max(...ttfts) : null,
    active: sum(s, (m) => m.active),
    queued: sum(s, (m) => m.queued),
    hitRate: lookups ? (100 * hits) / lookups : null,
  };
}

export const statsSource = new Source<StatsHistory>((src) => {
  const add = (s: Stats) => {
    const prev = src.state.value;
    const samples = [...(prev?.samples ?? []), sample(prev?.latest, s)].slice(-historyLength);
    src.set({ value: { latest: s, samples }, error: "" });
  };
  if (inWindow()) {
    return poll(() => getStats().then(add, (err) => src.set({ error: message(err) })), 1000);
  }
  return sse("/api/stats/stream?interval_ms=1000", "stats",
    (data) => add(JSON.parse(data) as Stats),
    (why) => src.set({ error: why }));
});

// useStats is the latest serving stats and the charts' history.
export const useStats = () => useSource(statsSource);

// ---- request log ----

// requestsKept is how many requests the dashboard lists.
export const requestsKept = 50;

export const requestsSource = new Source<RequestRecord[]>((src) => {
  let last = 0;
  return poll(async () => {
    try {
      const body = await getRequests(last);
      if (body.last < last) last = 0; // the server restarted
      if (body.requests.length > 0 || src.state.value === undefined) {
        const all = [...(src.state.value ?? []), ...body.requests].slice(-requestsKept);
        src.set({ value: all, error: "" });
      } else if (src.state.error) {
        src.set({ error: "" });
      }
      last = body.last;
    } catch (err) {
      src.set({ error: message(err) });
    }
  }, 2000);
});

// useRequests is the last requests, oldest first.
export const useRequests = () => useSource(requestsSource);

// ---- pool ----

export const poolSource = new Source<PoolStatus>((src) =>
  poll(() => getPool().then((p) => src.set({ value: p, error: "" }), (err) => src.set({ error: message(err) })), 2000));

// usePool is the loaded models and the memory budget.
export const usePool = () => useSource(poolSource);

// refreshPool fetches the pool now (after a load or unload).
export function refreshPool(): void {
  getPool().then((p) => poolSource.set({ value: p, error: "" }), () => {});
}
