// Completion and hover from the values JSON Schema. Completion finds its place from
// indentation (half-typed YAML rarely parses into a useful tree); hover uses the
// parsed document's node ranges.
import { hoverTooltip } from "@codemirror/view";
import { nodeAt, parse } from "./values.js";

export class Schema {
  constructor(root, defaults) {
    this.root = root;
    this.defaults = defaults;
  }

  // A `$ref` replaced by its target, with the referring node's own keywords
  // (description, default) taking precedence.
  deref(s) {
    for (let i = 0; s && s.$ref && i < 32; i++) {
      const { $ref, ...local } = s;
      const target = $ref.startsWith("#/")
        ? $ref.slice(2).split("/").reduce((n, p) => n?.[p.replace(/~1/g, "/").replace(/~0/g, "~")], this.root)
        : null;
      s = { ...(target ?? {}), ...local };
    }
    return s ?? null;
  }

  /** `s` and every anyOf/oneOf/allOf branch under it, dereferenced. */
  alternatives(s, out = []) {
    s = this.deref(s);
    if (!s || typeof s !== "object") return out;
    out.push(s);
    for (const b of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])]) this.alternatives(b, out);
    return out;
  }

  child(s, key) {
    const alts = this.alternatives(s);
    for (const a of alts) if (a.properties && Object.hasOwn(a.properties, key)) return a.properties[key];
    for (const a of alts) if (a.additionalProperties && typeof a.additionalProperties === "object") return a.additionalProperties;
    return null;
  }

  /** The schema at a key path ("[]" steps into sequence items), or null. */
  at(path) {
    let s = this.root;
    for (const seg of path) {
      s = seg === "[]" ? this.alternatives(s).find((a) => a.items && typeof a.items === "object")?.items : this.child(s, seg);
      if (!s) return null;
    }
    return this.deref(s);
  }

  properties(s) {
    const out = new Map();
    for (const a of this.alternatives(s)) for (const [k, v] of Object.entries(a.properties ?? {})) if (!out.has(k)) out.set(k, this.deref(v));
    return out;
  }

  /** Values a scalar may take: enums, consts, booleans. */
  choices(s) {
    const out = [];
    for (const a of this.alternatives(s)) {
      for (const v of a.enum ?? []) out.push(v);
      if ("const" in a) out.push(a.const);
      if ([a.type].flat().includes("boolean")) out.push(true, false);
    }
    return [...new Set(out)];
  }

  typeLabel(s) {
    const parts = new Set();
    for (const a of this.alternatives(s)) {
      if (a.enum) a.enum.forEach((v) => parts.add(JSON.stringify(v)));
      else if (a.type) [a.type].flat().forEach((t) => parts.add(t));
    }
    return [...parts].join(" | ") || "any";
  }

  /** The default at a path: from defaults() when it knows it, else the schema's. */
  defaultAt(path, s) {
    let v = this.defaults;
    for (const seg of path) v = v && typeof v === "object" && seg !== "[]" ? v[seg] : undefined;
    return v !== undefined ? v : s?.default;
  }
}

/** Text with `code` spans (the schema's descriptions use backticks) as DOM. */
export function richText(text) {
  const frag = document.createDocumentFragment();
  String(text ?? "").split("`").forEach((part, i) => {
    if (!part) return;
    if (i % 2) frag.appendChild(document.createElement("code")).textContent = part;
    else frag.appendChild(document.createTextNode(part));
  });
  return frag;
}

function docNode(schema, path, s) {
  const dom = document.createElement("div");
  dom.className = "schema-doc";
  const head = dom.appendChild(document.createElement("div"));
  head.className = "schema-doc-head";
  head.appendChild(document.createElement("code")).textContent = path.join(".").replaceAll(".[]", "[]");
  head.append(": ", schema.typeLabel(s));
  if (s.description) dom.appendChild(document.createElement("p")).appendChild(richText(s.description));
  const def = schema.defaultAt(path, s);
  if (def !== undefined) {
    const p = dom.appendChild(document.createElement("p"));
    p.append("Default: ");
    p.appendChild(document.createElement("code")).textContent = JSON.stringify(def);
  }
  return dom;
}

// --- where the cursor is, from indentation -------------------------------------

const LINE = /^([ \t]*)((?:-[ \t]+)*)(.*)$/;
const KEY = /^(?:"([^"]*)"|'([^']*)'|([^\s"'#:][^#:]*?))[ \t]*:(?:[ \t]+(.*))?$/;

function lineInfo(text) {
  const [, ws, dashes, body] = LINE.exec(text);
  const indent = ws.length;
  const key = KEY.exec(body.trimEnd());
  return {
    indent,
    dashes: dashes ? [...dashes.matchAll(/-/g)].map((m) => indent + m.index) : [],
    col: indent + dashes.length,
    empty: body.trim() === "" || body.trimStart().startsWith("#"),
    key: key ? (key[1] ?? key[2] ?? key[3]).trim() : null,
    blockValue: key ? !key[4] || key[4].startsWith("#") : false,
  };
}

// The key path of the mapping or sequence that line `n` (with its own start column
// `target`) belongs to, found by walking up to less-indented lines.
function parentPath(doc, n, target, seqItem) {
  const path = [];
  for (let i = n - 1; i >= 1 && (target > 0 || seqItem); i--) {
    const info = lineInfo(doc.line(i).text);
    if (info.empty && !info.dashes.length) continue;
    // "key:" followed by "- item" at the same indentation is the parent of the item.
    const sameIndentSeq = seqItem && info.indent === target && info.key && info.blockValue && !info.dashes.length;
    if (info.indent >= target && !sameIndentSeq) continue;
    const segs = info.dashes.filter((d) => d < target).map(() => "[]");
    if (info.key && (info.col < target || sameIndentSeq)) segs.push(info.key);
    path.unshift(...segs);
    target = info.indent;
    seqItem = info.dashes.length > 0;
    if (sameIndentSeq) seqItem = false;
  }
  return path;
}

// Keys already present in the block that line `n` (key column `col`) is in: up to
// the parent or the start of the sequence item, down to the next less-indented line.
function siblingKeys(doc, n, col) {
  const keys = new Set();
  for (const step of [-1, 1]) {
    for (let i = n + step; i >= 1 && i <= doc.lines; i += step) {
      const info = lineInfo(doc.line(i).text);
      if (info.empty && !info.dashes.length) continue;
      if (step > 0 && info.indent < col) break;
      if (info.col === col && info.key) keys.add(info.key);
      if (step < 0 && info.indent < col) break;
    }
  }
  return keys;
}

/** What the cursor is completing: a key in a mapping or a scalar value, with its path. */
export function contextAt(state, pos) {
  const line = state.doc.lineAt(pos);
  const before = line.text.slice(0, pos - line.from);
  const [, ws, dashes, body] = LINE.exec(before);
  const col = ws.length + dashes.length;
  const ownDashes = dashes ? [...dashes.matchAll(/-/g)].length : 0;
  const target = ownDashes ? ws.length : col;
  const base = [...parentPath(state.doc, line.number, target, ownDashes > 0), ...Array(ownDashes).fill("[]")];
  const kv = KEY.exec(body);
  if (kv && kv[4] !== undefined) {
    if (kv[4].includes("#")) return null;
    const word = /[^\s"'[\]{},]*$/.exec(kv[4])[0];
    return { role: "value", path: [...base, (kv[1] ?? kv[2] ?? kv[3]).trim()], word, from: pos - word.length };
  }
  if (/^[\w.-]*$/.test(body)) {
    const siblings = siblingKeys(state.doc, line.number, col);
    return { role: "key", path: base, word: body, from: pos - body.length, col, siblings };
  }
  return null;
}

// --- CodeMirror extensions -----------------------------------------------------

export function completionSource(getSchema) {
  return (ctx) => {
    const schema = getSchema();
    const c = schema && contextAt(ctx.state, ctx.pos);
    if (!c || (!ctx.explicit && !c.word)) return null;
    const s = schema.at(c.path);
    if (!s) return null;
    const props = schema.properties(s);
    if (c.role === "key" && props.size) {
      const options = [];
      for (const [name, p] of props) {
        if (c.siblings.has(name) && name !== c.word) continue;
        const nested = schema.alternatives(p).some((a) => a.type === "object");
        options.push({
          label: name,
          type: "property",
          detail: schema.typeLabel(p),
          info: () => docNode(schema, [...c.path, name], p),
          // A mapping opens its block on the next line, one level deeper.
          apply: nested ? `${name}:\n${" ".repeat(c.col + 2)}` : `${name}: `,
        });
      }
      return { from: c.from, options, validFor: /^[\w.-]*$/ };
    }
    const values = schema.choices(s);
    const def = schema.defaultAt(c.path, s);
    if (def !== undefined && def !== null && typeof def !== "object" && !values.includes(def)) values.push(def);
    if (!values.length) return null;
    return {
      from: c.from,
      options: values.map((v) => ({
        label: String(v),
        type: typeof v === "boolean" ? "keyword" : "enum",
        detail: v === def ? "default" : undefined,
        info: s.description ? () => docNode(schema, c.path, s) : undefined,
      })),
      validFor: /^[\w.-]*$/,
    };
  };
}

export function schemaHover(getSchema) {
  return hoverTooltip((view, pos) => {
    const schema = getSchema();
    if (!schema) return null;
    const hit = nodeAt(parse(view.state.doc.toString()).contents, pos);
    const s = hit && schema.at(hit.path);
    if (!s) return null;
    return { pos: hit.from, end: hit.to, above: true, create: () => ({ dom: docNode(schema, hit.path, s) }) };
  });
}
