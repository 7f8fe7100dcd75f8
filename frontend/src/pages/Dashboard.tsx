import type { PageProps } from "../app";

export default function Dashboard(_props: PageProps) {
  return <p class="loading">Loading status…</p>;
}
