//! A minimal cookie jar: what sticky load balancers need, nothing more.
//!
//! Cookies are kept per host (the server's host name, port ignored as browsers do) from
//! `Set-Cookie` headers: `name=value`, removed again by `Max-Age=0` (or negative) or an
//! `Expires` date in the past. Other attributes (`Path`, `Domain`, `Secure`, ...) are
//! ignored: the jar only ever sends a cookie back to the host that set it.
//!
//! The servers decide what goes in, so the jar is bounded the way browsers bound theirs
//! (RFC 6265, section 6.1): a cookie of more than [`MAX_COOKIE_SIZE`] bytes is ignored,
//! a host keeps at most [`MAX_COOKIES_PER_HOST`] cookies (the oldest goes first), and at
//! most [`MAX_COOKIE_HOSTS`] hosts are remembered (the one that set a cookie least recently goes
//! first). Whatever the servers send, the jar holds at most about 10 MB.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use http::HeaderValue;

/// The largest cookie kept, name and value together, in bytes (as browsers: 4096).
pub const MAX_COOKIE_SIZE: usize = 4096;

/// The most cookies kept for one host (RFC 6265 asks for at least 50); a new one beyond
/// replaces the oldest.
pub const MAX_COOKIES_PER_HOST: usize = 50;

/// The most hosts whose cookies are kept; a new one beyond replaces the host that set a
/// cookie least recently. (Hosts come from the configured address and from the control
/// links the server gives.)
pub const MAX_COOKIE_HOSTS: usize = 50;

/// The longest host name kept (as DNS: 255 bytes).
const MAX_HOST_LEN: usize = 255;

/// The cookies of one host.
#[derive(Default)]
struct HostCookies {
    /// (name, value), in the order they were first set.
    cookies: Vec<(String, String)>,
    /// When this host last set a cookie (a counter of the jar's).
    last_set: u64,
}

/// The jar's contents.
#[derive(Default)]
struct Jar {
    by_host: HashMap<String, HostCookies>,
    /// Counts the cookies set, to find the host that set one least recently.
    clock: u64,
}

/// The cookies received from the servers, sent back as `Cookie` to the same host.
///
/// Bounded like a browser's: see [`MAX_COOKIE_SIZE`], [`MAX_COOKIES_PER_HOST`] and
/// [`MAX_COOKIE_HOSTS`]. `Debug` shows hosts and cookie names, never values.
#[derive(Default)]
pub struct CookieJar {
    jar: Mutex<Jar>,
}

impl CookieJar {
    fn lock(&self) -> std::sync::MutexGuard<'_, Jar> {
        self.jar.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets (or replaces) a cookie for `host`, as if the server had set it. Within the
    /// limits: a cookie over [`MAX_COOKIE_SIZE`] is ignored, and the oldest cookie of the
    /// host (or the least recently used host) makes room when one is full.
    pub fn set(&self, host: &str, name: &str, value: &str) {
        if name.len() + value.len() > MAX_COOKIE_SIZE || host.len() > MAX_HOST_LEN {
            return;
        }
        let mut guard = self.lock();
        let jar = &mut *guard;
        let host = host.to_ascii_lowercase();
        if !jar.by_host.contains_key(&host) && jar.by_host.len() >= MAX_COOKIE_HOSTS {
            let oldest = jar
                .by_host
                .iter()
                .min_by_key(|(_, h)| h.last_set)
                .map(|(h, _)| h.clone());
            if let Some(oldest) = oldest {
                jar.by_host.remove(&oldest);
            }
        }
        jar.clock += 1;
        let entry = jar.by_host.entry(host).or_default();
        entry.last_set = jar.clock;
        let cookies = &mut entry.cookies;
        match cookies.iter_mut().find(|(n, _)| n == name) {
            Some(c) => c.1 = value.to_owned(),
            None => {
                if cookies.len() >= MAX_COOKIES_PER_HOST {
                    cookies.remove(0);
                }
                cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    /// Removes a cookie of `host`.
    pub fn remove(&self, host: &str, name: &str) {
        let mut jar = self.lock();
        if let Some(h) = jar.by_host.get_mut(&host.to_ascii_lowercase()) {
            h.cookies.retain(|(n, _)| n != name);
        }
    }

    /// The value of a cookie of `host`.
    pub fn get(&self, host: &str, name: &str) -> Option<String> {
        self.lock()
            .by_host
            .get(&host.to_ascii_lowercase())?
            .cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// The names of the cookies kept for `host`.
    pub fn names(&self, host: &str) -> Vec<String> {
        self.lock()
            .by_host
            .get(&host.to_ascii_lowercase())
            .map(|h| h.cookies.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    /// Forgets every cookie.
    pub fn clear(&self) {
        self.lock().by_host.clear();
    }

    /// The `Cookie` header for a request to `host`, if there is any cookie (marked
    /// sensitive, so `http`'s own `Debug` hides it too).
    pub(crate) fn header_for(&self, host: &str) -> Option<HeaderValue> {
        let jar = self.lock();
        let cookies = &jar.by_host.get(&host.to_ascii_lowercase())?.cookies;
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
        for (host, h) in &jar.by_host {
            m.entry(host, &h.cookies.iter().map(|(n, _)| n).collect::<Vec<_>>());
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
    fn the_jar_is_bounded_like_a_browser() {
        let jar = CookieJar::default();
        // Too big: ignored (the limit itself is fine).
        jar.store(
            "h",
            format!("big={}", "x".repeat(MAX_COOKIE_SIZE)).as_bytes(),
        );
        assert!(jar.names("h").is_empty());
        let fits = "y".repeat(MAX_COOKIE_SIZE - 3);
        jar.store("h", format!("fit={fits}").as_bytes());
        assert_eq!(jar.get("h", "fit"), Some(fits));
        // Per host: the oldest cookie makes room; replacing one does not.
        for i in 0..MAX_COOKIES_PER_HOST + 10 {
            jar.store("h", format!("c{i}=v").as_bytes());
        }
        let names = jar.names("h");
        assert_eq!(names.len(), MAX_COOKIES_PER_HOST);
        assert_eq!(names[0], "c10");
        jar.store("h", b"c10=w");
        assert_eq!(jar.names("h"), names);
        // Hosts: the one that set a cookie least recently makes room.
        for i in 0..MAX_COOKIE_HOSTS + 20 {
            jar.store(&format!("host{i}"), b"k=v");
            if i == 30 {
                jar.store("h", b"again=1"); // h is still in use
            }
        }
        assert_eq!(jar.lock().by_host.len(), MAX_COOKIE_HOSTS);
        assert!(jar.get("h", "again").is_some());
        assert!(jar.get("host0", "k").is_none() && jar.get("host20", "k").is_none());
        assert!(jar.get("host21", "k").is_some());
        assert!(
            jar.get(&format!("host{}", MAX_COOKIE_HOSTS + 19), "k")
                .is_some()
        );
        // A host name longer than DNS allows is not remembered.
        jar.set(&"a".repeat(300), "k", "v");
        assert_eq!(jar.lock().by_host.len(), MAX_COOKIE_HOSTS);
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
