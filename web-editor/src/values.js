// The values file as data: one cached parse of the editor text (shared by masking,
// hover, the form and the diff), and source-preserving edits.
import { Document, isMap, isScalar, isSeq, parseDocument, visit } from "yaml";

let cache = { text: null, doc: null };

/** The parsed Document of `text`; treat it as read-only (it is shared). */
export function parse(text) {
  if (cache.text !== text) cache = { text, doc: parseDocument(text) };
  return cache.doc;
}

/** The plain data of a parsed document, or null when it does not parse. */
export function data(doc) {
  if (doc.errors.length) return null;
  try {
    return doc.toJS() ?? {};
  } catch {
    return null;
  }
}

export const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

export function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => deepEqual(a[k], b[k]));
}

/** What `value` sets differently from `defaults`; undefined when nothing. */
export function changes(value, defaults) {
  if (isObject(value) && isObject(defaults)) {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      const d = changes(v, defaults[k]);
      if (d !== undefined) out[k] = d;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return deepEqual(value, defaults) ? undefined : value;
}

/** `defaults` overlaid with `value`, recursively through mappings. */
export function merge(defaults, value) {
  if (!isObject(defaults) || !isObject(value)) return value === undefined ? defaults : value;
  const out = { ...defaults };
  for (const [k, v] of Object.entries(value)) out[k] = merge(defaults[k], v);
  return out;
}

export const isPasswordKey = (key) => /password/i.test(String(key));

/** Source ranges of the scalar values of every key whose name contains "password". */
export function passwordRanges(doc) {
  const out = [];
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && isPasswordKey(pair.key.value) && isScalar(pair.value) && pair.value.range) {
        out.push({ from: pair.value.range[0], to: pair.value.range[1] });
      }
    },
  });
  return out.sort((a, b) => a.from - b.from);
}

/** The key or scalar value at `pos`: its path ("[]" for a sequence item) and range. */
export function nodeAt(node, pos, path = []) {
  const hit = (n, p) => n?.range && pos >= n.range[0] && pos <= n.range[1] ? { path: p, from: n.range[0], to: n.range[1] } : null;
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const p = [...path, String(pair.key.value)];
      const found = hit(pair.key, p) ?? (isScalar(pair.value) ? hit(pair.value, p) : nodeAt(pair.value, pos, p));
      if (found) return found;
    }
  } else if (isSeq(node)) {
    for (const item of node.items) {
      const found = isScalar(item) ? hit(item, [...path, "[]"]) : nodeAt(item, pos, [...path, "[]"]);
      if (found) return found;
    }
  }
  return null;
}

// The source text of `value` as a scalar, keeping the old node's quote style; null if
// it would not fit on one line.
function scalarSource(value, old) {
  const doc = new Document(value);
  if (typeof value === "string" && (old?.type === "QUOTE_DOUBLE" || old?.type === "QUOTE_SINGLE")) doc.contents.type = old.type;
  const src = doc.toString().replace(/\n$/, "");
  return src.includes("\n") ? null : src;
}

const lineStart = (text, pos) => text.lastIndexOf("\n", pos - 1) + 1;
const nextLine = (text, pos) => {
  const nl = text.indexOf("\n", pos);
  return nl === -1 ? text.length : nl + 1;
};

// Candidate edits that touch only the lines concerned. Each may return null, and
// editValue checks its result against the Document API's before using it.
function spliceScalar(text, node, value) {
  const src = scalarSource(value, node);
  if (src === null) return null;
  const [from, to] = node.range;
  let after = text.slice(to);
  const pad = /^( +)#/.exec(after); // keep a trailing comment in its column
  if (pad) after = " ".repeat(Math.max(1, pad[1].length - (src.length - (to - from)))) + after.slice(pad[1].length);
  return text.slice(0, from) + src + after;
}

// The whole lines a block-mapping pair occupies, [start, end), or null when it shares
// a line with something else.
function pairLines(text, pair) {
  if (!pair?.key?.range) return null;
  const start = lineStart(text, pair.key.range[0]);
  if (text.slice(start, pair.key.range[0]).trim() !== "") return null;
  const end = (pair.value?.range ?? pair.key.range)[1];
  return [start, nextLine(text, Math.max(end - 1, start))];
}

function spliceDelete(text, doc, path) {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  if (!isMap(parent) || parent.flow) return null;
  const span = pairLines(text, parent.items.find((p) => isScalar(p.key) && String(p.key.value) === path.at(-1)));
  return span && text.slice(0, span[0]) + text.slice(span[1]);
}

function spliceInsert(text, doc, path, value) {
  let depth = path.length - 1; // the longest prefix of `path` that exists
  while (depth > 0 && doc.getIn(path.slice(0, depth), true) === undefined) depth--;
  const parent = depth ? doc.getIn(path.slice(0, depth), true) : doc.contents;
  if (!isMap(parent) || parent.flow || !parent.items.length || !parent.items[0].key?.range) return null;
  const src = scalarSource(value, null);
  if (src === null) return null;
  const first = parent.items[0].key.range[0];
  const col = first - lineStart(text, first);
  const last = parent.items.at(-1);
  const end = (last.value?.range ?? last.key.range)[1];
  const at = nextLine(text, Math.max(end - 1, 0));
  const lines = path.slice(depth).map((key, i, rest) =>
    `${" ".repeat(col + 2 * i)}${key}:${i === rest.length - 1 ? ` ${src}` : ""}\n`);
  return text.slice(0, at) + (at > 0 && text[at - 1] !== "\n" ? "\n" : "") + lines.join("") + text.slice(at);
}

/**
 * `text` with the value at `path` set (`undefined` removes the key), or null when the
 * text does not parse or the path cannot be reached. The edit is made on the source
 * lines concerned when possible, so the rest of the file keeps its exact layout;
 * otherwise through the Document API, which keeps comments but re-flows spacing.
 */
export function editValue(text, path, value) {
  const doc = parseDocument(text);
  if (doc.errors.length) return null;
  try {
    const node = doc.getIn(path, true);
    if (value === undefined && node === undefined) return text;
    const candidate = value === undefined ? spliceDelete(text, doc, path)
      : isScalar(node) && node.range ? spliceScalar(text, node, value)
      : node === undefined ? spliceInsert(text, doc, path, value)
      : null;
    if (value === undefined) doc.deleteIn(path);
    else doc.setIn(path, value);
    if (candidate !== null) {
      const again = parseDocument(candidate);
      if (!again.errors.length && deepEqual(again.toJS(), doc.toJS())) return candidate;
    }
    return doc.toString();
  } catch {
    return null; // e.g. a parent that is a scalar, not a mapping
  }
}

/**
 * `text` without every mapping key for which `test(key)` holds, or null when it does
 * not parse. Removes the pairs' own lines when that gives the same data as the
 * Document API's removal (so the rest keeps its layout), else uses the latter.
 */
export function withoutKeys(text, test) {
  const doc = parseDocument(text);
  if (doc.errors.length) return null;
  const spans = [];
  visit(doc, {
    Pair(_, pair) {
      if (!isScalar(pair.key) || !test(pair.key.value)) return undefined;
      spans.push(pairLines(text, pair));
      return visit.REMOVE;
    },
  });
  if (!spans.length) return text;
  if (spans.every(Boolean)) {
    let candidate = text;
    for (const [a, b] of spans.sort((x, y) => y[0] - x[0])) candidate = candidate.slice(0, a) + candidate.slice(b);
    const again = parseDocument(candidate);
    if (!again.errors.length && deepEqual(again.toJS(), doc.toJS())) return candidate;
  }
  return doc.toString();
}
