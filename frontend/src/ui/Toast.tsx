// A toast (flash message) shown at the bottom of the window and announced to
// screen readers; flash() shows one from anywhere.
import { useEffect, useState } from "preact/hooks";

type Flash = { text: string; error: boolean; id: number };
let listener: ((f: Flash) => void) | undefined;
let next = 0;

// flash shows text for a few seconds (errors stay longer).
export function flash(text: string, error = false): void {
  listener?.({ text, error, id: ++next });
}

// flashError shows an error's message.
export function flashError(err: unknown): void {
  flash(err instanceof Error ? err.message : String(err), true);
}

export function Toasts() {
  const [items, setItems] = useState<Flash[]>([]);
  useEffect(() => {
    listener = (f) => {
      setItems((xs) => [...xs.slice(-2), f]);
      window.setTimeout(() => setItems((xs) => xs.filter((x) => x.id !== f.id)), f.error ? 10000 : 3500);
    };
    return () => {
      listener = undefined;
    };
  }, []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {items.map((f) => (
        <div key={f.id} class={f.error ? "toast error-toast" : "toast"}>
          {f.text}
          <button type="button" class="toast-close" aria-label="Dismiss" onClick={() => setItems((xs) => xs.filter((x) => x.id !== f.id))}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
