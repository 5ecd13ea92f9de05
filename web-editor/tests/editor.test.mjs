// The editor in real Chromium (Debian's, driven by playwright-core, a fresh profile,
// served from 127.0.0.1): the seed loads clean, typing a fault marks its line and the
// problems list, the form and the YAML follow each other, the preview renders, the
// share link round-trips without passwords, `edit` saves to disk. Screenshots in
// both themes go to target/editor-screenshots/ (CI keeps them).
//
//   node --test web-editor/tests/   (after scripts/build-editor.sh)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM, serve } from "./serve.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dist = join(root, "web-editor", "dist");
const cliPath = process.env.CPLN_POSTGRES_HA ?? join(root, "target", "debug", "cpln-postgres-ha");
const screenshots = join(root, "target", "editor-screenshots");
const example = readFileSync(join(root, "examples", "values.yaml"), "utf8");
const examplePassword = /password:\s*"([^"]+)"/.exec(example)[1];

let browser;
let site;

before(async () => {
  site = await serve(dist);
  browser = await chromium.launch(CHROMIUM);
});

after(async () => {
  await browser?.close();
  site?.server.close();
});

async function open(url = site.url) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
  return { page, errors };
}

const text = (page) => page.evaluate(() => window.__editor.getText());
const checks = (page) => page.evaluate(() => Number(document.body.dataset.checks));

// Waits until the editor has checked its text at least once more than `since`.
async function checked(page, since) {
  await page.waitForFunction((n) => Number(document.body.dataset.checks) > n, since);
}

// Puts the cursor right after `needle` (its first occurrence after `after`).
async function cursorAfter(page, needle, afterText = "") {
  const source = await text(page);
  const at = source.indexOf(needle, source.indexOf(afterText)) + needle.length;
  assert.ok(at >= needle.length, `${needle} not in the editor`);
  await page.evaluate((pos) => {
    const { view } = window.__editor;
    view.focus();
    view.dispatch({ selection: { anchor: pos } });
  }, at);
}

function lineOf(source, needle, afterText = "") {
  const at = source.indexOf(needle, source.indexOf(afterText));
  return source.slice(0, at).split("\n").length;
}

test("the example loads with no errors and its password masked", async () => {
  const { page, errors } = await open();
  assert.equal(await text(page), example);
  assert.equal(await page.locator(".cm-lintRange-error").count(), 0);
  const problems = await page.locator("#problems li[data-code]").count();
  const expected = await page.evaluate(
    () => window.__bench.check(window.__editor.getText()).length,
  );
  assert.equal(problems, expected);
  const shown = await page.locator("#editor .cm-content").innerText();
  assert.ok(!shown.includes(examplePassword), "the password is shown in the editor");
  assert.deepEqual(errors, []);
  await page.close();
});

test("an even etcd count marks its line and the problems list; fixing it clears both", async () => {
  const { page } = await open();
  const line = lineOf(example, "replicas: 3", "etcd:");
  await cursorAfter(page, "replicas: 3", "etcd:");
  const before = await checks(page);
  await page.keyboard.press("Backspace");
  await page.keyboard.type("4");
  await checked(page, before);
  const marked = page.locator(".cm-lintRange-error");
  await marked.first().waitFor({ timeout: 5_000 });
  const markedLine = await marked.first().evaluate((e) => e.closest(".cm-line").textContent);
  assert.match(markedLine, /^\s+replicas: 4/);
  const item = page.locator("#problems li[data-code=R003]");
  assert.equal(await item.getAttribute("data-line"), String(line));
  assert.ok((await page.locator(".cm-gutter-lint .cm-lint-marker-error").count()) > 0);
  // The problems list moves the cursor to the finding.
  await page.evaluate(() => window.__editor.view.dispatch({ selection: { anchor: 0 } }));
  await item.click();
  const cursorLine = await page.evaluate(() => {
    const { view } = window.__editor;
    return view.state.doc.lineAt(view.state.selection.main.head).number;
  });
  assert.equal(cursorLine, line);

  await cursorAfter(page, "replicas: 4", "etcd:");
  const again = await checks(page);
  await page.keyboard.press("Backspace");
  await page.keyboard.type("5");
  await checked(page, again);
  await page.locator("#problems li[data-code=R003]").waitFor({ state: "detached" });
  assert.equal(await page.locator(".cm-lintRange-error").count(), 0);
  await page.close();
});

test("the form and the YAML follow each other, comments kept", async () => {
  const { page } = await open();
  assert.equal(await page.inputValue("#form-replicas"), "3");
  const before = await checks(page);
  await page.fill("#form-replicas", "5");
  await page.locator("#form-replicas").dispatchEvent("change");
  await checked(page, before);
  const edited = await text(page);
  assert.match(edited, /^replicas: 5\s+# PostgreSQL members/m);
  assert.ok(edited.includes("# odd: 3 tolerates one failure"));
  await page.selectOption("#form-patroni-timing-preset", "safe");
  assert.match(await text(page), /preset: safe/);

  // The other way: the YAML changes the form; while it does not parse, the form is
  // read-only.
  await page.evaluate(() =>
    window.__editor.setText(window.__editor.getText().replace("replicas: 5", "replicas: 1")),
  );
  await page.waitForFunction(() => document.querySelector("#form-replicas").value === "1");
  await page.evaluate(() => window.__editor.setText("replicas: [\n"));
  await page.waitForFunction(() => document.querySelector("#form-replicas").closest("fieldset").disabled);
  await page.close();
});

test("the preview renders both stateful workloads and the CLI command", async () => {
  const { page } = await open();
  const yaml = await page.locator("#preview-yaml").innerText();
  assert.equal(yaml.match(/type: stateful/g)?.length, 2, yaml.slice(0, 400));
  assert.ok(!yaml.includes(examplePassword));
  const command = await page.locator("#cli-command").innerText();
  assert.match(command, /cpln-postgres-ha render \S+ -f values\.yaml --gvc \S+/);
  assert.equal(await page.locator("#topology svg").count(), 1);
  // Three PostgreSQL and three etcd members in the picture.
  const picture = await page.locator("#topology svg").innerHTML();
  assert.equal(picture.match(/postgres-\d/g)?.length >= 3, true, picture.slice(0, 300));
  await page.close();
});

test("the share link round-trips the values without passwords", async () => {
  const { page } = await open();
  await page.evaluate(() =>
    window.__editor.setText(window.__editor.getText().replace("replicas: 3 ", "replicas: 5 ")),
  );
  const edited = await text(page);
  await page.click("#share");
  await page.waitForFunction(() => document.querySelector("#share-link").value.includes("#v="));
  const link = await page.inputValue("#share-link");
  assert.ok(!link.includes(examplePassword));
  const { page: other } = await open(link);
  const shared = await text(other);
  assert.ok(!shared.includes(examplePassword), shared);
  assert.equal(shared, edited.replace(/^\s*password:.*\n/m, ""));
  await other.close();
  await page.close();
});

test("completion offers the schema's keys and choices; hover documents a key", async () => {
  const { page } = await open();
  const complete = async (text) => {
    await page.evaluate((t) => window.__editor.setText(t), text);
    await cursorAfter(page, text);
    await page.keyboard.press("Control+Space");
    const list = page.locator(".cm-tooltip-autocomplete");
    await list.waitFor({ timeout: 5_000 });
    return list.locator("li").allInnerTexts();
  };
  const keys = await complete("etcd:\n  rep");
  assert.ok(keys.some((k) => k.startsWith("replicas")), keys.join(" | "));
  // CodeMirror ignores Enter for 75 ms after the list opens (no accidental picks).
  await page.waitForTimeout(150);
  await page.keyboard.press("Enter");
  assert.equal(await text(page), "etcd:\n  replicas: ");
  const choices = await complete("internal_access:\n  type: ");
  for (const choice of ["same-gvc", "same-org", "workload-list"]) {
    assert.ok(choices.some((c) => c.startsWith(choice)), choices.join(" | "));
  }
  await page.keyboard.press("Escape");

  await page.evaluate((t) => window.__editor.setText(t), example);
  const at = example.indexOf("replicas");
  const box = await page.evaluate((pos) => window.__editor.view.coordsAtPos(pos), at + 2);
  await page.mouse.move(box.left + 1, (box.top + box.bottom) / 2, { steps: 4 });
  const hover = page.locator(".cm-tooltip-hover");
  await hover.waitFor({ timeout: 5_000 });
  assert.match(await hover.innerText(), /Number of PostgreSQL members/);
  await page.close();
});

test("only my changes, and the downloads hold what is shown", async () => {
  const { page } = await open();
  const before = await checks(page);
  await page.evaluate(() =>
    window.__editor.setText(window.__editor.getText().replace("replicas: 3 ", "replicas: 5 ")),
  );
  await checked(page, before);
  await page.click("#only-changes");
  const changes = await page.locator("#changes").innerText();
  assert.match(changes, /^replicas: 5$/m);
  assert.ok(!changes.includes(examplePassword) && !/^etcd:/m.test(changes), changes);

  const saved = async (button) => {
    const [file] = await Promise.all([page.waitForEvent("download"), page.click(button)]);
    return { name: file.suggestedFilename(), text: readFileSync(await file.path(), "utf8") };
  };
  const values = await saved("#download-values");
  assert.deepEqual(values, { name: "values.yaml", text: await text(page) });
  const manifests = await saved("#download-manifests");
  assert.equal(manifests.name, "postgres.cpln.yaml");
  assert.equal(manifests.text, await page.locator("#preview-yaml").textContent());
  assert.ok(!manifests.text.includes(examplePassword));
  await page.close();
});

test("every control has a name, and both themes render", async () => {
  const { page } = await open();
  const unnamed = await page.$$eval("button, input, select, textarea", (elements) =>
    elements
      .filter((e) => e.offsetParent !== null)
      .filter((e) => !(e.labels?.length || e.getAttribute("aria-label") || e.textContent.trim()))
      .map((e) => e.outerHTML.slice(0, 80)),
  );
  assert.deepEqual(unnamed, []);
  // The keyboard gets out of the editor (Esc, then Tab) and reaches the form.
  await page.evaluate(() => window.__editor.view.focus());
  await page.keyboard.press("Escape");
  await page.keyboard.press("Tab");
  const inEditor = () =>
    page.evaluate(() => document.querySelector("#editor .cm-content").contains(document.activeElement));
  assert.equal(await inEditor(), false);
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    reached = await page.evaluate(() => document.activeElement?.id === "form-replicas");
    if (!reached) await page.keyboard.press("Tab");
  }
  assert.ok(reached, "Tab never reached the form");
  mkdirSync(screenshots, { recursive: true });
  for (const theme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: theme });
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    const background = await page.evaluate(
      () => getComputedStyle(document.body).backgroundColor,
    );
    const [r, g, b] = background.match(/\d+/g).map(Number);
    assert.equal(r + g + b > 384, theme === "light", `${theme}: ${background}`);
    await page.screenshot({ path: join(screenshots, `${theme}.png`), fullPage: true });
  }
  await page.close();
});

test("edit opens the real file and saves it to disk", async () => {
  const dir = mkdtempSync(join(tmpdir(), "edit-"));
  const file = join(dir, "values.yaml");
  writeFileSync(file, example);
  const editor = spawn(cliPath, ["edit", "--no-open", "--site", dist, file], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const link = await new Promise((resolve, reject) => {
      const lines = createInterface({ input: editor.stdout });
      lines.once("line", (line) => resolve(line.split(" ").find((w) => w.startsWith("http://"))));
      editor.once("exit", (code) => reject(new Error(`edit exited with ${code}`)));
    });
    const { page, errors } = await open(link);
    assert.equal(await text(page), example);
    assert.ok((await page.locator("#save").isVisible()));
    await cursorAfter(page, "replicas: 3");
    await page.keyboard.press("Backspace");
    await page.keyboard.type("5");
    await page.keyboard.press("Control+S");
    await page.waitForFunction(() => /saved/i.test(document.querySelector("#status").textContent));
    const saved = readFileSync(file, "utf8");
    assert.equal(saved, await text(page));
    assert.match(saved, /^replicas: 5/m);
    assert.equal(readFileSync(`${file}.bak`, "utf8"), example);
    assert.ok(existsSync(file));
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    editor.kill();
  }
});
