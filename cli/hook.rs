// The same CLI, built by the root package for pre-commit's `language: rust` (see Cargo.toml).
fn main() -> std::process::ExitCode {
    cpln_postgres_ha::main()
}
