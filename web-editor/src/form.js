// The main settings as a form, kept in sync with the YAML both ways. An empty text or
// number field means "not set": the key is removed and its default applies.
import { richText } from "./schema.js";
import { editValue } from "./values.js";

const FIELDS = [
  ["replicas", "PostgreSQL members", "number"],
  ["resources.cpu", "CPU per member", "text"],
  ["resources.memory", "Memory per member", "text"],
  ["postgres.username", "Username", "text"],
  ["postgres.database", "Database", "text"],
  ["postgres.password", "Password", "password"],
  ["internal_access.type", "Who may connect", "select"],
  ["etcd.replicas", "etcd members", "number"],
  ["patroni.timing.preset", "Failover timing", "select"],
  ["patroni.synchronous_mode", "Synchronous replication", "checkbox"],
];

/**
 * Builds the fields into `container` from the schema. `getText`/`setText` reach the
 * editor; `onError(message)` reports an edit the YAML could not take.
 */
export function createForm({ fieldset, container, note, schema, getText, setText, onError }) {
  const fields = FIELDS.map(([key, label, kind]) => {
    const path = key.split(".");
    const s = schema.at(path) ?? {};
    const def = schema.defaultAt(path, s);
    const id = `form-${path.join("-")}`;
    const row = container.appendChild(document.createElement("div"));
    row.className = `field field-${kind}`;
    let input;
    if (kind === "select") {
      input = document.createElement("select");
      for (const v of schema.choices(s)) input.add(new Option(String(v), String(v)));
    } else {
      input = document.createElement("input");
      input.type = kind;
      if (kind === "number") {
        input.step = "1";
        if (s.minimum !== undefined) input.min = s.minimum;
        if (s.maximum !== undefined) input.max = s.maximum;
      }
      if (kind === "text" || kind === "number") input.placeholder = def == null ? "" : `default: ${def}`;
      if (kind === "password") {
        input.autocomplete = "off";
        input.placeholder = "not set";
      }
    }
    input.id = id;
    input.name = key;
    const labelEl = document.createElement("label");
    labelEl.htmlFor = id;
    labelEl.textContent = label;
    const keyEl = labelEl.appendChild(document.createElement("code"));
    keyEl.textContent = key;
    if (kind === "checkbox") row.append(input, labelEl);
    else row.append(labelEl, input);
    if (s.description) {
      const hint = row.appendChild(document.createElement("p"));
      hint.className = "hint";
      hint.id = `${id}-hint`;
      hint.appendChild(richText(s.description));
      input.setAttribute("aria-describedby", hint.id);
    }
    const field = { key, path, kind, input, def };
    // Typed values go to the YAML as they are typed; an emptied field (the key is
    // removed) only on change, so clearing a field to retype it leaves the key in place.
    if (kind !== "select" && kind !== "checkbox") input.addEventListener("input", () => input.value !== "" && write(field));
    input.addEventListener("change", () => write(field));
    return field;
  });

  function write(field) {
    const { input, kind } = field;
    let value;
    if (kind === "checkbox") value = input.checked;
    else if (kind === "select") value = input.value;
    else if (input.value === "") value = undefined;
    else if (kind === "number") {
      value = Number(input.value);
      if (!Number.isFinite(value)) return; // half-typed; wait for more
    } else value = input.value;
    const next = editValue(getText(), field.path, value);
    if (next === null) onError(`Could not set ${field.key} in the YAML.`);
    else setText(next);
  }

  function means(f, v) {
    if (f.kind === "checkbox") return f.input.checked === Boolean(v ?? f.def);
    if (f.kind === "select") return f.input.value === String(v ?? f.def ?? "");
    if (f.input.value === "") return v == null;
    return f.kind === "number" ? Number(f.input.value) === v : f.input.value === String(v);
  }

  // A select shows a value outside its choices through one extra, marked option.
  function selectValue(select, value) {
    const known = [...select.options].some((o) => !o.dataset.extra && o.value === value);
    let extra = [...select.options].find((o) => o.dataset.extra);
    if (known) extra?.remove();
    else {
      extra ??= select.appendChild(new Option());
      extra.dataset.extra = "true";
      extra.value = value;
      extra.textContent = `${value} (not allowed)`;
    }
    select.value = value;
  }

  return {
    /** Show the values of a parsed document; read-only while it does not parse. */
    update(doc) {
      const broken = doc.errors.length > 0;
      fieldset.disabled = broken;
      note.hidden = !broken;
      if (broken) return;
      for (const f of fields) {
        let v = doc.getIn(f.path);
        if (v !== null && typeof v === "object") v = undefined; // a mapping: not a form value
        // Leave a field being typed in alone while it already means the YAML's value.
        if (f.input === document.activeElement && means(f, v)) continue;
        if (f.kind === "checkbox") {
          f.input.indeterminate = v !== undefined && typeof v !== "boolean";
          f.input.checked = v === undefined ? Boolean(f.def) : v === true;
        } else if (f.kind === "select") selectValue(f.input, String(v ?? f.def ?? ""));
        else f.input.value = v == null ? "" : String(v);
      }
    },
    setShowPasswords(show) {
      for (const f of fields) if (f.kind === "password") f.input.type = show ? "text" : "password";
    },
  };
}
