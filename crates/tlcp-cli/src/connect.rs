//! Connection options shared by `tlcp subscribe` and `tlcp send`, and the checks that
//! turn an unreachable server into a one-line error instead of endless retries.

use std::time::Duration;

use tlcp_client::{Client, ClientBuilder, ForcedTransport, ProtocolVersion};

use crate::Failure;

/// Options of the connection (`--server`, `--adapter-set`, ...).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConnectArgs {
    /// Server URL, e.g. `http://127.0.0.1:8080` or `https://push.example.com`.
    #[arg(long)]
    pub(crate) server: String,
    /// Adapter Set to connect to.
    #[arg(long, default_value = "DEFAULT")]
    pub(crate) adapter_set: String,
    /// User name given to the Metadata Adapter.
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// Name of an environment variable holding the password (never on the command line).
    #[arg(long, value_name = "VAR")]
    pub(crate) password_env: Option<String>,
    /// Forced transport: ws, http, ws-streaming, http-streaming, ws-polling, http-polling.
    #[arg(long, value_parser = parse_transport)]
    pub(crate) transport: Option<ForcedTransport>,
    /// TLCP version spoken (2.0.0 to 2.5.0; 2.4.0 for servers that refuse 2.5.0).
    #[arg(long, value_parser = parse_protocol)]
    pub(crate) protocol: Option<ProtocolVersion>,
    /// Seconds to wait for the session to be established before giving up.
    #[arg(long, default_value_t = 15.0, value_name = "SECS", value_parser = parse_secs)]
    pub(crate) connect_timeout: f64,
}

pub(crate) fn parse_transport(s: &str) -> Result<ForcedTransport, String> {
    s.to_ascii_uppercase().parse().map_err(|_| {
        format!(
            "unknown transport {s:?}: expected ws, http, ws-streaming, http-streaming, ws-polling or http-polling"
        )
    })
}

fn parse_protocol(s: &str) -> Result<ProtocolVersion, String> {
    s.parse()
        .map_err(|_| format!("unsupported TLCP version {s:?}: expected 2.0.0 to 2.5.0"))
}

/// A positive number of seconds.
pub(crate) fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err(format!("expected a positive number of seconds, got {s:?}")),
    }
}

/// `host:port` of an `http(s)://host[:port][/path]` URL.
pub(crate) fn host_port(url: &str) -> Result<String, String> {
    let (rest, default_port) = if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else {
        return Err(format!(
            "--server {url:?}: expected an http:// or https:// URL, e.g. http://127.0.0.1:8080"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return Err(format!("--server {url:?}: the URL has no host"));
    }
    // `[v6]:port`, `[v6]`, `host:port`, `host`.
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    Ok(if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    })
}

impl ConnectArgs {
    /// Checks that the server accepts TCP connections (a fast, clear error when it does
    /// not), then builds the client (not connected yet).
    pub(crate) async fn client(&self) -> Result<Client, Failure> {
        self.client_with(Ok).await
    }

    /// The builder with the options that shape the session (no credentials).
    pub(crate) fn builder(&self) -> ClientBuilder {
        let mut builder = Client::builder(&self.server, &self.adapter_set);
        if let Some(t) = self.transport {
            builder = builder.forced_transport(t);
        }
        if let Some(v) = self.protocol {
            builder = builder.protocol_version(v);
        }
        builder
    }

    /// As [`client`](Self::client), with `configure` applied to the builder last.
    pub(crate) async fn client_with(
        &self,
        configure: impl FnOnce(ClientBuilder) -> std::io::Result<ClientBuilder>,
    ) -> Result<Client, Failure> {
        let password = self.password()?;
        self.probe().await?;
        let mut builder = self.builder();
        if let Some(user) = &self.user {
            builder = builder.user(user);
        }
        if let Some(password) = password {
            builder = builder.password(password);
        }
        let builder =
            configure(builder).map_err(|e| Failure::usage(format!("cannot record: {e}")))?;
        builder
            .build()
            .map_err(|e| Failure::usage(format!("--server {:?}: {e}", self.server)))
    }

    /// The password, from the environment variable named by `--password-env`.
    pub(crate) fn password(&self) -> Result<Option<String>, Failure> {
        match &self.password_env {
            Some(var) => std::env::var(var).map(Some).map_err(|_| {
                Failure::usage(format!(
                    "--password-env {var}: the environment variable {var} is not set"
                ))
            }),
            None => Ok(None),
        }
    }

    /// Checks that the server accepts TCP connections: a fast, clear error when it does
    /// not, instead of endless retries.
    pub(crate) async fn probe(&self) -> Result<(), Failure> {
        let target = host_port(&self.server).map_err(Failure::usage)?;
        let probe = tokio::time::timeout(
            Duration::from_secs_f64(self.connect_timeout.min(10.0)),
            tokio::net::TcpStream::connect(&target),
        )
        .await;
        match probe {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Failure::connection(format!(
                "cannot reach {target}: {e} (is the server running? check --server)"
            ))),
            Err(_) => Err(Failure::connection(format!(
                "cannot reach {target}: no answer within {:.0} s (check --server and the network)",
                self.connect_timeout.min(10.0)
            ))),
        }
    }

    /// How long to wait for `CONNECTED:*`.
    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.connect_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_of_urls() {
        assert_eq!(host_port("http://a.b").as_deref(), Ok("a.b:80"));
        assert_eq!(host_port("https://a.b/x").as_deref(), Ok("a.b:443"));
        assert_eq!(
            host_port("http://127.0.0.1:8080").as_deref(),
            Ok("127.0.0.1:8080")
        );
        assert_eq!(host_port("http://[::1]:9").as_deref(), Ok("[::1]:9"));
        assert_eq!(host_port("http://[::1]").as_deref(), Ok("[::1]:80"));
        assert!(host_port("127.0.0.1:8080").is_err());
        assert!(host_port("http://").is_err());
    }
}
