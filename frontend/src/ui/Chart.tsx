// Chart is a small live time-series chart over uPlot: the chart is made once
// (and again when the theme or the series change) and later data only calls
// setData, which redraws the canvas without touching the rest of the page.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  color: string; // a CSS variable name ("--chart-1") or a color
  values: (number | null)[];
}

export interface ChartProps {
  title: string;
  id?: string;
  times: number[]; // seconds since the epoch
  series: Series[];
  unit: string; // shown after values ("tok/s", "ms", "%")
  height?: number;
  max?: number; // a fixed top of the y axis (100 for percentages)
}

function cssColor(c: string): string {
  return c.startsWith("--") ? getComputedStyle(document.documentElement).getPropertyValue(c).trim() || "#888" : c;
}

// useScheme is the current prefers-color-scheme, so charts recolor.
function useScheme(): string {
  const q = window.matchMedia("(prefers-color-scheme: dark)");
  const [dark, setDark] = useState(q.matches);
  useEffect(() => {
    const on = () => setDark(q.matches);
    q.addEventListener("change", on);
    return () => q.removeEventListener("change", on);
  }, []);
  return dark ? "dark" : "light";
}

function fmt(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const digits = Math.abs(v) >= 100 ? 0 : 1;
  return `${v.toFixed(digits)} ${unit}`;
}

export function Chart({ title, id, times, series, unit, height = 140, max }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const scheme = useScheme();
  const shape = series.map((s) => s.label).join("|");
  const data = [times, ...series.map((s) => s.values)] as uPlot.AlignedData;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const axis = cssColor("--muted");
    const grid = cssColor("--border");
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: true }, y: { range: (_u, lo, hi) => [Math.min(0, lo), max ?? Math.max(1, hi * 1.15)] } },
      axes: [
        {
          stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: "11px system-ui, sans-serif",
          space: 70, incrs: [1, 5, 10, 15, 30, 60, 120, 300],
          values: (_u, splits) => splits.map((v) => new Date(v * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })),
        },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, size: 48, font: "11px system-ui, sans-serif" },
      ],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: cssColor(s.color), width: 2, spanGaps: true, points: { show: false } }))],
    };
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [scheme, shape, height, max]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  const latest = series.map((s) => `${s.label} ${fmt(s.values[s.values.length - 1], unit)}`).join(", ");
  return (
    <figure class="chart" id={id}>
      <figcaption>
        <span class="chart-title">{title}</span>
        <span class="chart-legend">
          {series.map((s) => (
            <span key={s.label} class="chart-key">
              <span class="swatch" style={{ background: `var(${s.color})` }} aria-hidden="true" />
              {s.label} <strong class="chart-value">{fmt(s.values[s.values.length - 1], unit)}</strong>
            </span>
          ))}
        </span>
      </figcaption>
      <div class="chart-plot" ref={box} role="img" aria-label={`${title}, last two minutes; now ${latest}`} data-points={times.length} />
    </figure>
  );
}
