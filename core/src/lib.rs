//! postgres-ha core: the values model, its schema, the HA rules, rendering
//! ([`render`]) and the planning of day-2 operations ([`operate`]). Pure: no I/O, no
//! printing, no clock; builds for `wasm32-unknown-unknown`.
//!
//! The entry point is [`check`]: values file bytes in, [`Checked`] out.

pub mod codes;
pub mod credentials;
pub mod diagnostic;
pub mod limits;
pub mod local;
pub mod operate;
pub mod pg_parameters;
mod pg_settings;
pub mod quantity;
pub mod render;
pub mod schema;
pub mod secrets;
pub mod values;
pub mod yaml;

mod check;
mod rules;

pub use check::{Checked, check, check_changed, check_str};
pub use codes::Code;
pub use diagnostic::{Diagnostic, LineIndex, MAX_DIAGNOSTICS, Position, Severity, Span};
pub use rules::MIN_PASSWORD_CHARS;
pub use values::Values;
