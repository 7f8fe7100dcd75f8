// The UI's shell: the header with the page links and the hash router. Pages
// are Preact components in src/pages/, each given the route's parts after
// its own name (#/chat/abc → ["abc"]).
import { useEffect, useState } from "preact/hooks";
import Dashboard from "./pages/Dashboard";
import Models from "./pages/Models";
import Chat from "./pages/Chat";
import Settings from "./pages/Settings";

export interface PageProps {
  route: string[];
}

const pages = [
  { path: "", title: "Dashboard", component: Dashboard },
  { path: "models", title: "Models", component: Models },
  { path: "chat", title: "Chat", component: Chat },
  { path: "settings", title: "Settings", component: Settings },
] as const;

// parseHash splits "#/chat/abc" into ["chat", "abc"].
export function parseHash(hash: string): string[] {
  return hash.replace(/^#\/?/, "").split("/").filter((p) => p !== "").map(decodeURIComponent);
}

function useRoute(): string[] {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

export function App() {
  const route = useRoute();
  const page = pages.find((p) => p.path === (route[0] ?? "")) ?? pages[0];
  const Page = page.component;
  useEffect(() => {
    document.title = page.path === "" ? "LMX" : `${page.title} · LMX`;
  }, [page]);
  return (
    <>
      <header class="top">
        <span class="brand">LMX</span>
        <nav aria-label="Pages">
          {pages.map((p) => (
            <a href={`#/${p.path}`} class={p === page ? "active" : undefined} aria-current={p === page ? "page" : undefined}>
              {p.title}
            </a>
          ))}
        </nav>
      </header>
      <main id="app">
        <Page route={page.path === "" ? route : route.slice(1)} />
      </main>
    </>
  );
}
