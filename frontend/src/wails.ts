// The Wails runtime and bindings, present only inside the LMX window
// (Wails injects window.runtime and window.go into the page).

interface WailsRuntime {
  EventsOn(name: string, callback: (...data: unknown[]) => void): () => void;
  ClipboardSetText(text: string): Promise<boolean>;
}

interface Bindings {
  OpenInBrowser(): Promise<void>;
}

declare global {
  interface Window {
    runtime?: WailsRuntime;
    go?: { app?: { Bindings?: Bindings } };
  }
}

// inWindow reports whether the page runs inside the LMX window.
export function inWindow(): boolean {
  return window.runtime !== undefined;
}

// onWindowEvent subscribes to an event the app emits with runtime.EventsEmit
// and returns the unsubscribe function (a no-op outside the window).
export function onWindowEvent<T>(name: string, fn: (data: T) => void): () => void {
  const off = window.runtime?.EventsOn(name, (data) => fn(data as T));
  return typeof off === "function" ? off : () => {};
}

// openInBrowser opens the dashboard in the default browser (window only).
export function openInBrowser(): Promise<void> {
  return window.go?.app?.Bindings?.OpenInBrowser() ?? Promise.resolve();
}

// copyText copies text through Wails inside the window, else the browser.
export async function copyText(text: string): Promise<void> {
  if (window.runtime) {
    await window.runtime.ClipboardSetText(text);
    return;
  }
  await navigator.clipboard.writeText(text);
}
