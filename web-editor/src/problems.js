// The problems list under the editor and the error/warning count.
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * Fills `list` with one focusable item per diagnostic; clicking an item or pressing
 * Enter on it calls `pick(diagnostic)`. `explain(code)` supplies a tooltip summary.
 */
export function showProblems(list, count, diagnostics, { pick, explain }) {
  const items = diagnostics.map((d) => {
    const li = document.createElement("li");
    Object.assign(li.dataset, { code: d.code, severity: d.severity, line: d.line, column: d.column, path: d.path });
    li.tabIndex = 0;
    li.setAttribute("role", "button");
    const summary = explain(d.code)?.summary;
    if (summary) li.title = `${d.code}: ${summary}`;
    const head = li.appendChild(document.createElement("div"));
    head.className = "problem-head";
    const sev = head.appendChild(document.createElement("span"));
    sev.className = `severity ${d.severity}`;
    sev.textContent = d.severity;
    head.appendChild(document.createElement("code")).textContent = d.code;
    head.appendChild(document.createElement("span")).textContent = d.message;
    const where = head.appendChild(document.createElement("span"));
    where.className = "where";
    where.textContent = `${d.line}:${d.column}`;
    if (d.help) {
      const help = li.appendChild(document.createElement("div"));
      help.className = "help";
      help.textContent = d.help;
    }
    li.addEventListener("click", () => pick(d));
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        pick(d);
      }
    });
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = "No problems.";
    items.push(li);
  }
  list.replaceChildren(...items);

  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.filter((d) => d.severity === "warning").length;
  const infos = diagnostics.length - errors - warnings;
  count.dataset.errors = errors;
  count.dataset.warnings = warnings;
  count.textContent = diagnostics.length
    ? [plural(errors, "error"), plural(warnings, "warning"), infos ? plural(infos, "note") : ""].filter(Boolean).join(", ")
    : "No errors or warnings";
}
