// "Only my changes": the values that differ from the defaults, as read-only YAML.
import { stringify } from "yaml";
import { changes, data, isObject, isPasswordKey } from "./values.js";

function maskPasswords(v) {
  if (Array.isArray(v)) return v.map(maskPasswords);
  if (!isObject(v)) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, isPasswordKey(k) && typeof x === "string" ? "•••••" : maskPasswords(x)]));
}

export function createChanges({ button, output, defaults }) {
  let lastDoc = null;
  let showPasswords = false;

  function render() {
    if (output.hidden || !lastDoc) return;
    const values = data(lastDoc);
    if (values === null) {
      output.textContent = "# The YAML does not parse yet.";
      return;
    }
    const diff = changes(values, defaults);
    output.textContent = diff === undefined
      ? "# Everything is at its default."
      : stringify(showPasswords ? diff : maskPasswords(diff));
  }

  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(open));
    output.hidden = !open;
    render();
  });

  return {
    update(doc) {
      lastDoc = doc;
      render();
    },
    setShowPasswords(show) {
      showPasswords = show;
      render();
    },
  };
}
