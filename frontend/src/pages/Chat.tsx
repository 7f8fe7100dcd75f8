import type { PageProps } from "../app";

export default function Chat(_props: PageProps) {
  return <p class="loading">The Chat page is being built.</p>;
}
