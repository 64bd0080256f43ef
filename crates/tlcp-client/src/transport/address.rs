//! The address of a Lightstreamer server.

use std::fmt;
use std::str::FromStr;

use super::TransportError;

/// Where a Lightstreamer server listens: `http://host[:port][/path]` or
/// `https://host[:port][/path]` (`ws://` and `wss://` are accepted as synonyms).
///
/// The optional path is a prefix put before `/lightstreamer` (for servers behind a
/// reverse proxy that routes on a path). Credentials in the address (`user:pass@host`),
/// queries and fragments are refused.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServerAddress {
    secure: bool,
    /// Host name or IP address, without brackets.
    host: String,
    port: u16,
    /// Empty, or a path starting with `/` and not ending with one.
    base_path: String,
}

impl ServerAddress {
    /// Parses an address; same as [`str::parse`].
    pub fn parse(address: &str) -> Result<Self, TransportError> {
        let invalid = |reason: &str| TransportError::InvalidAddress(reason.to_owned());
        let uri: http::Uri = address
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let secure = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("ws") => false,
            Some(s) if s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("wss") => true,
            Some(_) => return Err(invalid("the scheme must be http, https, ws or wss")),
            None => return Err(invalid("the address needs a scheme (http:// or https://)")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| invalid("the address has no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid(
                "credentials in the address are not supported (they would leak into logs)",
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(invalid("the address has no host"));
        }
        if uri.query().is_some() || address.contains('#') {
            return Err(invalid("the address must not have a query or fragment"));
        }
        let port = authority
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            secure,
            host,
            port,
            base_path,
        })
    }

    /// Whether the connection uses TLS (`https`/`wss`).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path prefix before `/lightstreamer` (empty for none).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// The `Host` header value: the host (IPv6 in brackets) and the port when it is not
    /// the default of the scheme.
    pub(crate) fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.secure { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The WebSocket path: `<base>/lightstreamer`.
    pub(crate) fn ws_path(&self) -> String {
        format!("{}/lightstreamer", self.base_path)
    }

    /// The path and query of an HTTP request named `name` (`create_session`, `control`,
    /// ...): `<base>/lightstreamer/<name>.txt?LS_protocol=TLCP-<v>[&<query>]`.
    ///
    /// Fails if `name` or `query` holds spaces or control characters (which would let them
    /// rewrite the request head).
    pub(crate) fn request_target(
        &self,
        name: &str,
        protocol: &str,
        query: &str,
    ) -> Result<String, TransportError> {
        if [name, query]
            .iter()
            .any(|s| s.bytes().any(|b| b <= b' ' || b == 0x7f))
        {
            return Err(TransportError::InvalidConfig(
                "request name or query with spaces or control characters".to_owned(),
            ));
        }
        let query = query.trim_start_matches(['&', '?']);
        let sep = if query.is_empty() { "" } else { "&" };
        Ok(format!(
            "{}/lightstreamer/{name}.txt?LS_protocol={protocol}{sep}{query}",
            self.base_path
        ))
    }
}

impl FromStr for ServerAddress {
    type Err = TransportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{scheme}://{host}:{}{}", self.port, self.base_path)
    }
}

impl fmt::Debug for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerAddress({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes_ports_and_paths() {
        let a = ServerAddress::parse("https://Push.Example.com").unwrap();
        assert!(a.is_secure());
        assert_eq!(
            (a.host(), a.port(), a.base_path()),
            ("push.example.com", 443, "")
        );
        assert_eq!(a.host_header(), "push.example.com");
        let a = ServerAddress::parse("ws://127.0.0.1:8080/ls/").unwrap();
        assert!(!a.is_secure());
        assert_eq!((a.port(), a.base_path()), (8080, "/ls"));
        assert_eq!(a.host_header(), "127.0.0.1:8080");
        assert_eq!(a.ws_path(), "/ls/lightstreamer");
        assert_eq!(
            a.request_target("control", "TLCP-2.5.0", "&LS_session=S1")
                .unwrap(),
            "/ls/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=S1"
        );
        assert_eq!(
            a.request_target("create_session", "TLCP-2.4.0", "")
                .unwrap(),
            "/ls/lightstreamer/create_session.txt?LS_protocol=TLCP-2.4.0"
        );
        for bad in ["a b", "a\r\nX-Injected: 1"] {
            assert!(a.request_target("control", "TLCP-2.5.0", bad).is_err());
            assert!(a.request_target(bad, "TLCP-2.5.0", "").is_err());
        }
        let a = ServerAddress::parse("http://[::1]:9000").unwrap();
        assert_eq!(a.host(), "::1");
        assert_eq!(a.host_header(), "[::1]:9000");
        assert_eq!(a.to_string(), "http://[::1]:9000");
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "push.example.com",
            "ftp://x",
            "http://user:secret@host",
            "http://host/?a=1",
            "http://host/#x",
        ] {
            let e = ServerAddress::parse(bad).unwrap_err();
            assert!(matches!(e, TransportError::InvalidAddress(_)), "{bad}: {e}");
            assert!(!e.to_string().contains("secret"));
        }
    }
}
