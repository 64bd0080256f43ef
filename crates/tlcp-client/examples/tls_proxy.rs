//! Configuration for a real deployment: TLS with a custom CA (a private PKI), a SOCKS5 or
//! HTTP CONNECT proxy with credentials, a password and extra HTTP headers, all taken from
//! environment variables. Builds the client and prints its `Debug`, where the secrets are
//! redacted.
//!
//! It connects only if `TLCP_SERVER` names a server (e.g. `https://push.example.com`);
//! otherwise it explains and exits. Environment variables (all optional):
//!
//! * `TLCP_SERVER`, `TLCP_ADAPTER_SET` (default `DEMO`), `TLCP_USER`, `TLCP_PASSWORD`;
//! * `TLCP_CA_FILE`: a PEM file of CA certificates to trust (default: a throwaway CA
//!   generated here, to show the call);
//! * `TLCP_PROXY`: `socks5://host:port` or `http://host:port` (default: none when
//!   connecting; an example SOCKS5 proxy is configured to show it otherwise), with
//!   `TLCP_PROXY_USER` and `TLCP_PROXY_PASSWORD`;
//! * `TLCP_TOKEN`: sent as `Authorization: Bearer <token>`.
//!
//! ```sh
//! cargo run -p tlcp-client --example tls_proxy
//! TLCP_SERVER=https://push.example.com TLCP_CA_FILE=ca.pem \
//!     TLCP_PROXY=socks5://127.0.0.1:1080 TLCP_PROXY_USER=me TLCP_PROXY_PASSWORD=... \
//!     cargo run -p tlcp-client --example tls_proxy
//! ```

use std::time::Duration;

use tlcp_client::Client;
use tlcp_client::transport::{Proxy, TlsConfig};

type BoxError = Box<dyn std::error::Error>;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `socks5://host:port` or `http://host:port`.
fn parse_proxy(url: &str) -> Result<Proxy, BoxError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("TLCP_PROXY: expected scheme://host:port")?;
    let (host, port) = rest
        .trim_end_matches('/')
        .rsplit_once(':')
        .ok_or("TLCP_PROXY: expected a port")?;
    let port: u16 = port.parse()?;
    match scheme {
        "socks5" | "socks5h" => Ok(Proxy::socks5(host, port)),
        "http" => Ok(Proxy::http_connect(host, port)),
        _ => Err(format!("TLCP_PROXY: unknown scheme {scheme:?}").into()),
    }
}

/// The CA certificates to trust.
fn tls() -> Result<TlsConfig, BoxError> {
    Ok(match env("TLCP_CA_FILE") {
        Some(path) => TlsConfig::default().with_ca_pem_file(path)?,
        None => {
            // A throwaway self-signed CA, only to show the call.
            let key = rcgen::KeyPair::generate()?;
            let ca = rcgen::CertificateParams::new(vec!["ca.example.internal".to_owned()])?
                .self_signed(&key)?;
            TlsConfig::default().with_ca_pem(ca.pem())?
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let server = env("TLCP_SERVER");
    let url = server
        .clone()
        .unwrap_or("https://push.example.com".to_owned());
    let adapter_set = env("TLCP_ADAPTER_SET").unwrap_or("DEMO".to_owned());
    let password = env("TLCP_PASSWORD").unwrap_or("example-password".to_owned());
    let proxy_password = env("TLCP_PROXY_PASSWORD").unwrap_or("example-proxy-password".to_owned());
    let token = env("TLCP_TOKEN").unwrap_or("example-token".to_owned());

    let mut builder = Client::builder(&url, &adapter_set)
        .user(env("TLCP_USER").unwrap_or("example-user".to_owned()))
        .password(&password)
        .tls(tls()?)
        .http_extra_header("Authorization", format!("Bearer {token}"))
        .http_extra_header("X-Client", "tlcp-client example")
        .connect_timeout(Duration::from_secs(5));
    let proxy = match env("TLCP_PROXY") {
        Some(p) => Some(parse_proxy(&p)?),
        // Not connecting: show an example proxy.
        None if server.is_none() => Some(Proxy::socks5("127.0.0.1", 1080)),
        None => None,
    };
    if let Some(proxy) = proxy {
        let user = env("TLCP_PROXY_USER").unwrap_or("example-proxy-user".to_owned());
        builder = builder.proxy(proxy.with_credentials(user, &proxy_password));
    }

    let shown = format!("{builder:#?}");
    println!("{shown}");
    let leaked = [&password, &proxy_password, &token]
        .into_iter()
        .any(|secret| shown.contains(secret.as_str()));
    println!("secrets redacted: {}", if leaked { "NO" } else { "yes" });
    if leaked {
        return Err("a secret appeared in the Debug output".into());
    }

    let client = builder.build()?;
    let Some(server) = server else {
        println!(
            "not connecting: set TLCP_SERVER (and TLCP_CA_FILE, TLCP_PROXY, ...) to connect \
             to a real server with this configuration"
        );
        return Ok(());
    };
    client.connect();
    match tokio::time::timeout(Duration::from_secs(8), client.connected()).await {
        Ok(Ok(status)) => println!("connected to {server}: {status}"),
        Ok(Err(e)) => println!("could not connect to {server}: {e}"),
        Err(_) => println!(
            "could not connect to {server} within 8 s (status {})",
            client.current_status()
        ),
    }
    client.close().await;
    Ok(())
}
