//! # tlcp-client
//!
//! The async Lightstreamer client, built on top of [`tlcp_proto`]. What exists so far is
//! its network layer, [`transport`]: WebSocket and HTTP connections to a Lightstreamer
//! server (TLS, proxies, cookies, extra headers), each stream connection handing out the
//! received bytes with the instant of the socket read that brought them.
//!
//! ```no_run
//! use tlcp_client::transport::{FrameSource, ServerAddress, Transport, TransportConfig};
//! use tlcp_proto::ProtocolVersion;
//!
//! # async fn demo() -> Result<(), tlcp_client::transport::TransportError> {
//! let transport = Transport::new(TransportConfig::default())?;
//! let server: ServerAddress = "https://push.example.com".parse()?;
//! let mut ws = transport.connect_ws(&server, ProtocolVersion::V2_5_0, true).await?;
//! ws.send_text("wsok").await?;
//! ws.send_text("create_session\r\nLS_adapter_set=DEMO&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg")
//!     .await?;
//! while let Some(chunk) = ws.next_chunk().await? {
//!     println!("{} bytes read at {:?}", chunk.data.len(), chunk.received_at);
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod transport;
