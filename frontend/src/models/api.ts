// The Models page's API client: Hub search and details, downloads, the
// library, the pool's actions and GGUF import (app/api/library.go, models.go).
import { type LocalModel, type PoolStatus, call } from "../api";

// HubSummary is one search result (store/hub ModelSummary).
export interface HubSummary {
  id: string;
  downloads: number;
  likes: number;
  tags: string[] | null;
  pipeline_tag: string;
  library_name: string;
  private: boolean;
  createdAt: string;
}

// FitResult is "will it fit" with the numbers behind it (store/library).
export interface FitResult {
  verdict: "fits" | "tight" | "wont_fit";
  weights_bytes: number;
  kv_bytes: number;
  need_bytes: number;
  budget_bytes: number;
}

// HubModel is GET /api/hub/model: a repo's size, quantization and fit.
export interface HubModel {
  repo: string;
  commit: string;
  size_bytes: number;
  quantization: { bits?: number; group_size?: number; mode?: string };
  context_tokens: number;
  fit?: FitResult;
  fit_error?: string;
}

// DownloadProgress is one download (store/hub Progress) with its ETA.
export interface DownloadProgress {
  id: string;
  repo: string;
  state: "queued" | "running" | "paused" | "done" | "failed" | "canceled";
  done_bytes: number;
  total_bytes: number;
  bytes_per_sec: number;
  eta_ns: number;
  files_done: number;
  files_total: number;
  error?: string;
}

const dl = (id: string, action: string) =>
  call<{ downloads: DownloadProgress[] }>("POST", `/api/downloads/${encodeURIComponent(id)}/${action}`);

export const searchHub = (q: string, signal?: AbortSignal) =>
  call<{ models: HubSummary[] }>("GET", `/api/hub/search?q=${encodeURIComponent(q)}`, undefined, signal);
export const hubModel = (repo: string, signal?: AbortSignal) =>
  call<HubModel>("GET", `/api/hub/model?repo=${encodeURIComponent(repo)}`, undefined, signal);
export const pull = (repo: string) => call<{ id: string }>("POST", "/api/models/pull", { repo });
export const pauseDownload = (id: string) => dl(id, "pause");
export const resumeDownload = (id: string) => dl(id, "resume");
export const cancelDownload = (id: string) => dl(id, "cancel");
export const listModels = () => call<{ models: LocalModel[] }>("GET", "/api/models");
// deleteModel deletes a Hub model (every snapshot); repo is org/name.
export const deleteModel = (repo: string) =>
  call<{ models: LocalModel[] }>("DELETE", `/api/models/${repo.split("/").map(encodeURIComponent).join("/")}`);
export const importGGUF = (path: string) => call<{ model: LocalModel }>("POST", "/api/models/import", { path });

type PoolAction = "load" | "unload" | "pin" | "unpin";
export const poolAction = (action: PoolAction, model: string) => call<PoolStatus>("POST", `/api/pool/${action}`, { model });
