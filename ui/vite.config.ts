import { defineConfig } from "vitest/config";

// React without @vitejs/plugin-react: esbuild compiles JSX with the automatic
// runtime. Tauri serves the built files from ui/dist.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { outDir: "dist", target: "safari15", emptyOutDir: true },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
