//! A minimal cookie jar: what sticky load balancers need, nothing more.
//!
//! Cookies are kept per host (the server's host name, port ignored as browsers do) from
//! `Set-Cookie` headers: `name=value`, removed again by `Max-Age=0` (or negative) or an
//! `Expires` date in the past. Other attributes (`Path`, `Domain`, `Secure`, ...) are
//! ignored: the jar only ever sends a cookie back to the host that set it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use http::HeaderValue;

/// The cookies received from the servers, sent back as `Cookie` to the same host.
///
/// `Debug` shows hosts and cookie names, never values.
#[derive(Default)]
pub struct CookieJar {
    /// host -> (name, value), in the order they were set.
    by_host: Mutex<HashMap<String, Vec<(String, String)>>>,
}

impl CookieJar {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(String, String)>>> {
        self.by_host.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets (or replaces) a cookie for `host`, as if the server had set it.
    pub fn set(&self, host: &str, name: &str, value: &str) {
        let mut jar = self.lock();
        let cookies = jar.entry(host.to_ascii_lowercase()).or_default();
        match cookies.iter_mut().find(|(n, _)| n == name) {
            Some(c) => c.1 = value.to_owned(),
            None => cookies.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Removes a cookie of `host`.
    pub fn remove(&self, host: &str, name: &str) {
        let mut jar = self.lock();
        if let Some(cookies) = jar.get_mut(&host.to_ascii_lowercase()) {
            cookies.retain(|(n, _)| n != name);
        }
    }

    /// The value of a cookie of `host`.
    pub fn get(&self, host: &str, name: &str) -> Option<String> {
        self.lock()
            .get(&host.to_ascii_lowercase())?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// The names of the cookies kept for `host`.
    pub fn names(&self, host: &str) -> Vec<String> {
        self.lock()
            .get(&host.to_ascii_lowercase())
            .map(|c| c.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    /// Forgets every cookie.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The `Cookie` header for a request to `host`, if there is any cookie (marked
    /// sensitive, so `http`'s own `Debug` hides it too).
    pub(crate) fn header_for(&self, host: &str) -> Option<HeaderValue> {
        let jar = self.lock();
        let cookies = jar.get(&host.to_ascii_lowercase())?;
        if cookies.is_empty() {
            return None;
        }
        let mut s = String::new();
        for (name, value) in cookies {
            if !s.is_empty() {
                s.push_str("; ");
            }
            s.push_str(name);
            s.push('=');
            s.push_str(value);
        }
        let mut v = HeaderValue::from_str(&s).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// Applies one `Set-Cookie` header received from `host`. Malformed headers are ignored.
    pub(crate) fn store(&self, host: &str, set_cookie: &[u8]) {
        let Ok(text) = std::str::from_utf8(set_cookie) else {
            return;
        };
        let mut parts = text.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || !name.bytes().all(is_token_byte) || !value.bytes().all(is_value_byte)
        {
            return;
        }
        let mut max_age = None;
        let mut expires = None;
        for attr in parts {
            let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
            let key = key.trim();
            if key.eq_ignore_ascii_case("max-age") {
                max_age = val.trim().parse::<i64>().ok();
            } else if key.eq_ignore_ascii_case("expires") {
                expires = httpdate::parse_http_date(val.trim()).ok();
            }
        }
        // Max-Age wins over Expires (RFC 6265, 5.3 step 3).
        let expired = match (max_age, expires) {
            (Some(age), _) => age <= 0,
            (None, Some(when)) => when <= SystemTime::now(),
            (None, None) => false,
        };
        if expired {
            self.remove(host, name);
        } else {
            self.set(host, name, value);
        }
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

fn is_value_byte(b: u8) -> bool {
    b.is_ascii_graphic() && b != b';'
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jar = self.lock();
        let mut m = f.debug_map();
        for (host, cookies) in jar.iter() {
            m.entry(host, &cookies.iter().map(|(n, _)| n).collect::<Vec<_>>());
        }
        m.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_is_kept_per_host_and_deleted_on_expiry() {
        let jar = CookieJar::default();
        jar.store("ls.example", b"AWSALB=node-7; Path=/; HttpOnly; Secure");
        jar.store("ls.example", b"other=1; Max-Age=3600");
        jar.store("elsewhere", b"x=2");
        assert_eq!(
            jar.header_for("LS.example").unwrap().to_str().unwrap(),
            "AWSALB=node-7; other=1"
        );
        jar.store("ls.example", b"AWSALB=node-8");
        assert_eq!(jar.get("ls.example", "AWSALB").as_deref(), Some("node-8"));
        jar.store("ls.example", b"other=; Max-Age=0");
        assert_eq!(jar.names("ls.example"), ["AWSALB"]);
        jar.store(
            "ls.example",
            b"AWSALB=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        );
        assert!(jar.header_for("ls.example").is_none());
        // Max-Age wins over a past Expires.
        jar.store(
            "ls.example",
            b"k=v; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60",
        );
        assert_eq!(jar.get("ls.example", "k").as_deref(), Some("v"));
        assert_eq!(jar.get("elsewhere", "x").as_deref(), Some("2"));
    }

    #[test]
    fn malformed_set_cookie_is_ignored_and_debug_hides_values() {
        let jar = CookieJar::default();
        jar.store("h", b"novalue");
        jar.store("h", b"=empty-name");
        jar.store("h", b"bad name=1");
        jar.store("h", b"\xff=1");
        assert!(jar.names("h").is_empty());
        jar.set("h", "session", "very-secret-value");
        let debug = format!("{jar:?}");
        assert!(
            debug.contains("session") && !debug.contains("very-secret-value"),
            "{debug}"
        );
        let header = jar.header_for("h").unwrap();
        assert!(!format!("{header:?}").contains("very-secret-value"));
    }
}
