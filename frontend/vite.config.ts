import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// `npm run dev` serves the UI with hot reload and forwards the API to a
// running `lmx serve` (default port 1235; override with LMX_URL).
const backend = process.env.LMX_URL ?? "http://127.0.0.1:1235";

export default defineConfig({
  plugins: [preact()],
  // public/.gitkeep is copied into dist/ so the committed placeholder that
  // lets a fresh clone compile (main.go embeds dist/) survives a build.
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: {
    proxy: {
      "/api": { target: backend, changeOrigin: true },
      "/v1": { target: backend, changeOrigin: true },
    },
  },
});
