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
/// objects or arrays that every client writes back as the same text (see `portable` in this module)
/// and the patch only replaces or removes object members (or edits arrays): then applying
/// it gives back `new` exactly, in this crate and in the official clients. Otherwise
/// appends nothing and returns `false`.
pub fn encode(old: &str, new: &str, out: &mut String) -> bool {
    portable(old).is_some_and(|old_v| encode_from(old_v, new, out))
}

/// [`encode`], with `old` already parsed by [`portable`].
pub(crate) fn encode_from(old_v: Value, new: &str, out: &mut String) -> bool {
    let Some(new_v) = portable(new) else {
        return false;
    };
    let patch = json_patch::diff(&old_v, &new_v);
    let mut doc = old_v;
    for op in &patch.0 {
        // The official clients keep object members in insertion order: a member added
        // by a patch goes last there, not where the sorted text has it.
        let inserts_member = match op {
            json_patch::PatchOperation::Add(a) => {
                let path = a.path.as_str();
                let parent = &path[..path.rfind('/').unwrap_or(0)];
                doc.pointer(parent).is_none_or(Value::is_object)
            }
            json_patch::PatchOperation::Move(_) | json_patch::PatchOperation::Copy(_) => true,
            _ => false,
        };
        if inserts_member || json_patch::patch(&mut doc, std::slice::from_ref(op)).is_err() {
            return false;
        }
    }
    // The text the decoder would produce must be `new` exactly.
    let patched = doc.to_string();
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

/// Parses `s` when it is a JSON object or array that the official clients (JavaScript's
/// `JSON.stringify`, Python's `json.dumps`) and this crate all serialize back to `s`
/// itself, so that a field patched with `^P` shows exactly the text the server has:
///
/// * compact, with sorted object keys and no duplicates (this crate's own serialization);
/// * printable ASCII only (Python escapes every other character as `\uXXXX`);
/// * numbers are integers of at most 53 bits (JavaScript prints `1.0` as `1`, `1e21` as
///   `1e+21`, and rounds larger integers);
/// * no object key is an array index such as `"9"` (JavaScript lists those first, in
///   numeric order).
///
/// A client holds a field patched with `^P` as parsed JSON and refuses a `^T` diff for it
/// until it gets a whole value again: so a value that passes this check is never the base
/// of a `^T` diff.
pub(crate) fn portable(s: &str) -> Option<Value> {
    if !s.starts_with(['{', '[']) || !s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return None;
    }
    let v: Value = serde_json::from_str(s).ok()?;
    if !portable_value(&v) {
        return None;
    }
    let canonical = v.to_string();
    (canonical == s).then_some(v)
}

fn portable_value(v: &Value) -> bool {
    const MAX_SAFE: u64 = (1 << 53) - 1;
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(|u| u <= MAX_SAFE)
            .or_else(|| n.as_i64().map(|i| i.unsigned_abs() <= MAX_SAFE))
            .unwrap_or(false),
        Value::Array(a) => a.iter().all(portable_value),
        Value::Object(o) => o
            .iter()
            .all(|(k, v)| !is_array_index(k) && portable_value(v)),
        Value::Null | Value::Bool(_) | Value::String(_) => true,
    }
}

/// Whether `k` is a canonical array index (`0`, `1`, ... below 2^32 - 1), which JavaScript
/// orders before every other key of an object.
fn is_array_index(k: &str) -> bool {
    !k.is_empty()
        && k.bytes().all(|b| b.is_ascii_digit())
        && (k == "0" || !k.starts_with('0'))
        && k.parse::<u64>().is_ok_and(|n| n < u64::from(u32::MAX))
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

    #[test]
    fn encodes_only_what_the_official_clients_write_back_the_same() {
        let mut out = String::new();
        for (old, new) in [
            // Python writes non-ASCII as \uXXXX, and escapes DEL.
            (r#"{"a":1,"e":"café"}"#, r#"{"a":2,"e":"café"}"#),
            ("{\"a\":1,\"d\":\"\u{7f}\"}", "{\"a\":2,\"d\":\"\u{7f}\"}"),
            // JavaScript writes 2.0 as 2, 1e21 as 1e+21, rounds beyond 2^53.
            (r#"{"a":1.0,"b":1}"#, r#"{"a":2.0,"b":1}"#),
            (r#"{"a":1,"b":1e21}"#, r#"{"a":2,"b":1e21}"#),
            (
                r#"{"a":1,"b":9007199254740993}"#,
                r#"{"a":2,"b":9007199254740993}"#,
            ),
            // JavaScript puts array-index keys first.
            (r#"{"10":1,"9":1}"#, r#"{"10":2,"9":1}"#),
            // Both put a member added by a patch last.
            (r#"{"a":1,"z":1}"#, r#"{"a":1,"m":1,"z":1}"#),
        ] {
            assert!(!encode(old, new, &mut out), "{old} -> {new}: {out}");
        }
        assert!(out.is_empty());
        for (old, new) in [
            (r#"{"a":1,"z":1}"#, r#"{"a":2,"z":-9007199254740991}"#),
            (r#"{"a":1,"z":1}"#, r#"{"z":1}"#),
            (
                r#"{"a":[1,2],"z":{"k":"v"}}"#,
                r#"{"a":[1,3,2],"z":{"k":"w"}}"#,
            ),
            (r#"{"a":"x","z":1}"#, r#"{"a":"y\u0001\"\\","z":2}"#),
        ] {
            out.clear();
            assert!(encode(old, new, &mut out), "{old} -> {new}");
            assert_eq!(run(old, &out).as_deref(), Ok(new), "{out}");
        }
    }
}
