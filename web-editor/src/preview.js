// The rendered Control Plane manifests, the equivalent CLI command, Copy and Download.

/** Saves `text` as a file named `name` through a temporary object URL. */
export function download(text, name, type = "application/yaml") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a).click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function createPreview({ els, onRelease, report }) {
  let yamlText = null;

  els.copy.addEventListener("click", async () => {
    if (yamlText === null) return;
    try {
      await navigator.clipboard.writeText(yamlText);
      report("Manifests copied to the clipboard.");
    } catch (e) {
      report(`Could not copy: ${e.message}`, "error");
    }
  });
  els.download.addEventListener("click", () => {
    if (yamlText !== null) download(yamlText, `${release().name}.cpln.yaml`);
  });
  els.name.addEventListener("input", onRelease);
  els.gvc.addEventListener("input", onRelease);

  function release() {
    return { name: els.name.value.trim(), gvc: els.gvc.value.trim() };
  }

  return {
    release,
    /** Renders `text` with `editor` (the WASM ValuesEditor); returns the result or null. */
    update(editor, text) {
      const { name, gvc } = release();
      els.cli.textContent = `cpln-postgres-ha render ${name} -f values.yaml --gvc ${gvc} | cpln apply -f -`;
      let rendered = null;
      let problem = "";
      try {
        rendered = editor.render(text, name, gvc);
      } catch (e) {
        problem = e.message || String(e);
      }
      els.error.textContent = problem;
      els.error.hidden = !problem;
      yamlText = rendered?.yaml ?? null;
      if (yamlText !== null) {
        els.yaml.textContent = yamlText;
        els.yaml.dataset.state = "ok";
      } else {
        els.yaml.textContent = problem
          ? "No manifests: the release name or GVC is not valid."
          : "No manifests: the values have errors (see Problems).";
        els.yaml.dataset.state = problem ? "bad-name" : "errors";
      }
      els.copy.disabled = els.download.disabled = yamlText === null;
      return rendered;
    },
  };
}
