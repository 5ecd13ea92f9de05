//! postgres-ha's core for JavaScript: one class, `ValuesEditor`, whose answers are
//! plain objects (absent fields are `null`, never `undefined`). Bad values come back
//! as diagnostics; misuse (an unknown encoding, a non-string argument) throws.
//!
//! The work is done by the plain functions of [`editor`], which build serializable
//! answers and are tested natively; this file only converts at the boundary.

mod editor;

use serde::Serialize;
use wasm_bindgen::prelude::*;

pub use editor::{Answer, Editor, Explanation, JsDiagnostic, JsRange, Rendered};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Where the columns of a position count: UTF-16 code units (JavaScript strings),
 *  UTF-8 bytes or Unicode scalar values. */
export type PositionEncoding = "utf16" | "utf8" | "scalar";

export type Severity = "error" | "warning" | "info";

/** One finding; lines and columns are 1-based, the end exclusive. */
export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  /** JSON pointer of the value concerned; "" for the document. */
  path: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  help: string | null;
}

/** A stretch of text; lines and columns as in Diagnostic. */
export interface TextRange {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

export interface Rendered {
  diagnostics: Diagnostic[];
  /** The Control Plane resources in apply order, secret data hidden; null while the
   *  values have errors. */
  manifests: Record<string, unknown>[] | null;
  /** The same resources as `cpln apply -f` takes them. */
  yaml: string | null;
}

export interface Explanation {
  code: string;
  name: string;
  severity: Severity;
  summary: string;
  documentation: string;
}
"#;

/// Checks, renders and documents values files, with columns counted in the encoding
/// given to the constructor.
#[wasm_bindgen]
pub struct ValuesEditor(Editor);

#[wasm_bindgen]
impl ValuesEditor {
    /// `encoding`: `"utf16"` (JavaScript strings), `"utf8"` or `"scalar"`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "PositionEncoding")] encoding: &JsValue,
    ) -> Result<ValuesEditor, JsError> {
        Ok(Self(Editor::new(&string(encoding, "encoding")?)?))
    }

    /// The diagnostics of a values file, in source order.
    #[wasm_bindgen(unchecked_return_type = "Diagnostic[]")]
    pub fn check(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: &JsValue,
    ) -> Result<JsValue, JsError> {
        to_js(&self.0.check(&string(text, "text")?))
    }

    /// Where `text` holds what must not be shown or shared (secret values, and text
    /// that cannot be proven free of one); empty when it may be shared as it is.
    #[wasm_bindgen(unchecked_return_type = "TextRange[]")]
    pub fn secrets(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: &JsValue,
    ) -> Result<JsValue, JsError> {
        to_js(&self.0.secrets(&string(text, "text")?))
    }

    /// The release's Control Plane resources (secret data hidden) and the values'
    /// diagnostics; `manifests` and `yaml` are `null` while the values have errors.
    #[wasm_bindgen(unchecked_return_type = "Rendered")]
    pub fn render(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] text: &JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] name: &JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] gvc: &JsValue,
    ) -> Result<JsValue, JsError> {
        let rendered = self.0.render(
            &string(text, "text")?,
            &string(name, "name")?,
            &string(gvc, "gvc")?,
        )?;
        to_js(&rendered)
    }

    /// `values.schema.json`, as an object.
    #[wasm_bindgen(unchecked_return_type = "Record<string, unknown>")]
    pub fn schema(&self) -> Result<JsValue, JsError> {
        to_js(&Editor::schema())
    }

    /// Every value at its default, as an object.
    #[wasm_bindgen(unchecked_return_type = "Record<string, unknown>")]
    pub fn defaults(&self) -> Result<JsValue, JsError> {
        to_js(&Editor::defaults())
    }

    /// A code's documentation (`R003`, or its name), or `null` for an unknown code.
    #[wasm_bindgen(unchecked_return_type = "Explanation | null")]
    pub fn explain(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] code: &JsValue,
    ) -> Result<JsValue, JsError> {
        to_js(&Editor::explain(&string(code, "code")?))
    }

    /// The largest values file, in UTF-8 bytes.
    #[wasm_bindgen(getter = maxBytes)]
    #[must_use]
    pub fn max_bytes(&self) -> usize {
        postgres_ha_core::MAX_BYTES
    }

    /// This build's version.
    #[must_use]
    pub fn version(&self) -> String {
        Editor::version().to_owned()
    }
}

fn string(value: &JsValue, what: &str) -> Result<String, JsError> {
    value
        .as_string()
        .ok_or_else(|| JsError::new(&format!("{what} must be a string")))
}

fn to_js(value: &impl Serialize) -> Result<JsValue, JsError> {
    let serializer = serde_wasm_bindgen::Serializer::new()
        .serialize_missing_as_null(true)
        .serialize_maps_as_objects(true);
    value
        .serialize(&serializer)
        .map_err(|e| JsError::new(&e.to_string()))
}

impl From<editor::Misuse> for JsError {
    fn from(misuse: editor::Misuse) -> Self {
        JsError::new(&misuse.0)
    }
}
