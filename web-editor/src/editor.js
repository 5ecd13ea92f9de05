// The CodeMirror 6 YAML editor: themes, diagnostics, schema help and password masking.
import { autocompletion, completionKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { bracketMatching, foldGutter, foldKeymap, HighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { Compartment, EditorState, StateEffect, StateField, Transaction } from "@codemirror/state";
import {
  Decoration, drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter,
  keymap, lineNumbers, WidgetType,
} from "@codemirror/view";
import { tags as t } from "@lezer/highlight";
import { completionSource, schemaHover } from "./schema.js";
import { parse, passwordRanges } from "./values.js";

// --- themes: colours come from the page's CSS variables; `dark` picks CodeMirror's
// own dark base styles (tooltips, panels, selection) and the syntax palette.
const highlight = (c) => HighlightStyle.define([
  { tag: t.definition(t.propertyName), color: c.key },
  { tag: t.string, color: c.string },
  { tag: t.lineComment, color: c.comment, fontStyle: "italic" },
  { tag: [t.keyword, t.meta, t.labelName, t.typeName], color: c.meta },
  { tag: t.separator, color: c.comment },
]);
const palettes = {
  light: highlight({ key: "#0b5cad", string: "#1a7f37", comment: "#6a737d", meta: "#8250df" }),
  dark: highlight({ key: "#79c0ff", string: "#7ee787", comment: "#8b949e", meta: "#d2a8ff" }),
};
const surface = (dark) => EditorView.theme({
  "&": { color: "var(--fg)", backgroundColor: "var(--editor-bg)", height: "100%" },
  ".cm-content": { caretColor: "var(--fg)" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--fg)" },
  ".cm-gutters": { backgroundColor: "var(--panel-bg)", color: "var(--muted)", borderRight: "1px solid var(--border)" },
  ".cm-activeLine": { backgroundColor: "var(--active-line)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--active-line)" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, ::selection":
    { backgroundColor: "var(--selection)" },
  ".cm-tooltip": { backgroundColor: "var(--panel-bg)", color: "var(--fg)", border: "1px solid var(--border)" },
}, { dark });
const themeFor = (dark) => [surface(dark), syntaxHighlighting(dark ? palettes.dark : palettes.light)];

// --- password masking: the value of any key containing "password" is shown as dots,
// except while a cursor or selection touches it.
export const showPasswords = StateEffect.define();

class Dots extends WidgetType {
  eq() { return true; }
  toDOM() {
    const el = document.createElement("span");
    el.className = "cm-password-mask";
    el.textContent = "•••••";
    el.title = "Password hidden: move the cursor into it, or tick “Show passwords”";
    return el;
  }
  ignoreEvent() { return false; }
}
const dots = Decoration.replace({ widget: new Dots() });

function masks(state, show) {
  if (show) return Decoration.none;
  const sel = state.selection.ranges;
  const ranges = passwordRanges(parse(state.doc.toString()))
    .filter((r) => r.from < r.to && !sel.some((s) => s.from <= r.to && s.to >= r.from));
  return Decoration.set(ranges.map((r) => dots.range(r.from, r.to)));
}

// A state field, not a view plugin: a masked block scalar may span line breaks.
const masking = StateField.define({
  create: (state) => ({ show: false, deco: masks(state, false) }),
  update(value, tr) {
    let show = value.show;
    for (const e of tr.effects) if (e.is(showPasswords)) show = e.value;
    if (show === value.show && !tr.docChanged && !tr.selection) return value;
    return { show, deco: masks(tr.state, show) };
  },
  provide: (f) => EditorView.decorations.from(f, (v) => v.deco),
});

// --- positions: the WASM counts columns in UTF-16 units, as CodeMirror's offsets do.
export function offsetOf(doc, line, column) {
  const l = doc.line(Math.min(Math.max(line, 1), doc.lines));
  return l.from + Math.min(Math.max(column - 1, 0), l.length);
}

export function goTo(view, line, column) {
  const pos = offsetOf(view.state.doc, line, column);
  view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
  view.focus();
}

export function showDiagnostics(view, diagnostics) {
  const doc = view.state.doc;
  const list = diagnostics.map((d) => {
    const from = offsetOf(doc, d.line, d.column);
    return {
      from,
      to: Math.max(from, offsetOf(doc, d.endLine, d.endColumn)),
      severity: d.severity,
      source: d.code,
      message: d.message,
      renderMessage() {
        const el = document.createElement("div");
        el.textContent = d.message; // the code shows as the diagnostic's source
        if (d.help) {
          const help = el.appendChild(document.createElement("div"));
          help.className = "cm-diagnostic-help";
          help.textContent = d.help;
        }
        return el;
      },
    };
  });
  view.dispatch(setDiagnostics(view.state, list));
}

/**
 * The editor in `parent`. `onChange` runs after every document change; `getSchema`
 * returns the Schema once the WASM has loaded (completion and hover wait for it).
 */
export function createEditor({ parent, text = "", dark, onChange, getSchema }) {
  const theme = new Compartment();
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), foldGutter(), lintGutter(),
        history(), drawSelection(), indentOnInput(), bracketMatching(), highlightActiveLine(),
        highlightSelectionMatches(), EditorState.tabSize.of(2),
        yaml(), theme.of(themeFor(dark)),
        autocompletion({ override: [completionSource(getSchema)], icons: false }),
        schemaHover(getSchema), masking,
        // Tab indents, as in any YAML editor; it is no keyboard trap because
        // CodeMirror lets Tab move focus for two seconds after Escape.
        keymap.of([...completionKeymap, ...searchKeymap, ...historyKeymap, ...foldKeymap, ...defaultKeymap, indentWithTab]),
        EditorView.contentAttributes.of({ "aria-label": "values.yaml" }),
        EditorView.updateListener.of((u) => { if (u.docChanged) onChange(); }),
      ],
    }),
  });
  return {
    view,
    setDark: (d) => view.dispatch({ effects: theme.reconfigure(themeFor(d)) }),
    setShowPasswords: (show) => view.dispatch({ effects: showPasswords.of(show) }),
    getText: () => view.state.doc.toString(),
    /** Replace the whole text as the starting point: not undoable. */
    load(text) {
      view.dispatch({
        changes: { from: 0, to: view.state.doc.length, insert: text },
        annotations: Transaction.addToHistory.of(false),
      });
    },
    /** Replace the text in one transaction, changing only the span that differs. */
    setText(next) {
      const cur = view.state.doc.toString();
      if (cur === next) return;
      let a = 0;
      while (a < cur.length && a < next.length && cur[a] === next[a]) a++;
      let b = 0;
      while (b < cur.length - a && b < next.length - a && cur[cur.length - 1 - b] === next[next.length - 1 - b]) b++;
      view.dispatch({ changes: { from: a, to: cur.length - b, insert: next.slice(a, next.length - b) } });
    },
  };
}
