/** The console's build: a static React bundle in dist/, served by the API server on its own port. */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: { proxy: { '/trpc': 'http://127.0.0.1:3000' } },
});
