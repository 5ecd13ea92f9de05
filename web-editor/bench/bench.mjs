// The editor's numbers in Chromium (BENCHMARKS.md): check() p50/p99 on the example
// and on a large values file, the first check's time, keystroke-to-marker latency,
// and the gzipped .wasm size. Served cross-origin isolated, so performance.now()
// resolves to microseconds rather than 0.1 ms.
//
//   node web-editor/bench/bench.mjs     (after scripts/build-editor.sh)
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { CHROMIUM, serve } from "../tests/serve.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dist = join(root, "web-editor", "dist");
const example = readFileSync(join(root, "examples", "values.yaml"), "utf8");
// A large file: the example, every PostgreSQL parameter the tests use, and 2,000
// commented lines (about 150 KB), all valid.
const large =
  example.replace("postgres:\n", "postgres:\n  parameters:\n" +
    ["work_mem: 8MB", "shared_buffers: 512MB", "max_connections: 200",
     "log_min_duration_statement: 500ms", "effective_cache_size: 1GB",
     "maintenance_work_mem: 128MB", "random_page_cost: 1.1", "checkpoint_timeout: 15min"]
      .map((p) => `    ${p}\n`).join("")) +
  Array.from({ length: 2000 }, (_, i) => `# ${i}: a comment line of some length to pad the file out\n`).join("");
const RUNS = 2000;

const { server, url } = await serve(dist, { isolated: true });
const browser = await chromium.launch(CHROMIUM);
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
  const isolated = await page.evaluate(() => crossOriginIsolated);
  const firstCallMs = await page.evaluate(() => window.__bench.firstCallMs);
  const stats = async (text) =>
    page.evaluate(
      ({ text, runs }) => {
        const times = [];
        for (let i = 0; i < runs; i++) {
          const t = performance.now();
          window.__bench.check(text);
          times.push(performance.now() - t);
        }
        times.sort((a, b) => a - b);
        const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
        return { p50: at(0.5), p99: at(0.99), errors: window.__bench.check(text).filter((d) => d.severity === "error").length };
      },
      { text, runs: RUNS },
    );
  const small = await stats(example);
  const big = await stats(large);
  // Keystroke to marker: an edit that makes an error, until its underline is drawn.
  const latencies = [];
  for (let i = 0; i < 30; i++) {
    latencies.push(
      await page.evaluate(async (even) => {
        const { view } = window.__editor;
        const text = view.state.doc.toString();
        const at = text.indexOf("replicas: ", text.indexOf("etcd:")) + "replicas: ".length;
        const started = performance.now();
        view.dispatch({ changes: { from: at, to: at + 1, insert: even ? "4" : "3" } });
        const want = even ? 1 : 0;
        while (document.querySelectorAll(".cm-lintRange-error").length !== want) {
          await new Promise((r) => requestAnimationFrame(r));
        }
        return performance.now() - started;
      }, i % 2 === 0),
    );
  }
  latencies.sort((a, b) => a - b);
  const wasm = readFileSync(join(dist, "postgres_ha_wasm_bg.wasm"));
  const ms = (v) => `${v.toFixed(3)} ms`;
  console.log(`chromium cross-origin isolated: ${isolated}`);
  console.log(`check() on the example (${example.length} B): p50 ${ms(small.p50)}, p99 ${ms(small.p99)} (${RUNS} runs)`);
  console.log(`check() on a large file (${large.length} B, ${big.errors} errors): p50 ${ms(big.p50)}, p99 ${ms(big.p99)}`);
  console.log(`first call after load (render, which checks): ${ms(firstCallMs)}`);
  console.log(`keystroke to marker: median ${ms(latencies[15])}, max ${ms(latencies.at(-1))} (30 edits)`);
  console.log(`wasm: ${wasm.length} B, ${gzipSync(wasm, { level: 9 }).length} B gzipped`);
} finally {
  await browser.close();
  server.close();
}
