// The Chat page's conversations (app/api/chats.go, store/chats.go).
import { call } from "../api";

export interface ChatSettings {
  system?: string;
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  reasoning_effort?: string;
  tools?: unknown[];
  tool_choice?: unknown;
}

// ToolCall is an OpenAI tool call of an assistant message.
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ChatStats {
  prompt_tokens?: number;
  completion_tokens?: number;
  ttft_ms?: number;
  tokens_per_sec?: number;
  finish_reason?: string;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  reasoning?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  model?: string;
  stats?: ChatStats;
  stopped?: boolean;
  created_at?: string;
}

export interface Chat {
  id: string;
  title: string;
  model: string;
  settings: ChatSettings;
  messages: ChatMessage[];
  created_at: string;
  updated_at: string;
}

export interface ChatSummary {
  id: string;
  title: string;
  model: string;
  messages: number;
  updated_at: string;
}

export interface ChatPatch {
  title?: string;
  model?: string;
  settings?: ChatSettings;
  messages?: ChatMessage[];
}

const path = (id: string) => `/api/chats/${encodeURIComponent(id)}`;

export const listChats = () => call<{ chats: ChatSummary[] }>("GET", "/api/chats");
export const createChat = (p: ChatPatch) => call<Chat>("POST", "/api/chats", p);
export const getChat = (id: string) => call<Chat>("GET", path(id));
export const patchChat = (id: string, p: ChatPatch) => call<Chat>("PATCH", path(id), p);
export const deleteChat = (id: string) => call<{ chats: ChatSummary[] }>("DELETE", path(id));
