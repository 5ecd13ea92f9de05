fn main() -> std::process::ExitCode {
    cpln_postgres_ha::main()
}
