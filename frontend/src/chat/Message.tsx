// One message of a conversation: the assistant's as sanitized markdown with
// its reasoning collapsed, its tool calls as blocks and its speed; the
// others as plain text.
import { renderMarkdown } from "../markdown";
import { formatMs } from "../ui/format";
import type { ChatMessage, ChatStats, ToolCall } from "./api";

const roleNames: Record<ChatMessage["role"], string> = { system: "System", user: "You", assistant: "Assistant", tool: "Tool result" };

export function MessageView({ m, streaming }: { m: ChatMessage; streaming?: boolean }) {
  return (
    <article class={`msg msg-${m.role}${streaming ? " streaming" : ""}`} data-role={m.role} aria-busy={streaming || undefined}>
      <div class="msg-role">
        {roleNames[m.role]}
        {m.model && <span class="muted small" title={m.model}> · {m.model.split("/").pop()}</span>}
      </div>
      {m.reasoning && (
        <details class="reasoning">
          <summary>Reasoning</summary>
          <div class="reasoning-text">{m.reasoning}</div>
        </details>
      )}
      {m.role === "assistant"
        ? m.content && <div class="md" dangerouslySetInnerHTML={{ __html: renderMarkdown(m.content) }} />
        : <div class="plain">{m.content}</div>}
      {m.tool_calls?.map((tc, i) => <ToolCallView key={tc.id || i} tc={tc} />)}
      {streaming && !m.content && !m.reasoning && !m.tool_calls?.length && <p class="muted small">Waiting for the first token…</p>}
      {m.stopped && <p class="muted small stopped">Stopped</p>}
      {m.stats && !streaming && <StatsLine s={m.stats} />}
    </article>
  );
}

// ToolCallView shows a call as a call: the function's name and its
// arguments as (pretty-printed) JSON, not as message text.
function ToolCallView({ tc }: { tc: ToolCall }) {
  let args = tc.function.arguments;
  try {
    args = JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    // partial or invalid JSON is shown as it came
  }
  return (
    <div class="tool-call" data-tool={tc.function.name}>
      <div class="tool-call-head">
        Tool call <code class="tool-name">{tc.function.name}</code>
        {tc.id && <span class="muted small"> {tc.id}</span>}
      </div>
      <pre class="tool-args" aria-label={`Arguments of ${tc.function.name}`}><code>{args}</code></pre>
    </div>
  );
}

function StatsLine({ s }: { s: ChatStats }) {
  const parts = [];
  if (s.tokens_per_sec) parts.push(<span class="tps">{s.tokens_per_sec.toFixed(1)} tok/s</span>);
  if (s.ttft_ms !== undefined) parts.push(<span class="ttft">first token {formatMs(s.ttft_ms)}</span>);
  if (s.completion_tokens) parts.push(<span class="tokens">{s.completion_tokens} tokens</span>);
  if (s.finish_reason && s.finish_reason !== "stop") parts.push(<span class="finish">ended: {s.finish_reason}</span>);
  if (parts.length === 0) return null;
  return <p class="msg-stats muted small">{parts.flatMap((p, i) => (i ? [" · ", p] : [p]))}</p>;
}
