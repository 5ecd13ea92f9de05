// A static server for the built editor on 127.0.0.1 (a free port), for the browser
// tests and the benchmark. Serves only the files directly in `dir`.
import { createServer } from "node:http";
import { readFile, readdir } from "node:fs/promises";
import { extname, join } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".yaml": "text/yaml; charset=utf-8",
  ".json": "application/json",
};

// `isolated` adds the headers that make the page cross-origin isolated (finer timers).
export async function serve(dir, { isolated = false } = {}) {
  const names = new Set(await readdir(dir));
  const server = createServer(async (request, response) => {
    const path = new URL(request.url, "http://127.0.0.1").pathname;
    const name = path === "/" ? "index.html" : path.slice(1);
    if (!names.has(name)) {
      response.writeHead(404).end();
      return;
    }
    const body = await readFile(join(dir, name));
    const headers = { "Content-Type": TYPES[extname(name)] ?? "application/octet-stream" };
    if (isolated) {
      headers["Cross-Origin-Opener-Policy"] = "same-origin";
      headers["Cross-Origin-Embedder-Policy"] = "require-corp";
    }
    response.writeHead(200, headers).end(body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

// Debian's Chromium as root: no sandbox, and none of its background connections
// (this machine's network is closed).
export const CHROMIUM = {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};
