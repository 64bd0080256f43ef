//! JSON lines (`--format jsonl`): one object per line, stable field names and order.
//!
//! The objects are assembled by hand so that keys keep the documented order (`event`
//! first); strings are escaped by `serde_json`.

use std::fmt::Write as _;

/// One line being built: `{"event":"<name>", ...}`.
pub(crate) struct Line {
    buf: String,
}

impl Line {
    /// Starts `{"event":"<event>"`.
    pub(crate) fn event(event: &str) -> Self {
        let mut buf = String::with_capacity(128);
        buf.push_str("{\"event\":");
        push_str(&mut buf, event);
        Self { buf }
    }

    /// Adds `"key":"value"`.
    pub(crate) fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_str(&mut self.buf, value);
        self
    }

    /// Adds `"key":"value"` or `"key":null`.
    pub(crate) fn opt_str(mut self, key: &str, value: Option<&str>) -> Self {
        self.key(key);
        push_opt(&mut self.buf, value);
        self
    }

    /// Adds `"key":<number>`.
    pub(crate) fn num(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.key(key);
        let _ = write!(self.buf, "{value}");
        self
    }

    /// Adds `"key":<json>`, `json` being already valid JSON (a nested object).
    pub(crate) fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.buf.push_str(json);
        self
    }

    /// Adds `"key":true|false`.
    pub(crate) fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// Adds `"key":{"name":value-or-null,...}` in the given order.
    pub(crate) fn fields<'a>(
        mut self,
        key: &str,
        fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Self {
        self.key(key);
        self.buf.push('{');
        for (i, (name, value)) in fields.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            push_str(&mut self.buf, name);
            self.buf.push(':');
            push_opt(&mut self.buf, value);
        }
        self.buf.push('}');
        self
    }

    /// Adds `"key":["a","b",...]`.
    pub(crate) fn list<'a>(mut self, key: &str, items: impl IntoIterator<Item = &'a str>) -> Self {
        self.key(key);
        self.buf.push('[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            push_str(&mut self.buf, item);
        }
        self.buf.push(']');
        self
    }

    /// The finished line, without the line end.
    pub(crate) fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }

    fn key(&mut self, key: &str) {
        self.buf.push(',');
        push_str(&mut self.buf, key);
        self.buf.push(':');
    }
}

fn push_str(buf: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(q) => buf.push_str(&q),
        Err(_) => buf.push_str("\"\""),
    }
}

fn push_opt(buf: &mut String, v: Option<&str>) {
    match v {
        Some(s) => push_str(buf, s),
        None => buf.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_line_has_the_documented_shape() {
        let line = Line::event("update")
            .str("item", "item1")
            .num("pos", 1)
            .bool("snapshot", true)
            .fields("fields", [("last_price", Some("3.04")), ("open", None)])
            .list("changed", ["last_price"])
            .finish();
        assert_eq!(
            line,
            r#"{"event":"update","item":"item1","pos":1,"snapshot":true,"fields":{"last_price":"3.04","open":null},"changed":["last_price"]}"#
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["fields"]["open"], serde_json::Value::Null);
    }

    #[test]
    fn strings_are_escaped() {
        let line = Line::event("server_error")
            .num("code", -3)
            .str("message", "a \"quoted\"\nline")
            .opt_str("x", None)
            .finish();
        assert_eq!(
            line,
            r#"{"event":"server_error","code":-3,"message":"a \"quoted\"\nline","x":null}"#
        );
    }
}
