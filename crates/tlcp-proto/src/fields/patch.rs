//! JSON Patch (`^P` field entries, TLCP 2.4.0+).
//!
//! The entry carries an RFC 6902 patch; it applies to the field's previous value parsed as
//! JSON, and the new value is the result serialized compactly (no whitespace).
//!
//! Object keys come out sorted: this crate's `serde_json` keeps objects in key order (its
//! `preserve_order` feature is off), where the official clients keep insertion order. The
//! JSON is the same; the text may differ from what an official client shows.
//!
//! ```
//! use tlcp_proto::fields::patch;
//! let mut out = String::new();
//! patch::apply(r#"{"a":1}"#, r#"[{"op":"add","path":"/b","value":[2]}]"#, &mut out).unwrap();
//! assert_eq!(out, r#"{"a":1,"b":[2]}"#);
//! ```

use serde_json::Value;

/// A JSON Patch that does not apply to its base value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The previous value is not JSON.
    #[error("the previous value is not JSON: {0}")]
    BaseNotJson(String),
    /// The entry is not an RFC 6902 patch.
    #[error("not a JSON Patch: {0}")]
    InvalidPatch(String),
    /// An operation of the patch failed (bad path, failed `test`, ...).
    #[error("{0}")]
    Failed(String),
}

/// Applies `patch` (already percent-decoded) to `base` and appends the compact JSON result to
/// `out`. On error `out` is unchanged.
pub fn apply(base: &str, patch: &str, out: &mut String) -> Result<(), PatchError> {
    let mut doc: Value =
        serde_json::from_str(base).map_err(|e| PatchError::BaseNotJson(e.to_string()))?;
    let patch: json_patch::Patch =
        serde_json::from_str(patch).map_err(|e| PatchError::InvalidPatch(e.to_string()))?;
    json_patch::patch(&mut doc, &patch.0).map_err(|e| PatchError::Failed(e.to_string()))?;
    out.push_str(&doc.to_string());
    Ok(())
}

/// Appends to `out` a patch turning `old` into `new` and returns `true`, when both are JSON
/// objects or arrays and applying the patch to `old` gives back `new` exactly (so `new` must
/// be compact JSON with sorted keys). Otherwise appends nothing and returns `false`.
pub fn encode(old: &str, new: &str, out: &mut String) -> bool {
    fn container(s: &str) -> Option<Value> {
        if !s.trim_start().starts_with(['{', '[']) {
            return None;
        }
        serde_json::from_str::<Value>(s)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
    }
    let (Some(mut old_v), Some(new_v)) = (container(old), container(new)) else {
        return false;
    };
    let patch = json_patch::diff(&old_v, &new_v);
    if json_patch::patch(&mut old_v, &patch.0).is_err() {
        return false;
    }
    // The text the decoder would produce must be `new` exactly.
    let patched = old_v.to_string();
    if patched != new {
        return false;
    }
    match serde_json::to_string(&patch) {
        Ok(s) => {
            out.push_str(&s);
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(base: &str, patch: &str) -> Result<String, PatchError> {
        let mut out = String::new();
        apply(base, patch, &mut out).map(|()| out)
    }

    #[test]
    fn applies_rfc6902_operations() {
        let base = r#"{"name":"x","tags":["a","b"],"n":1}"#;
        let cases = [
            (
                r#"[{"op":"replace","path":"/n","value":2}]"#,
                r#"{"n":2,"name":"x","tags":["a","b"]}"#,
            ),
            (
                r#"[{"op":"remove","path":"/tags/0"}]"#,
                r#"{"n":1,"name":"x","tags":["b"]}"#,
            ),
            (
                r#"[{"op":"add","path":"/tags/-","value":"c"}]"#,
                r#"{"n":1,"name":"x","tags":["a","b","c"]}"#,
            ),
            (
                r#"[{"op":"move","from":"/name","path":"/id"}]"#,
                r#"{"id":"x","n":1,"tags":["a","b"]}"#,
            ),
            (
                r#"[{"op":"copy","from":"/n","path":"/m"}]"#,
                r#"{"m":1,"n":1,"name":"x","tags":["a","b"]}"#,
            ),
            (
                r#"[{"op":"test","path":"/n","value":1}]"#,
                r#"{"n":1,"name":"x","tags":["a","b"]}"#,
            ),
            ("[]", r#"{"n":1,"name":"x","tags":["a","b"]}"#),
            (r#"[{"op":"replace","path":"","value":"s"}]"#, r#""s""#),
        ];
        for (patch, want) in cases {
            assert_eq!(run(base, patch).as_deref(), Ok(want), "{patch}");
        }
        assert_eq!(
            run("3", r#"[{"op":"replace","path":"","value":4}]"#).as_deref(),
            Ok("4")
        );
    }

    #[test]
    fn rejects_what_does_not_apply() {
        assert!(matches!(
            run("not json", "[]"),
            Err(PatchError::BaseNotJson(_))
        ));
        assert!(matches!(run("{}", "{"), Err(PatchError::InvalidPatch(_))));
        assert!(matches!(
            run("{}", r#"[{"op":"nope","path":"/a"}]"#),
            Err(PatchError::InvalidPatch(_))
        ));
        assert!(matches!(
            run("{}", r#"[{"op":"remove","path":"/a"}]"#),
            Err(PatchError::Failed(_))
        ));
        assert!(matches!(
            run(r#"{"a":1}"#, r#"[{"op":"test","path":"/a","value":2}]"#),
            Err(PatchError::Failed(_))
        ));
    }

    #[test]
    fn encodes_only_exact_round_trips() {
        let mut out = String::new();
        assert!(encode(
            r#"{"a":1,"b":[1,2,3]}"#,
            r#"{"a":1,"b":[1,2,3,4]}"#,
            &mut out
        ));
        assert_eq!(
            run(r#"{"a":1,"b":[1,2,3]}"#, &out).as_deref(),
            Ok(r#"{"a":1,"b":[1,2,3,4]}"#)
        );
        out.clear();
        // Not compact / not sorted: the patch would not reproduce the text.
        assert!(!encode(r#"{"a":1}"#, r#"{"b":1, "a":2}"#, &mut out));
        assert!(!encode(r#"{"a":1}"#, r#"{"b":1,"a":2}"#, &mut out));
        assert!(!encode("1", "2", &mut out));
        assert!(!encode("[1]", "x", &mut out));
        assert!(out.is_empty());
    }
}
