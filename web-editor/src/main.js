// Wires the page together: loads the values (edit server, share link or example),
// the WASM core, and re-checks everything shortly after each edit.
import { createChanges } from "./changes.js";
import { createEditor, goTo, showDiagnostics } from "./editor.js";
import { createForm } from "./form.js";
import { createPreview, download } from "./preview.js";
import { showProblems } from "./problems.js";
import { Schema } from "./schema.js";
import { sharedParam, decode, shareLink, withoutPasswords } from "./share.js";
import { topologySvg } from "./topology.js";
import { data, merge, parse } from "./values.js";

const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 25; // check() takes well under a millisecond: re-check almost at once
// `cpln-postgres-ha edit FILE` trades its one-time link for a session cookie and
// sends the page to `/?edit`: the file API then answers this page alone.
const editing = new URLSearchParams(location.search).has("edit");
const apiUrl = "/api/file";

// --- status messages (role=status, so screen readers announce them) -------------
function report(message, kind = "info") {
  const el = $("status");
  el.textContent = message;
  el.dataset.kind = kind;
}

// --- theme: the stored choice, else the system's preference ---------------------
const THEME_KEY = "postgres-ha-theme";
const darkQuery = matchMedia("(prefers-color-scheme: dark)");
let chosenTheme = null;
try {
  chosenTheme = localStorage.getItem(THEME_KEY);
} catch {
  // storage blocked: follow the system
}
const isDark = () => (chosenTheme ?? (darkQuery.matches ? "dark" : "light")) === "dark";
function applyTheme() {
  const dark = isDark();
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  $("theme").setAttribute("aria-pressed", String(dark));
  editor?.setDark(dark);
}
let editor = null;
applyTheme();
darkQuery.addEventListener("change", applyTheme);
$("theme").addEventListener("click", () => {
  chosenTheme = isDark() ? "light" : "dark";
  try {
    localStorage.setItem(THEME_KEY, chosenTheme);
  } catch {
    // kept for this page only
  }
  applyTheme();
});

// --- the editor and the panels ----------------------------------------------------
let core = null; // the WASM ValuesEditor
let defaults = null;
let schema = null;
let form = null;
let changesView = null;
let timer = 0;
let checks = 0;
let savedText = null;
let savedVersion = null; // the file as loaded or last saved: a save never overwrites a change on disk
const explained = new Map();
const explain = (code) => {
  if (!explained.has(code)) explained.set(code, core?.explain(code) ?? null);
  return explained.get(code);
};

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(refresh, DEBOUNCE_MS);
}

editor = createEditor({
  parent: $("editor"),
  dark: isDark(),
  onChange: schedule,
  getSchema: () => schema,
});
const { view } = editor;

const preview = createPreview({
  els: {
    name: $("release-name"), gvc: $("release-gvc"), error: $("render-error"), yaml: $("preview-yaml"),
    copy: $("copy-manifests"), download: $("download-manifests"), cli: $("cli-command"),
  },
  onRelease: schedule,
  report,
});

/** One pass: diagnostics, problems, form, manifests, topology, changes. */
function refresh() {
  clearTimeout(timer);
  if (!core) return;
  const text = editor.getText();
  const started = performance.now();
  // A render checks the values and returns their diagnostics: one pass, not two. Only
  // a release name render refuses leaves the check to do on its own.
  const rendered = preview.update(core, text);
  const diagnostics = rendered?.diagnostics ?? core.check(text);
  if (window.__bench.firstCallMs === null) window.__bench.firstCallMs = performance.now() - started;
  showDiagnostics(view, diagnostics);
  showProblems($("problems"), $("problem-count"), diagnostics, {
    pick: (d) => goTo(view, d.line, d.column),
    explain,
  });
  const doc = parse(text);
  form.update(doc);
  changesView.update(doc);
  const values = data(doc);
  if (values !== null) {
    const { name, gvc } = preview.release();
    $("topology").innerHTML = topologySvg(merge(defaults, values), name || "NAME", gvc || "GVC", schema);
  }
  if (editing) $("save").dataset.dirty = String(text !== savedText);
  document.body.dataset.checks = String(++checks);
}

// --- show passwords ---------------------------------------------------------------
$("show-passwords").addEventListener("change", (e) => {
  const show = e.target.checked;
  editor.setShowPasswords(show);
  form?.setShowPasswords(show);
  changesView?.setShowPasswords(show);
});

// --- download, share ------------------------------------------------------------------
let filePath = null;
$("download-values").addEventListener("click", () => {
  download(editor.getText(), filePath ? filePath.split(/[\\/]/).pop() : "values.yaml");
});

$("share").addEventListener("click", async () => {
  const text = withoutPasswords(editor.getText());
  if (text === null) {
    report("Fix the YAML syntax first: passwords cannot be removed safely from text that does not parse.", "error");
    return;
  }
  // What core would still hide (a misspelt password key, a token, a comment naming
  // one) stays out of links too: the same verdict as everywhere else.
  const left = core?.secrets(text) ?? [{ line: 1 }];
  if (left.length) {
    report(`Not shared: line ${left[0].line} holds what looks like a secret; remove it first.`, "error");
    return;
  }
  try {
    const link = await shareLink(text);
    const input = $("share-link");
    input.value = link;
    input.hidden = false;
    $("share-link-label").hidden = false;
    input.focus();
    input.select();
    try {
      await navigator.clipboard.writeText(link);
      report("Share link copied. Passwords are left out; the values travel only in the link.");
    } catch {
      report("Share link ready (copy it from the box). Passwords are left out.");
    }
  } catch (e) {
    report(`Could not make a share link: ${e.message}`, "error");
  }
});

// --- saving, when served by `cpln-postgres-ha edit FILE` --------------------------
async function save() {
  const text = editor.getText();
  report("Saving…");
  try {
    const res = await fetch(apiUrl, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text, version: savedVersion }),
    });
    const body = await res.json().catch(() => ({}));
    if (res.ok && body.saved) {
      savedText = text;
      savedVersion = body.version;
      $("save").dataset.dirty = String(editor.getText() !== savedText);
      report(`Saved ${filePath ?? ""}${body.backup ? ` (previous version kept as ${body.backup})` : ""}.`, "ok");
    } else {
      report(`Could not save: ${body.error ?? `${res.status} ${res.statusText}`}`, "error");
    }
  } catch (e) {
    report(`Could not save: ${e.message}`, "error");
  }
}

$("settings").addEventListener("submit", (e) => e.preventDefault()); // Enter in a field

if (editing) {
  $("save").hidden = false;
  $("save-note").hidden = false;
  $("save").addEventListener("click", save);
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s") {
      e.preventDefault();
      if (!$("save").disabled) save();
    }
  });
  addEventListener("beforeunload", (e) => {
    if (savedText !== null && editor.getText() !== savedText) e.preventDefault();
  });
}

// --- start-up ---------------------------------------------------------------------
async function initialText(limit) {
  if (editing) {
    const res = await fetch(apiUrl);
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
    filePath = body.path;
    $("file-path").textContent = body.path;
    $("file-path").hidden = false;
    document.title = `${body.path} · postgres-ha`;
    savedText = body.text;
    savedVersion = body.version;
    return body.text;
  }
  const shared = sharedParam();
  if (shared) {
    try {
      const text = await decode(shared, limit);
      report("Loaded values from the share link (passwords were left out of it).");
      return text;
    } catch {
      report("The share link could not be read; showing the example instead.", "error");
    }
  }
  const res = await fetch("./example-values.yaml");
  return res.ok ? res.text() : "";
}

async function loadCore() {
  const wasm = await import("./postgres_ha_wasm.js");
  await wasm.default(); // finds postgres_ha_wasm_bg.wasm beside its JS file
  return new wasm.ValuesEditor("utf16");
}

window.__editor = { view, getText: () => editor.getText(), setText: (t) => editor.setText(t) };
window.__bench = { check: (t) => core.check(t), render: (t, n, g) => core.render(t, n, g), firstCallMs: null };

// The core first: it knows how large a values file (and so a share link) may be.
const [loaded] = await Promise.allSettled([loadCore()]);
const [text] = await Promise.allSettled([initialText(loaded.value?.maxBytes ?? 0)]);
if (text.status === "fulfilled") editor.load(text.value);
else {
  $("save").disabled = true; // never overwrite a file we could not read
  report(`Could not load ${editing ? "the file" : "the values"}: ${text.reason?.message ?? text.reason}`, "error");
}
if (loaded.status === "fulfilled") {
  core = loaded.value;
  defaults = core.defaults();
  schema = new Schema(core.schema(), defaults);
  form = createForm({
    fieldset: $("form-fieldset"), container: $("form-fields"), note: $("form-note"), schema,
    getText: () => editor.getText(), setText: (t) => editor.setText(t), onError: (m) => report(m, "error"),
  });
  changesView = createChanges({ button: $("only-changes"), output: $("changes"), defaults });
  const show = $("show-passwords").checked; // may have been ticked while loading
  form.setShowPasswords(show);
  changesView.setShowPasswords(show);
  $("version").textContent = `postgres-ha ${core.version()}`;
  refresh();
  document.body.dataset.ready = "true";
} else {
  document.body.dataset.ready = "error";
  report(`Could not load the WebAssembly core: ${loaded.reason?.message ?? loaded.reason}`, "error");
}
