// CodeText shows a server message with its `backticked` parts as <code>:
// everything stays text, nothing is parsed as HTML.
export function CodeText({ text }: { text: string }) {
  return <>{text.split("`").map((part, i) => (i % 2 === 1 ? <code key={i}>{part}</code> : part))}</>;
}
