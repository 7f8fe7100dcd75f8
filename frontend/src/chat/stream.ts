// Streaming a chat completion: POST /v1/chat/completions with stream:true,
// read with fetch and a ReadableStream, parsed as server-sent events.
import { authHeaders, fetchStatus } from "../api";
import { inWindow } from "../wails";
import type { ChatMessage, ChatSettings, ChatStats, ToolCall } from "./api";

// Reply is an assistant reply as it streams in.
export interface Reply {
  content: string;
  reasoning: string;
  toolCalls: ToolCall[];
  stats: ChatStats;
  // stopped is set when signal aborted the stream (the user pressed Stop).
  stopped: boolean;
}

// request builds the OpenAI request of a conversation.
export function request(model: string, settings: ChatSettings, messages: ChatMessage[]): Record<string, unknown> {
  const wire: Record<string, unknown>[] = [];
  if (settings.system?.trim()) wire.push({ role: "system", content: settings.system });
  for (const m of messages) {
    const w: Record<string, unknown> = { role: m.role, content: m.content };
    if (m.tool_calls?.length) w.tool_calls = m.tool_calls;
    if (m.tool_call_id) w.tool_call_id = m.tool_call_id;
    wire.push(w);
  }
  const body: Record<string, unknown> = { model, messages: wire, stream: true, stream_options: { include_usage: true } };
  if (settings.temperature !== undefined) body.temperature = settings.temperature;
  if (settings.top_p !== undefined) body.top_p = settings.top_p;
  if (settings.max_tokens !== undefined) body.max_tokens = settings.max_tokens;
  if (settings.reasoning_effort) body.reasoning_effort = settings.reasoning_effort;
  if (settings.tools?.length) {
    body.tools = settings.tools;
    if (settings.tool_choice !== undefined) body.tool_choice = settings.tool_choice;
  }
  return body;
}

interface Chunk {
  choices?: {
    delta?: {
      content?: string | null;
      reasoning_content?: string | null;
      tool_calls?: { index: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }[];
    };
    finish_reason?: string | null;
  }[];
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
  error?: { message?: string };
}

// streamChat sends body and calls onUpdate with the reply so far after each
// chunk; it resolves with the whole reply when the stream ends, or with what
// came so far (stopped) when signal aborts, and rejects with the server's
// error message.
export async function streamChat(body: Record<string, unknown>, signal: AbortSignal, onUpdate: (r: Reply) => void): Promise<Reply> {
  const t0 = performance.now();
  let tFirst = 0;
  let deltas = 0; // chunks that carried output
  const r: Reply = { content: "", reasoning: "", toolCalls: [], stats: {}, stopped: false };
  let resp: Response;
  try {
    resp = await post({
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...authHeaders() },
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (!signal.aborted) throw new Error(`LMX cannot be reached: ${err instanceof Error ? err.message : String(err)}`);
    r.stopped = true;
    return r;
  }
  if (!resp.ok || !resp.body) {
    const text = await resp.text();
    let msg = `HTTP ${resp.status}`;
    try {
      msg = (JSON.parse(text) as Chunk).error?.message ?? msg;
    } catch {
      if (text.trim()) msg += `: ${text.trim().slice(0, 200)}`;
    }
    throw new Error(msg);
  }
  const finish = () => {
    const end = performance.now();
    const n = r.stats.completion_tokens ?? 0;
    if (tFirst) r.stats.ttft_ms = tFirst - t0;
    // Decode speed is the tokens after the first over the time after it;
    // output that came in a few pieces (a tool call the server parses whole)
    // has no such time, so its speed is over the whole request.
    if (tFirst && n > 1 && deltas * 2 >= n && end > tFirst) r.stats.tokens_per_sec = (n - 1) / ((end - tFirst) / 1000);
    else if (n > 0 && end > t0) r.stats.tokens_per_sec = n / ((end - t0) / 1000);
  };
  const apply = (c: Chunk) => {
    if (c.error) throw new Error(c.error.message ?? "the stream failed");
    if (c.usage) {
      r.stats.prompt_tokens = c.usage.prompt_tokens;
      r.stats.completion_tokens = c.usage.completion_tokens;
    }
    const ch = c.choices?.[0];
    if (!ch) return;
    const d = ch.delta;
    if (d && (d.content || d.reasoning_content || d.tool_calls?.length)) {
      deltas++;
      if (!tFirst) tFirst = performance.now();
    }
    if (d?.content) r.content += d.content;
    if (d?.reasoning_content) r.reasoning += d.reasoning_content;
    for (const tc of d?.tool_calls ?? []) {
      const cur = (r.toolCalls[tc.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
      if (tc.id) cur.id = tc.id;
      if (tc.function?.name) cur.function.name += tc.function.name;
      if (tc.function?.arguments) cur.function.arguments += tc.function.arguments;
    }
    if (ch.finish_reason) r.stats.finish_reason = ch.finish_reason;
  };
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value.replace(/\r\n?/g, "\n");
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (!data || data === "[DONE]") continue;
        apply(JSON.parse(data) as Chunk);
        onUpdate({ ...r, toolCalls: r.toolCalls.map((t) => ({ ...t, function: { ...t.function } })), stats: { ...r.stats } });
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
    r.stopped = true;
  } finally {
    finish();
  }
  return r;
}

// post sends the chat request. In the app window the asset server hands a
// response over only once it is complete, so a reply would not stream there:
// the window sends it to the server's own address instead (the window's
// origin is allowed across origins), and falls back to the in-process path
// when that cannot be used (server stopped or unreachable, a key required).
async function post(init: RequestInit): Promise<Response> {
  if (inWindow()) {
    try {
      const server = (await fetchStatus()).server;
      if (server.running && server.url) {
        const resp = await fetch(`${server.url}/v1/chat/completions`, init);
        if (resp.status !== 401 && resp.status !== 403) return resp;
      }
    } catch (err) {
      if (init.signal?.aborted) throw err;
    }
  }
  return fetch("/v1/chat/completions", init);
}
