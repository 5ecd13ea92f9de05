//! postgres-ha core: the values model, its schema, the HA rules, rendering
//! ([`render`]) and the planning of day-2 operations ([`operate`]). Pure: no I/O, no
//! printing, no clock; builds for `wasm32-unknown-unknown`.
//!
//! The entry point is [`check`]: values file bytes in, [`Checked`] out.

// The public API: the check entry point and its diagnostics at the root, and five
// modules a consumer works with — the values model, rendering, day-2 planning, the
// Control Plane target's requests and the local target's layout. Everything else is private; each module's `pub use` list
// says what leaves it.
pub mod cpln;
pub mod import;
pub mod local;
pub mod operate;
pub mod render;
pub mod values;

mod check;
mod codes;
mod credentials;
mod diagnostic;
mod limits;
mod pg_parameters;
mod pg_settings;
mod quantity;
mod rules;
mod schema;
mod secrets;
mod yaml;

pub use check::{Checked, check, check_changed, check_str};
pub use codes::Code;
pub use credentials::{
    CredentialsFile, FILE_SUFFIX as CREDENTIALS_FILE_SUFFIX, check_credentials,
    file_name as credentials_file_name, internal_password_problem,
};
pub use diagnostic::{
    Diagnostic, Encoding, InEncoding, LineIndex, MAX_DIAGNOSTICS, Position, Severity, Span,
};
pub use rules::MIN_PASSWORD_CHARS;
pub use schema::schema_json;
pub use secrets::Redactor;
pub use values::Values;
pub use yaml::{MAX_BYTES, replace_scalar};
