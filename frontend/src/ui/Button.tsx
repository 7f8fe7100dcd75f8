import type { ButtonHTMLAttributes, ComponentChildren } from "preact";
import { useState } from "preact/hooks";

type Kind = "primary" | "secondary" | "danger" | "ghost";

export interface ButtonProps extends Omit<ButtonHTMLAttributes<HTMLButtonElement>, "onClick" | "type" | "children"> {
  kind?: Kind;
  type?: "button" | "submit";
  // onClick may return a promise: the button is busy (disabled, aria-busy)
  // until it settles.
  onClick?: (e: MouseEvent) => unknown;
  children: ComponentChildren;
}

// Button is a button whose async action disables it while it runs.
export function Button({ kind = "primary", type = "button", onClick, children, disabled, class: cls, ...rest }: ButtonProps) {
  const [busy, setBusy] = useState(false);
  const click = (e: MouseEvent) => {
    const r = onClick?.(e);
    if (r instanceof Promise) {
      setBusy(true);
      r.finally(() => setBusy(false));
    }
  };
  return (
    <button type={type} class={`btn ${kind}${cls ? ` ${cls}` : ""}`} disabled={disabled || busy} aria-busy={busy || undefined} onClick={click} {...rest}>
      {children}
    </button>
  );
}
