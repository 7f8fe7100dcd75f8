import { formatBytes } from "./format";

export interface Segment {
  label: string;
  bytes: number;
  color: string; // a CSS color (a var(--…))
}

export interface Marker {
  label: string;
  bytes: number;
  kind: "cap" | "limit";
}

// StackedBar shows parts of a whole (memory) as one bar with a legend and
// vertical markers (limits); the figures are also given as text, so the bar
// is decorative for screen readers except its summary.
export function StackedBar({ total, segments, markers = [], label }: { total: number; segments: Segment[]; markers?: Marker[]; label: string }) {
  const pct = (b: number) => `${Math.max(0, Math.min(100, (100 * b) / total))}%`;
  const summary = `${label}: ${segments.map((s) => `${s.label} ${formatBytes(s.bytes)}`).join(", ")} of ${formatBytes(total)}`;
  return (
    <div class="stacked">
      <div class="stacked-bar" role="img" aria-label={summary}>
        {segments.map((s) => (
          <div key={s.label} class="seg" style={{ width: pct(s.bytes), background: s.color }} />
        ))}
        {markers.filter((m) => m.bytes > 0 && m.bytes <= total).map((m) => (
          <div key={m.label} class={`marker ${m.kind}`} style={{ left: pct(m.bytes) }} title={`${m.label}: ${formatBytes(m.bytes)}`} />
        ))}
      </div>
      <ul class="legend">
        {segments.map((s) => (
          <li key={s.label}>
            <span class="swatch" style={{ background: s.color }} aria-hidden="true" />
            {s.label} <strong>{formatBytes(s.bytes)}</strong>
          </li>
        ))}
        {markers.filter((m) => m.bytes > 0).map((m) => (
          <li key={m.label}>
            <span class={`swatch marker-swatch ${m.kind}`} aria-hidden="true" />
            {m.label} <strong>{formatBytes(m.bytes)}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}
