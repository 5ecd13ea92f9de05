// The WASM build answers as the CLI does: the same diagnostics (codes, messages,
// paths, positions in each encoding) for every fixture, the same schema, codes and
// version; plain objects with null, never undefined; misuse throws, bad values don't.
//
// Run by scripts/test.sh after scripts/build-wasm.sh and the CLI's build:
//   node --test wasm/tests/
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { initSync, ValuesEditor } from "../pkg/postgres_ha_wasm.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
// The browser's own build, instantiated from its file.
initSync({ module: readFileSync(join(root, "wasm", "pkg", "postgres_ha_wasm_bg.wasm")) });
const cliPath = process.env.CPLN_POSTGRES_HA ?? join(root, "target", "debug", "cpln-postgres-ha");
const ENCODINGS = ["utf16", "utf8", "scalar"];

function cli(args) {
  const out = spawnSync(cliPath, args, { encoding: "utf8", timeout: 60_000 });
  assert.ok(out.status !== null && out.status <= 1, `${args.join(" ")}: ${out.stderr}`);
  return out.stdout;
}

// The CLI's JSON diagnostic, with JavaScript's field names.
function camel(d) {
  const { end_line: endLine, end_column: endColumn, ...rest } = d;
  return { ...rest, endLine, endColumn };
}

function cliDiagnostics(file, encoding) {
  const report = JSON.parse(
    cli(["validate", "-o", "json", "--position-encoding", encoding, file]),
  );
  return report.files[0].diagnostics.map(camel);
}

// Files with text before the finding whose lengths differ by encoding: "ç" is 2 UTF-8
// bytes and 1 UTF-16 unit, "😀" 4 bytes and 2 units.
const INLINE = {
  "wide-before-even-etcd.yaml": "# ç😀\netcd: {\"ç😀\": 1, replicas: 4}\n",
  "wide-comment-then-syntax.yaml": "replicas: 3 # ç😀 😀\npostgres: {database: [\n",
  "wide-key-unknown.yaml": "postgres:\n  database: \"ç😀ç\"\n  sizé😀: 1\n",
  "wide-secret-before-error.yaml":
    "postgres:\n  password: \"ç😀-Secret-Value-Long-99\"\n  port: ç😀\netcd: {replicas: 2}\n",
  "crlf-and-tabs.yaml": "replicas: 2\r\netcd:\r\n\treplicas: 3\r\n",
};

function fixtures() {
  const dir = mkdtempSync(join(tmpdir(), "wasm-contract-"));
  const files = [];
  const values = join(root, "tests", "fixtures", "values");
  for (const name of readdirSync(values).sort()) files.push(join(values, name));
  files.push(join(root, "examples", "values.yaml"));
  const template = join(root, "..", "shared", "fixtures", "template-values");
  for (const name of readdirSync(template).sort()) files.push(join(template, name));
  for (const [name, text] of Object.entries(INLINE)) {
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
  }
  return files;
}

// Every value reachable from `value`, with its path.
function* walk(value, path = "$") {
  yield [path, value];
  if (value !== null && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) yield* walk(inner, `${path}.${key}`);
  }
}

function assertPlain(value) {
  for (const [path, inner] of walk(value)) {
    assert.notEqual(inner, undefined, `${path} is undefined`);
    if (inner !== null && typeof inner === "object") {
      const proto = Object.getPrototypeOf(inner);
      assert.ok(proto === Object.prototype || proto === Array.prototype, `${path} is not plain`);
    }
  }
}

test("every fixture gets the CLI's diagnostics in every encoding", () => {
  const files = fixtures();
  assert.ok(files.length > 50, `only ${files.length} fixtures`);
  let findings = 0;
  for (const encoding of ENCODINGS) {
    const editor = new ValuesEditor(encoding);
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      const got = editor.check(text);
      assertPlain(got);
      assert.deepEqual(got, cliDiagnostics(file, encoding), `${file} (${encoding})`);
      findings += got.length;
    }
  }
  assert.ok(findings > 100, `only ${findings} diagnostics compared`);
});

test("the wide characters move columns as each encoding counts them", () => {
  const text = INLINE["wide-before-even-etcd.yaml"];
  const column = (encoding) =>
    new ValuesEditor(encoding).check(text).find((d) => d.code === "R003").column;
  // Before the value: `etcd: {"` (8), "ç😀", `": 1, replicas: ` (16).
  assert.equal(column("scalar"), 1 + 8 + 2 + 16);
  assert.equal(column("utf16"), 1 + 8 + 3 + 16);
  assert.equal(column("utf8"), 1 + 8 + 6 + 16);
  // UTF-16 columns index JavaScript strings directly.
  const line = text.split("\n")[1];
  assert.equal(line.slice(column("utf16") - 1, column("utf16")), "4");
});

test("misuse throws; bad values come back as diagnostics", () => {
  assert.throws(() => new ValuesEditor("utf32"), /unknown position encoding `utf32`/);
  assert.throws(() => new ValuesEditor(), /encoding must be a string/);
  const editor = new ValuesEditor("utf16");
  assert.throws(() => editor.check(42), /text must be a string/);
  assert.throws(() => editor.check(), /text must be a string/);
  assert.throws(() => editor.render("replicas: 3\n", 7, "prod"), /name must be a string/);
  assert.throws(() => editor.explain({}), /code must be a string/);
  assert.throws(() => editor.render("replicas: 3\n", "Not A Name", "prod"), /release/);
  const hostile = [
    "",
    "\uD800",
    "\u0000",
    "[".repeat(100_000),
    "a: &x [*x]\n",
    "x".repeat(1024 * 1024 + 1),
    "- ".repeat(50_000),
    "{".repeat(5000) + "}".repeat(5000),
    "\uFEFFreplicas: 3\n",
  ];
  for (const text of hostile) {
    const got = editor.check(text);
    assert.ok(Array.isArray(got), JSON.stringify(text.slice(0, 20)));
    assertPlain(got);
  }
  assert.deepEqual(
    editor.check("x".repeat(1024 * 1024 + 1)).map((d) => d.code),
    ["Y004"],
  );
  // Still answering after all of that.
  assert.deepEqual(editor.check(readFileSync(join(root, "examples", "values.yaml"), "utf8")).filter(
    (d) => d.severity === "error",
  ), []);
});

test("render previews the release with every secret's data hidden", () => {
  const editor = new ValuesEditor("utf16");
  const text = readFileSync(join(root, "examples", "values.yaml"), "utf8");
  const out = editor.render(text, "db", "prod");
  assertPlain(out);
  const workloads = out.manifests.filter((r) => r.kind === "workload");
  assert.deepEqual(
    workloads.filter((w) => w.spec.type === "stateful").length,
    2,
    "PostgreSQL and etcd run as stateful workloads",
  );
  for (const secret of out.manifests.filter((r) => r.kind === "secret" && r.type === "dictionary")) {
    for (const value of Object.values(secret.data)) assert.equal(value, "<hidden>");
  }
  const password = /password:\s*"?([^"\n]+)"?/.exec(text)[1];
  assert.ok(!out.yaml.includes(password) && !JSON.stringify(out.manifests).includes(password));
  assert.ok(out.yaml.startsWith("---\n"));
  const broken = editor.render("etcd: {replicas: 2}\n", "db", "prod");
  assert.equal(broken.manifests, null);
  assert.equal(broken.yaml, null);
  assert.ok(broken.diagnostics.some((d) => d.code === "R003"));
});

test("schema, defaults, codes and version are the CLI's", () => {
  const editor = new ValuesEditor("utf8");
  assert.deepEqual(editor.schema(), JSON.parse(cli(["schema"])));
  const defaults = editor.defaults();
  assertPlain(defaults);
  assert.equal(defaults.replicas, 3);
  // Every default key is one the schema knows.
  const unknown = editor.check(JSON.stringify(defaults)).filter((d) => d.code === "S002");
  assert.deepEqual(unknown, []);
  const listed = cli(["explain", "--all"]).trim().split("\n");
  assert.ok(listed.length > 30);
  for (const line of listed) {
    const code = line.split(/\s+/)[0];
    const explained = editor.explain(code);
    assertPlain(explained);
    assert.equal(explained.code, code);
    assert.ok(line.endsWith(explained.summary), line);
    assert.deepEqual(editor.explain(explained.name), explained);
    assert.ok(cli(["explain", code]).includes(explained.documentation.trim()));
  }
  assert.equal(editor.explain("Z999"), null);
  assert.equal(`cpln-postgres-ha ${editor.version()}`, cli(["--version"]).trim());
});
