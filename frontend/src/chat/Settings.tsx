// A conversation's settings: system prompt, sampling and tools.
import { useEffect, useState } from "preact/hooks";
import { Button } from "../ui/Button";
import type { ChatSettings } from "./api";

const num = (v: string) => (v.trim() === "" ? undefined : Number(v));

export function SettingsPanel({ settings, onSave }: { settings: ChatSettings; onSave: (s: ChatSettings) => Promise<unknown> }) {
  const [system, setSystem] = useState("");
  const [temperature, setTemperature] = useState("");
  const [topP, setTopP] = useState("");
  const [maxTokens, setMaxTokens] = useState("");
  const [tools, setTools] = useState("");
  const [choice, setChoice] = useState("auto");
  const [effort, setEffort] = useState("");
  const [error, setError] = useState("");
  useEffect(() => {
    setSystem(settings.system ?? "");
    setTemperature(settings.temperature?.toString() ?? "");
    setTopP(settings.top_p?.toString() ?? "");
    setMaxTokens(settings.max_tokens?.toString() ?? "");
    setTools(settings.tools ? JSON.stringify(settings.tools, null, 2) : "");
    setChoice(typeof settings.tool_choice === "string" ? settings.tool_choice : "auto");
    setEffort(settings.reasoning_effort ?? "");
  }, [settings]);
  const save = async (e: Event) => {
    e.preventDefault();
    setError("");
    const next: ChatSettings = { system: system || undefined, temperature: num(temperature), top_p: num(topP), max_tokens: num(maxTokens), reasoning_effort: effort || undefined };
    for (const [k, v] of Object.entries({ temperature: next.temperature, top_p: next.top_p, max_tokens: next.max_tokens })) {
      if (v !== undefined && Number.isNaN(v)) return setError(`${k} must be a number`);
    }
    if (tools.trim()) {
      try {
        const parsed = JSON.parse(tools) as unknown;
        if (!Array.isArray(parsed)) return setError("Tools must be a JSON array of OpenAI tools");
        next.tools = parsed;
        next.tool_choice = choice;
      } catch (err) {
        return setError(`Tools are not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    try {
      await onSave(next);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <details class="chat-settings">
      <summary>Settings: system prompt, sampling, tools</summary>
      <form onSubmit={save}>
        <label for="chat-system">System prompt</label>
        <textarea id="chat-system" rows={3} value={system} onInput={(e) => setSystem((e.target as HTMLTextAreaElement).value)} />
        <div class="sampling">
          <span>
            <label for="chat-temperature">Temperature</label>
            <input id="chat-temperature" type="number" min={0} max={2} step={0.05} placeholder="default" value={temperature}
              onInput={(e) => setTemperature((e.target as HTMLInputElement).value)} />
          </span>
          <span>
            <label for="chat-top-p">Top P</label>
            <input id="chat-top-p" type="number" min={0} max={1} step={0.05} placeholder="default" value={topP}
              onInput={(e) => setTopP((e.target as HTMLInputElement).value)} />
          </span>
          <span>
            <label for="chat-max-tokens">Max tokens</label>
            <input id="chat-max-tokens" type="number" min={1} step={1} placeholder="default" value={maxTokens}
              onInput={(e) => setMaxTokens((e.target as HTMLInputElement).value)} />
          </span>
          <span>
            <label for="chat-reasoning">Reasoning</label>
            <select id="chat-reasoning" value={effort} onChange={(e) => setEffort((e.target as HTMLSelectElement).value)}>
              <option value="">model default</option>
              <option value="none">off (none)</option>
              <option value="low">low</option>
              <option value="medium">medium</option>
              <option value="high">high</option>
            </select>
          </span>
        </div>
        <label for="chat-tools">Tools (an OpenAI "tools" JSON array; empty for none)</label>
        <textarea id="chat-tools" rows={4} spellcheck={false} class="mono" value={tools} placeholder='[{"type": "function", "function": {"name": "get_weather", "parameters": {...}}}]'
          onInput={(e) => setTools((e.target as HTMLTextAreaElement).value)} />
        <label for="chat-tool-choice">Tool choice</label>
        <select id="chat-tool-choice" value={choice} onChange={(e) => setChoice((e.target as HTMLSelectElement).value)}>
          <option value="auto">auto: the model decides</option>
          <option value="required">required: the model must call a tool</option>
          <option value="none">none: no tool calls</option>
        </select>
        {error && <p class="error" role="alert" id="settings-error">{error}</p>}
        <div class="actions"><Button type="submit">Save settings</Button></div>
      </form>
    </details>
  );
}
