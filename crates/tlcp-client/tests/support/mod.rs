//! Loopback peers for the transport tests: the in-process TLCP server, a counting TCP
//! forwarder, a TLS terminator, an HTTP CONNECT proxy and a SOCKS5 proxy (both checking
//! credentials), and a line reader over any [`FrameSource`].

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tlcp_client::transport::{FrameSource, ServerAddress};
use tlcp_proto::LineDecoder;
use tlcp_server::{ServerConfig, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const TIMEOUT: Duration = Duration::from_secs(10);
pub const CID: &str = "LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg";

/// The TLCP server with the demo adapters on a loopback port.
pub async fn tlcp_server() -> ServerHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    tlcp_server::spawn(
        listener,
        ServerConfig::default(),
        tlcp_server::demo::demo_adapters(Default::default()),
    )
    .unwrap()
}

pub fn address(scheme: &str, addr: SocketAddr) -> ServerAddress {
    format!("{scheme}://{addr}").parse().unwrap()
}

/// Splits the chunks of a stream connection into TLCP lines.
pub struct Lines {
    dec: LineDecoder,
    pending: std::collections::VecDeque<String>,
    pub seen: Vec<String>,
}

impl Default for Lines {
    fn default() -> Self {
        Self {
            dec: LineDecoder::new(1 << 20),
            pending: Default::default(),
            seen: Vec::new(),
        }
    }
}

impl Lines {
    pub fn feed(&mut self, mut data: &[u8]) {
        while let Some(line) = self.dec.next_line(&mut data).unwrap() {
            self.pending
                .push_back(String::from_utf8(line.to_vec()).unwrap());
        }
    }

    /// The next line, reading chunks as needed; `None` at the end of the stream.
    pub async fn next(&mut self, src: &mut impl FrameSource) -> Option<String> {
        loop {
            if let Some(l) = self.pending.pop_front() {
                self.seen.push(l.clone());
                return Some(l);
            }
            let chunk = tokio::time::timeout(TIMEOUT, src.next_chunk())
                .await
                .unwrap_or_else(|_| panic!("no data within {TIMEOUT:?}; seen {:#?}", self.seen))
                .unwrap()?;
            let data = chunk.data.to_vec();
            self.feed(&data);
        }
    }

    /// Reads lines until one starts with `prefix`.
    pub async fn expect(&mut self, src: &mut impl FrameSource, prefix: &str) -> String {
        loop {
            match self.next(src).await {
                Some(l) if l.starts_with(prefix) => return l,
                Some(_) => {}
                None => panic!("stream ended waiting for {prefix:?}; seen {:#?}", self.seen),
            }
        }
    }
}

/// A TCP forwarder that counts the connections it accepts and records their peers.
pub struct Forwarder {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    pub peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Forwarder {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let (a, p) = (accepted.clone(), peers.clone());
        tokio::spawn(async move {
            loop {
                let (mut inbound, peer) = listener.accept().await.unwrap();
                a.fetch_add(1, Ordering::SeqCst);
                p.lock().unwrap().push(peer);
                tokio::spawn(async move {
                    let mut outbound = TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        Self {
            addr,
            accepted,
            peers,
        }
    }

    pub fn count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1.
pub struct TestCert {
    pub cert_pem: String,
    pub cert_der: rustls_pki_types::CertificateDer<'static>,
    pub key_der: rustls_pki_types::PrivateKeyDer<'static>,
}

pub fn self_signed() -> TestCert {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    TestCert {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_der: rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    }
}

/// What the TLS terminator saw of a client hello.
#[derive(Debug, Clone)]
pub struct Hello {
    pub sni: Option<String>,
    pub alpn: Option<Vec<u8>>,
}

/// A TLS-terminating proxy in front of `target`.
pub struct TlsTerminator {
    pub addr: SocketAddr,
    pub cert: TestCert,
    pub hellos: Arc<Mutex<Vec<Hello>>>,
    pub failures: Arc<AtomicUsize>,
}

impl TlsTerminator {
    pub async fn start(target: SocketAddr) -> Self {
        let cert = self_signed();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert_der.clone()], cert.key_der.clone_key())
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hellos = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicUsize::new(0));
        let (h, f) = (hellos.clone(), failures.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (acceptor, h, f) = (acceptor.clone(), h.clone(), f.clone());
                tokio::spawn(async move {
                    let mut tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(_) => {
                            f.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    };
                    let conn = tls.get_ref().1;
                    h.lock().unwrap().push(Hello {
                        sni: conn.server_name().map(str::to_owned),
                        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                    });
                    let mut outbound = TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut outbound).await;
                });
            }
        });
        Self {
            addr,
            cert,
            hellos,
            failures,
        }
    }
}

/// Reads an HTTP head byte by byte (nothing after it is consumed).
pub async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    String::from_utf8(head).unwrap()
}

/// Reads a request head and its `Content-Length` body (so that closing the connection
/// afterwards is a clean FIN, not a reset for unread data).
pub async fn read_request(tcp: &mut TcpStream) -> String {
    let head = read_head(tcp).await;
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0u8; len];
    tcp.read_exact(&mut body).await.unwrap();
    head
}

/// A minimal HTTP proxy: `CONNECT` only, with `Proxy-Authorization: Basic` checked.
pub struct ConnectProxy {
    pub addr: SocketAddr,
    pub targets: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub async fn start(user: &str, password: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let expected = format!(
            "proxy-authorization: basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
        .to_ascii_lowercase();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let t = targets.clone();
        tokio::spawn(async move {
            loop {
                let (mut tcp, _) = listener.accept().await.unwrap();
                let (expected, t) = (expected.clone(), t.clone());
                tokio::spawn(async move {
                    let head = read_head(&mut tcp).await;
                    let target = head
                        .strip_prefix("CONNECT ")
                        .and_then(|r| r.split(' ').next())
                        .unwrap()
                        .to_owned();
                    let authorized = head.lines().any(|l| l.to_ascii_lowercase() == expected);
                    if !authorized {
                        tcp.write_all(
                            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
                        )
                        .await
                        .unwrap();
                        return;
                    }
                    t.lock().unwrap().push(target.clone());
                    let mut outbound = TcpStream::connect(target).await.unwrap();
                    tcp.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await
                        .unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut outbound).await;
                });
            }
        });
        Self { addr, targets }
    }
}

/// A minimal SOCKS5 proxy: username/password authentication required, `CONNECT` only.
pub struct Socks5Proxy {
    pub addr: SocketAddr,
    pub targets: Arc<Mutex<Vec<String>>>,
}

impl Socks5Proxy {
    pub async fn start(user: &str, password: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let creds = (user.as_bytes().to_vec(), password.as_bytes().to_vec());
        let targets = Arc::new(Mutex::new(Vec::new()));
        let t = targets.clone();
        tokio::spawn(async move {
            loop {
                let (mut tcp, _) = listener.accept().await.unwrap();
                let (creds, t) = (creds.clone(), t.clone());
                tokio::spawn(async move {
                    let mut hdr = [0u8; 2];
                    tcp.read_exact(&mut hdr).await.unwrap();
                    assert_eq!(hdr[0], 5);
                    let mut methods = vec![0u8; usize::from(hdr[1])];
                    tcp.read_exact(&mut methods).await.unwrap();
                    if !methods.contains(&2) {
                        tcp.write_all(&[5, 0xff]).await.unwrap();
                        return;
                    }
                    tcp.write_all(&[5, 2]).await.unwrap();
                    assert_eq!(tcp.read_u8().await.unwrap(), 1);
                    let mut user = vec![0u8; usize::from(tcp.read_u8().await.unwrap())];
                    tcp.read_exact(&mut user).await.unwrap();
                    let mut pass = vec![0u8; usize::from(tcp.read_u8().await.unwrap())];
                    tcp.read_exact(&mut pass).await.unwrap();
                    if (user, pass) != creds {
                        tcp.write_all(&[1, 1]).await.unwrap();
                        return;
                    }
                    tcp.write_all(&[1, 0]).await.unwrap();
                    let mut req = [0u8; 4];
                    tcp.read_exact(&mut req).await.unwrap();
                    assert_eq!(&req[..3], [5, 1, 0]);
                    let host = match req[3] {
                        1 => {
                            let mut ip = [0u8; 4];
                            tcp.read_exact(&mut ip).await.unwrap();
                            std::net::Ipv4Addr::from(ip).to_string()
                        }
                        3 => {
                            let mut name = vec![0u8; usize::from(tcp.read_u8().await.unwrap())];
                            tcp.read_exact(&mut name).await.unwrap();
                            String::from_utf8(name).unwrap()
                        }
                        t => panic!("address type {t}"),
                    };
                    let port = tcp.read_u16().await.unwrap();
                    let target = format!("{host}:{port}");
                    t.lock().unwrap().push(target.clone());
                    let mut outbound = TcpStream::connect(target).await.unwrap();
                    tcp.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
                        .await
                        .unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut outbound).await;
                });
            }
        });
        Self { addr, targets }
    }
}
