// Builds the static site into dist/: the bundled app, the page, the example values
// as the starting text, and the WASM package (loaded at run time, not bundled).
import { build } from "esbuild";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const pkg = process.env.WASM_PKG ?? join(here, "..", "wasm", "pkg"); // override for trying the build
const WASM_FILES = ["postgres_ha_wasm.js", "postgres_ha_wasm_bg.wasm"];

const missing = WASM_FILES.filter((f) => !existsSync(join(pkg, f)));
if (missing.length) {
  console.error(`web-editor: ${missing.map((f) => join(pkg, f)).join(", ")} missing; build it first with scripts/build-wasm.sh`);
  process.exit(1);
}

await rm(dist, { recursive: true, force: true });
await mkdir(dist);

const result = await build({
  entryPoints: [join(here, "src", "main.js")],
  outfile: join(dist, "app.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  // Beside app.js in dist/, fetched by the browser at run time.
  external: ["./postgres_ha_wasm.js"],
  metafile: true,
  legalComments: "none", // the licences go to THIRD-PARTY-LICENSES.txt instead
  logLevel: "warning",
});

// The licence of every npm package that ended up in app.js.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) packages.add(m[1]);
}
const notices = [];
for (const name of [...packages].sort()) {
  const dir = join(here, "node_modules", name);
  const { version, license } = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  const file = ["LICENSE", "LICENSE.md", "LICENSE.txt", "license"].map((f) => join(dir, f)).find(existsSync);
  notices.push(`${name} ${version} (${license})\n\n${file ? (await readFile(file, "utf8")).trim() : "(no licence file)"}\n`);
}
await writeFile(join(dist, "THIRD-PARTY-LICENSES.txt"), notices.join("\n" + "-".repeat(72) + "\n\n"));

await copyFile(join(here, "index.html"), join(dist, "index.html"));
await copyFile(join(here, "style.css"), join(dist, "style.css"));
await copyFile(join(here, "..", "examples", "values.yaml"), join(dist, "example-values.yaml"));
for (const f of WASM_FILES) await copyFile(join(pkg, f), join(dist, f));

console.log(`web-editor: built ${dist} (${packages.size} bundled packages)`);
