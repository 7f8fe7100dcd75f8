import type { PageProps } from "../app";

export default function Settings(_props: PageProps) {
  return <p class="loading">The Settings page is being built.</p>;
}
