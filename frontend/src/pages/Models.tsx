import type { PageProps } from "../app";

export default function Models(_props: PageProps) {
  return <p class="loading">The Models page is being built.</p>;
}
