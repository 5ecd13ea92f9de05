// Compiled, not run (scripts/test.sh: tsc --noEmit): the package's TypeScript types
// describe the answers precisely enough that misuse fails to compile.
import init, {
  ValuesEditor,
  type Diagnostic,
  type Explanation,
  type Rendered,
} from "../pkg/postgres_ha_wasm.js";

export async function typed(): Promise<number> {
  await init();
  const editor = new ValuesEditor("utf16");
  const diagnostics: Diagnostic[] = editor.check("replicas: 3\n");
  const first = diagnostics[0];
  const help: string | null = first === undefined ? null : first.help;
  const rendered: Rendered = editor.render("replicas: 3\n", "db", "prod");
  const yaml: string | null = rendered.yaml;
  const explained: Explanation | null = editor.explain("R003");
  // @ts-expect-error: encodings are named
  new ValuesEditor("latin1");
  // @ts-expect-error: text is a string
  editor.check(42);
  if (first !== undefined) {
    // @ts-expect-error: help may be null
    const text: string = first.help;
    void text;
  }
  return (help?.length ?? 0) + (yaml?.length ?? 0) + (explained?.code.length ?? 0);
}
