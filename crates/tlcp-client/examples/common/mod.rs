//! Shared by the examples: which server to use.

/// The server to connect to: `--server URL`, else the `TLCP_SERVER` environment variable,
/// else the demo server started in process on a free port (kept alive by the returned
/// handle).
pub(crate) async fn server()
-> Result<(String, Option<tlcp_server::ServerHandle>), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--server" {
            return Ok((args.next().ok_or("--server: give a URL")?, None));
        }
        if let Some(url) = arg.strip_prefix("--server=") {
            return Ok((url.to_owned(), None));
        }
    }
    if let Ok(url) = std::env::var("TLCP_SERVER") {
        return Ok((url, None));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = tlcp_server::spawn(
        listener,
        Default::default(),
        tlcp_server::demo::demo_adapters(Default::default()),
    )?;
    println!("started the demo server in process at {}", server.url());
    Ok((server.url(), Some(server)))
}
