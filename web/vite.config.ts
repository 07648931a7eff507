// Builds the app into static files (index.html, hashed assets) that the entry point serves; no
// file is fetched from elsewhere at run time (the proxy's CSP allows this origin only).
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  build: { sourcemap: true, assetsInlineLimit: 0 },
});
