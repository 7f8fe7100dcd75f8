import type { ComponentChildren } from "preact";
import { CodeText } from "./Text";

// Empty is what a section shows when it has nothing yet: a title, what to do,
// and the actions that do it.
export function Empty({ title, children, actions, id }: { title: string; children?: ComponentChildren; actions?: ComponentChildren; id?: string }) {
  return (
    <div class="empty" id={id}>
      <p class="empty-title">{title}</p>
      {children && <div class="empty-body">{children}</div>}
      {actions && <div class="actions">{actions}</div>}
    </div>
  );
}

// ErrorState shows an error message (backticked commands as code) and what to
// do about it.
export function ErrorState({ title, message, children, id }: { title: string; message?: string; children?: ComponentChildren; id?: string }) {
  return (
    <div class="error-state" role="alert" id={id}>
      <p class="error-title">{title}</p>
      {message && (
        <p class="error-message">
          <CodeText text={message} />
        </p>
      )}
      {children}
    </div>
  );
}

// Card is one titled section of a page.
export function Card({ title, id, children, class: cls, actions }: { title: string; id?: string; children: ComponentChildren; class?: string; actions?: ComponentChildren }) {
  const h = id ? `${id}-title` : undefined;
  return (
    <section class={`card${cls ? ` ${cls}` : ""}`} id={id} aria-labelledby={h}>
      <div class="card-head">
        <h2 id={h}>{title}</h2>
        {actions && <div class="card-actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}

// Badge is a short state label.
export function Badge({ ok, children }: { ok: boolean | "warn"; children: ComponentChildren }) {
  return <span class={`badge ${ok === "warn" ? "warn" : ok ? "ok" : "bad"}`}>{children}</span>;
}
