// Markdown of model output, which is untrusted: marked renders it, DOMPurify
// removes everything that could run or load (scripts, event handlers,
// javascript: URLs, forms, frames, styles, images), and links open in a new
// browsing context without access to this page.
import DOMPurify from "dompurify";
import { Marked } from "marked";

const marked = new Marked({ gfm: true, breaks: true, async: false });

const purify = DOMPurify(window);
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const href = node.getAttribute("href") ?? "";
    if (!/^(https?:|mailto:)/i.test(href)) {
      // Relative and fragment links would navigate the app itself.
      node.removeAttribute("href");
    } else {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  }
});

const config = {
  FORBID_TAGS: ["img", "picture", "source", "video", "audio", "iframe", "frame", "object", "embed", "form", "input", "button", "textarea", "select", "style", "link", "meta", "base", "svg", "math"],
  FORBID_ATTR: ["style", "srcset", "formaction", "action", "xlink:href"],
  ALLOW_DATA_ATTR: false,
};

// renderMarkdown returns sanitized HTML for text.
export function renderMarkdown(text: string): string {
  const html = marked.parse(text) as string;
  return purify.sanitize(html, config) as unknown as string;
}
