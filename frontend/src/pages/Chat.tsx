// The Chat page: conversations kept in the store (#/chat/ID; #/chat/new
// starts one), a model picker, replies streamed from /v1/chat/completions
// with a Stop button, reasoning collapsed, tool calls as blocks, speed per
// reply, and per-conversation system prompt, sampling and tools.
import "./chat.css";
import { useEffect, useRef, useState } from "preact/hooks";
import type { PageProps } from "../app";
import type { LocalModel } from "../api";
import { usePool, useStatus } from "../live";
import { Button } from "../ui/Button";
import { Empty, ErrorState } from "../ui/States";
import { flashError } from "../ui/Toast";
import { type Chat as ChatRecord, type ChatMessage, type ChatPatch, type ChatSettings, type ChatSummary, createChat, deleteChat, getChat, listChats, patchChat } from "../chat/api";
import { MessageView } from "../chat/Message";
import { SettingsPanel } from "../chat/Settings";
import { type Reply, request, streamChat } from "../chat/stream";

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export default function Chat({ route }: PageProps) {
  const id = route[0];
  const status = useStatus();
  const pool = usePool();
  const models = (status.value?.models ?? []).filter((m) => m.supported);
  const loaded = (pool.value?.models ?? []).filter((p) => p.state === "loaded").map((p) => p.id);
  const fallback = loaded.find((l) => models.some((m) => m.id === l)) ?? models[0]?.id ?? "";
  const [chats, setChats] = useState<ChatSummary[] | null>(null);
  const [listError, setListError] = useState("");
  const reload = () => listChats().then((r) => {
    setChats(r.chats);
    setListError("");
  }, (err) => setListError(message(err)));
  useEffect(() => {
    void reload();
  }, []);
  const creating = useRef(false);
  useEffect(() => {
    if (id !== "new" || creating.current) return;
    creating.current = true;
    createChat({}).then((c) => {
      location.replace(`#/chat/${encodeURIComponent(c.id)}`);
      void reload();
    }, (err) => setListError(message(err))).finally(() => {
      creating.current = false;
    });
  }, [id]);
  return (
    <div class="chat-page">
      <aside class="chat-list" aria-labelledby="chats-title">
        <div class="chat-list-head">
          <h1 id="chats-title">Chats</h1>
          <Button onClick={() => { location.hash = "#/chat/new"; }}>New chat</Button>
        </div>
        {listError && <ErrorState title="Conversations cannot be read" message={listError} />}
        {chats && chats.length === 0 && <p class="muted small">No conversations yet.</p>}
        {chats && chats.length > 0 && (
          <nav aria-label="Conversations">
            <ul>
              {chats.map((c) => (
                <li key={c.id}>
                  <a href={`#/chat/${encodeURIComponent(c.id)}`} aria-current={c.id === id ? "page" : undefined} data-id={c.id}>
                    <span class="chat-title">{c.title}</span>
                    <span class="muted small">{c.messages} messages</span>
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
      </aside>
      <section class="chat-main" aria-label="Conversation">
        {id && id !== "new"
          ? <Conversation key={id} id={id} models={models} fallback={fallback} onChange={reload} />
          : id === "new"
            ? <p class="loading">Starting a conversation…</p>
            : <Empty title="Pick a conversation or start one" actions={<Button onClick={() => { location.hash = "#/chat/new"; }}>Start a conversation</Button>} />}
        {status.value && models.length === 0 && (
          <Empty title="No model installed" id="no-model">
            Install the demo model from the <a href="#/">Dashboard</a> or download one under <a href="#/models">Models</a>.
          </Empty>
        )}
      </section>
    </div>
  );
}

function Conversation({ id, models, fallback, onChange }: { id: string; models: LocalModel[]; fallback: string; onChange: () => void }) {
  const [chat, setChat] = useState<ChatRecord | null>(null);
  const [error, setError] = useState("");
  const [reply, setReply] = useState<Reply | null>(null);
  const [replyModel, setReplyModel] = useState("");
  const [sendError, setSendError] = useState("");
  const [text, setText] = useState("");
  const ctl = useRef<AbortController | null>(null);
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => {
    getChat(id).then(setChat, (err) => setError(message(err)));
    return () => ctl.current?.abort();
  }, [id]);
  useEffect(() => {
    end.current?.scrollIntoView({ block: "end" });
  }, [chat?.messages.length, reply?.content.length]);
  if (error) return <ErrorState title="This conversation cannot be opened" message={error}><p><a href="#/chat">Back to the conversations</a></p></ErrorState>;
  if (!chat) return <p class="loading">Loading…</p>;

  const model = chat.model || fallback;
  const save = async (p: ChatPatch) => {
    const c = await patchChat(chat.id, p);
    setChat(c);
    onChange();
    return c;
  };
  const send = async (e?: Event) => {
    e?.preventDefault();
    const content = text.trim();
    if (!content || reply) return;
    if (!model) return setSendError("No model to answer: install one under Models first.");
    setSendError("");
    const patch: ChatPatch = { messages: [...chat.messages, { role: "user", content }] };
    if (!chat.model) patch.model = model;
    if (chat.messages.length === 0 && chat.title === "New chat") patch.title = content.slice(0, 60);
    let c: ChatRecord;
    try {
      c = await save(patch);
    } catch (err) {
      return setSendError(message(err));
    }
    setText("");
    await stream(c, model);
  };
  const stream = async (c: ChatRecord, m: string) => {
    const ac = new AbortController();
    ctl.current = ac;
    setReplyModel(m);
    setReply({ content: "", reasoning: "", toolCalls: [], stats: {}, stopped: false });
    try {
      const r = await streamChat(request(m, c.settings, c.messages), ac.signal, setReply);
      const a: ChatMessage = { role: "assistant", content: r.content, model: m, stats: r.stats };
      if (r.reasoning) a.reasoning = r.reasoning;
      if (r.toolCalls.length) a.tool_calls = r.toolCalls;
      if (r.stopped) a.stopped = true;
      await save({ messages: [...c.messages, a] });
    } catch (err) {
      setSendError(message(err));
    } finally {
      ctl.current = null;
      setReply(null);
    }
  };
  const streaming: ChatMessage | null = reply && {
    role: "assistant", content: reply.content, reasoning: reply.reasoning || undefined,
    tool_calls: reply.toolCalls.length ? reply.toolCalls : undefined, model: replyModel,
  };
  return (
    <div class="conversation">
      <ChatHeader chat={chat} onRename={(title) => save({ title })} onDeleted={onChange} />
      <div class="chat-controls">
        <label for="chat-model">Model</label>
        <select id="chat-model" value={model} disabled={!!reply} onChange={(e) => save({ model: (e.target as HTMLSelectElement).value }).catch(flashError)}>
          {!models.some((m) => m.id === model) && <option value={model}>{model || "no model installed"}</option>}
          {models.map((m) => <option key={m.id} value={m.id}>{m.repo || m.id.split("/").pop()}</option>)}
        </select>
        <SettingsPanel settings={chat.settings} onSave={(settings: ChatSettings) => save({ settings })} />
      </div>
      <div class="messages" role="log" aria-live="polite" aria-label="Messages">
        {chat.messages.length === 0 && !reply && <p class="muted">Send a message to start.</p>}
        {chat.messages.map((m, i) => <MessageView key={i} m={m} />)}
        {streaming && <MessageView m={streaming} streaming />}
        <div ref={end} />
      </div>
      {sendError && <ErrorState id="send-error" title="The model could not answer" message={sendError} />}
      <form class="composer" onSubmit={send}>
        <label for="chat-input" class="sr-only">Message</label>
        <textarea id="chat-input" rows={3} value={text} placeholder="Message (Enter sends, Shift+Enter starts a new line)"
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) void send(e);
          }} />
        {reply
          ? <Button kind="danger" onClick={() => ctl.current?.abort()}>Stop</Button>
          : <Button type="submit" disabled={!text.trim()}>Send</Button>}
      </form>
    </div>
  );
}

function ChatHeader({ chat, onRename, onDeleted }: { chat: ChatRecord; onRename: (title: string) => Promise<unknown>; onDeleted: () => void }) {
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(chat.title);
  const [error, setError] = useState("");
  const remove = async () => {
    if (!confirm(`Delete the conversation "${chat.title}"?`)) return;
    try {
      await deleteChat(chat.id);
      onDeleted();
      location.hash = "#/chat";
    } catch (err) {
      flashError(err);
    }
  };
  if (editing) {
    const submit = async (e: Event) => {
      e.preventDefault();
      try {
        await onRename(title.trim());
        setEditing(false);
        setError("");
      } catch (err) {
        setError(message(err));
      }
    };
    return (
      <form class="chat-header" onSubmit={submit}>
        <label for="chat-title-input" class="sr-only">Conversation title</label>
        <input id="chat-title-input" value={title} onInput={(e) => setTitle((e.target as HTMLInputElement).value)} />
        <Button type="submit">Save</Button>
        <Button kind="secondary" onClick={() => setEditing(false)}>Cancel</Button>
        {error && <p class="error" role="alert">{error}</p>}
      </form>
    );
  }
  return (
    <div class="chat-header">
      <h2 id="chat-title">{chat.title}</h2>
      <Button kind="secondary" onClick={() => { setTitle(chat.title); setEditing(true); }}>Rename</Button>
      <Button kind="danger" onClick={remove}>Delete</Button>
    </div>
  );
}
