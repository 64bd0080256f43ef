//! Proxy tunnels: HTTP `CONNECT` (with `Proxy-Authorization: Basic`) and SOCKS5 (RFC 1928,
//! username/password authentication of RFC 1929).
//!
//! Both run on a connected stream before anything else (TLS included) and leave it as a
//! tunnel to the target. Neither reads past the proxy's answer.

use std::net::IpAddr;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Proxy, ProxyKind, TransportError};

/// Asks `proxy`, on `io` (connected to the proxy), for a tunnel to `host:port`.
pub(crate) async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<(), TransportError> {
    match proxy.kind() {
        ProxyKind::HttpConnect => http_connect(io, proxy, host, port).await,
        ProxyKind::Socks5 => socks5(io, proxy, host, port).await,
    }
}

fn protocol_error(kind: ProxyKind, reason: impl Into<String>) -> TransportError {
    TransportError::ProxyProtocol {
        kind,
        reason: reason.into(),
    }
}

/// The `host:port` authority, IPv6 in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

async fn http_connect<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<(), TransportError> {
    let target = authority(host, port);
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((user, password)) = proxy.credentials() {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        req.push_str("Proxy-Authorization: Basic ");
        req.push_str(&token);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes()).await?;
    io.flush().await?;

    // Read the answer's head byte by byte: the tunnel starts right after it, and nothing
    // of what follows may be consumed here.
    let mut head = Vec::with_capacity(128);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= 16 * 1024 {
            return Err(protocol_error(
                ProxyKind::HttpConnect,
                "answer head longer than 16 KiB",
            ));
        }
        let b = io.read_u8().await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                protocol_error(
                    ProxyKind::HttpConnect,
                    "connection closed before the answer",
                )
            } else {
                e.into()
            }
        })?;
        head.push(b);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return Err(protocol_error(
                ProxyKind::HttpConnect,
                "the answer is not HTTP",
            ));
        }
    }
    let code = resp.code.unwrap_or(0);
    if (200..300).contains(&code) {
        tracing::debug!(proxy = %authority(proxy.host(), proxy.port()), "CONNECT tunnel open");
        Ok(())
    } else {
        Err(TransportError::ProxyRefused {
            kind: ProxyKind::HttpConnect,
            code,
            reason: resp.reason.unwrap_or("").to_owned(),
        })
    }
}

/// SOCKS5 authentication methods.
const NO_AUTH: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;

/// The request for a tunnel to `host:port`: `VER CMD RSV ATYP DST.ADDR DST.PORT`.
pub(crate) fn socks5_connect_request(host: &str, port: u16) -> Result<Vec<u8>, TransportError> {
    let mut req = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            req.push(4);
            req.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len()).map_err(|_| {
                protocol_error(ProxyKind::Socks5, "host name longer than 255 bytes")
            })?;
            req.push(3);
            req.push(len);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    Ok(req)
}

/// The meaning of a SOCKS5 reply code.
pub(crate) fn socks5_reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown reply code",
    }
}

async fn socks5<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<(), TransportError> {
    let kind = ProxyKind::Socks5;
    let credentials = proxy.credentials();
    // Greeting: the methods we accept.
    let greeting: &[u8] = if credentials.is_some() {
        &[5, 2, NO_AUTH, USER_PASSWORD]
    } else {
        &[5, 1, NO_AUTH]
    };
    io.write_all(greeting).await?;
    let mut choice = [0u8; 2];
    read_exact(io, &mut choice).await?;
    if choice[0] != 5 {
        return Err(protocol_error(
            kind,
            format!("version {} in the method choice", choice[0]),
        ));
    }
    match (choice[1], credentials) {
        (NO_AUTH, _) => {}
        (USER_PASSWORD, Some((user, password))) => {
            let (Ok(ulen), Ok(plen)) = (u8::try_from(user.len()), u8::try_from(password.len()))
            else {
                return Err(TransportError::InvalidConfig(
                    "SOCKS5 user name and password must be at most 255 bytes each".to_owned(),
                ));
            };
            let mut auth = Vec::with_capacity(3 + user.len() + password.len());
            auth.push(1);
            auth.push(ulen);
            auth.extend_from_slice(user.as_bytes());
            auth.push(plen);
            auth.extend_from_slice(password.as_bytes());
            io.write_all(&auth).await?;
            let mut status = [0u8; 2];
            read_exact(io, &mut status).await?;
            if status[1] != 0 {
                return Err(TransportError::ProxyRefused {
                    kind,
                    code: u16::from(status[1]),
                    reason: "username/password authentication failed".to_owned(),
                });
            }
        }
        (NO_ACCEPTABLE, _) => {
            return Err(TransportError::ProxyRefused {
                kind,
                code: u16::from(NO_ACCEPTABLE),
                reason: if credentials.is_some() {
                    "no acceptable authentication method".to_owned()
                } else {
                    "no acceptable authentication method (the proxy may need credentials)"
                        .to_owned()
                },
            });
        }
        (m, _) => {
            return Err(protocol_error(
                kind,
                format!("the proxy chose authentication method {m}, which was not offered"),
            ));
        }
    }

    io.write_all(&socks5_connect_request(host, port)?).await?;
    let mut reply = [0u8; 4];
    read_exact(io, &mut reply).await?;
    if reply[0] != 5 {
        return Err(protocol_error(
            kind,
            format!("version {} in the reply", reply[0]),
        ));
    }
    if reply[1] != 0 {
        return Err(TransportError::ProxyRefused {
            kind,
            code: u16::from(reply[1]),
            reason: socks5_reply_text(reply[1]).to_owned(),
        });
    }
    // The bound address, which we do not need, then the port.
    let addr_len = match reply[3] {
        1 => 4,
        4 => 16,
        3 => usize::from(io.read_u8().await?),
        t => {
            return Err(protocol_error(
                kind,
                format!("address type {t} in the reply"),
            ));
        }
    };
    let mut rest = vec![0u8; addr_len + 2];
    read_exact(io, &mut rest).await?;
    tracing::debug!(proxy = %authority(proxy.host(), proxy.port()), "SOCKS5 tunnel open");
    Ok(())
}

async fn read_exact<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut [u8],
) -> Result<(), TransportError> {
    io.read_exact(buf).await.map(drop).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            protocol_error(
                ProxyKind::Socks5,
                "connection closed in the middle of the exchange",
            )
        } else {
            e.into()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks5_requests_carry_the_address_type() {
        assert_eq!(
            socks5_connect_request("10.1.2.3", 443).unwrap(),
            [5, 1, 0, 1, 10, 1, 2, 3, 1, 187]
        );
        assert_eq!(
            socks5_connect_request("ls.example", 80).unwrap(),
            [&[5u8, 1, 0, 3, 10][..], b"ls.example", &[0, 80]].concat()
        );
        let v6 = socks5_connect_request("::1", 8080).unwrap();
        assert_eq!(&v6[..4], [5, 1, 0, 4]);
        assert_eq!(v6.len(), 4 + 16 + 2);
        assert!(socks5_connect_request(&"x".repeat(256), 80).is_err());
    }

    #[tokio::test]
    async fn connect_refusal_carries_the_status() {
        let (mut client, mut server) = tokio::io::duplex(4096);
        let proxy = Proxy::http_connect("proxy", 3128).with_credentials("u", "p");
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            let n = server.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            server
                .write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
                )
                .await
                .unwrap();
            req
        });
        let err = tunnel(&mut client, &proxy, "ls.example", 443)
            .await
            .unwrap_err();
        let req = task.await.unwrap();
        assert!(
            req.starts_with("CONNECT ls.example:443 HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(req.contains("Proxy-Authorization: Basic dTpw\r\n"), "{req}");
        assert!(
            matches!(err, TransportError::ProxyRefused { code: 407, .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn socks5_reply_codes_become_refusals() {
        let (mut client, mut server) = tokio::io::duplex(4096);
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 3];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(buf, [5, 1, 0]);
            server.write_all(&[5, 0]).await.unwrap();
            let mut req = [0u8; 10];
            server.read_exact(&mut req).await.unwrap();
            server
                .write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0])
                .await
                .unwrap();
        });
        let err = tunnel(&mut client, &Proxy::socks5("p", 1080), "127.0.0.1", 80)
            .await
            .unwrap_err();
        task.await.unwrap();
        assert!(
            matches!(err, TransportError::ProxyRefused { code: 5, ref reason, .. } if reason == "connection refused"),
            "{err:?}"
        );
    }
}
