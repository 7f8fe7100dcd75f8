import { copyText } from "../wails";
import { Button } from "./Button";
import { flash } from "./Toast";

// CopyButton copies text and says so; label names what it copies for
// screen readers ("Copy endpoint URL").
export function CopyButton({ text, label, what }: { text: string; label?: string; what: string }) {
  return (
    <Button
      kind="secondary"
      class="copy"
      aria-label={label ?? `Copy ${what}`}
      onClick={() =>
        copyText(text).then(
          () => flash(`${what[0].toUpperCase()}${what.slice(1)} copied`),
          () => flash("Copying failed: select the text and copy it with ⌘C / Ctrl+C", true),
        )
      }
    >
      Copy
    </Button>
  );
}
