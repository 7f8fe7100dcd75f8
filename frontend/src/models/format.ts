// Formatting of the Models page's facts.
import type { LocalModel } from "../api";
import type { FitResult } from "./api";

// quantLabel renders a quantization as "4-bit", or "unquantized".
export function quantLabel(q: { bits?: number; group_size?: number } | undefined): string {
  return q?.bits ? `${q.bits}-bit${q.group_size ? ` g${q.group_size}` : ""}` : "unquantized";
}

// formatETA renders nanoseconds left as "12 s", "3 min 5 s", "1 h 2 min".
export function formatETA(ns: number): string {
  if (ns < 0) return "unknown";
  const s = Math.round(ns / 1e9);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// formatCount renders a download count as 1.2k, 3.4M.
export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

// formatParams renders a parameter count as 135M, 0.6B.
export function formatParams(n: number): string {
  if (!n) return "";
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B params`;
  return n >= 1e6 ? `${Math.round(n / 1e6)}M params` : `${Math.round(n / 1e3)}K params`;
}

// fitLabel is the verdict in words.
export function fitLabel(f: FitResult): string {
  return { fits: "Fits", tight: "Tight fit", wont_fit: "Won't fit" }[f.verdict];
}

// modelName is what a model is shown as: its repo, else its folder's name.
export function modelName(m: LocalModel): string {
  return m.repo || m.path.split("/").filter(Boolean).pop() || m.id;
}
