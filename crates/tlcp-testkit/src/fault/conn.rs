//! One forwarded connection: a task owning both sockets, two directions, each a reader and
//! a writer joined by a queue of timestamped chunks (so latency does not cost throughput).
//!
//! The reader applies [`Blackhole::Hold`] (stop reading) and [`Blackhole::Drop`] (read and
//! discard) and stamps each chunk with its due time (now + delay). The writer waits for the
//! due time, then for the blackhole, the throttle and the byte budget, slice by slice.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::{Blackhole, Conn, Direction, Shared};

/// The most bytes read at once (and so the largest chunk).
const CHUNK: usize = 16 * 1024;

/// Chunks queued between a reader and its writer (in flight inside the proxy).
const QUEUE: usize = 64;

/// A throttled writer writes slices worth this fraction of a second.
const SLICES_PER_SEC: u64 = 50;

/// Why a connection ended early.
enum Abort {
    /// The downstream byte budget ran out.
    Cut,
    /// A peer broke (read or write error): relay it as a reset.
    Broken,
}

enum Chunk {
    Data { bytes: Vec<u8>, due: Instant },
    Eof { due: Instant },
}

/// Closes `socket` abortively when dropped: `SO_LINGER` 0 makes the kernel send an RST.
pub(super) fn reset(socket: &TcpStream) {
    let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
}

/// Marks the connection closed and untracks it, however the task ends (even aborted).
struct Untrack {
    conn: Arc<Conn>,
    shared: Arc<Shared>,
}

impl Drop for Untrack {
    fn drop(&mut self) {
        self.shared.conns().remove(&self.conn.id);
        self.conn.closed.send_replace(true);
    }
}

/// The connection task.
pub(super) async fn run(client: TcpStream, conn: Arc<Conn>, shared: Arc<Shared>) {
    let untrack = Untrack { conn, shared };
    serve(client, &untrack.conn, &untrack.shared).await;
    // The sockets are closed (moved into `serve`); now tell the waiting cuts.
    drop(untrack);
}

async fn serve(mut client: TcpStream, conn: &Conn, shared: &Shared) {
    let mut cut = conn.cut.subscribe();
    let connected = tokio::select! {
        connected = TcpStream::connect(shared.upstream) => connected,
        _ = cut.wait_for(|cut| *cut) => {
            reset(&client);
            shared.count(&shared.counters.cuts, 1);
            return;
        }
    };
    let Ok(mut upstream) = connected else {
        reset(&client);
        shared.count(&shared.counters.upstream_failures, 1);
        return;
    };
    // Small chunks must not wait for Nagle: the proxy adds only the latency it is told to.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);

    let outcome = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let up = direction(client_read, upstream_write, Direction::Up, conn, shared);
        let down = direction(upstream_read, client_write, Direction::Down, conn, shared);
        tokio::select! {
            both = async { tokio::try_join!(up, down) } => both.map(|_| ()),
            _ = cut.wait_for(|cut| *cut) => Err(Abort::Cut),
        }
    };
    match outcome {
        Ok(()) => {}
        Err(abort) => {
            if let Abort::Cut = abort {
                shared.count(&shared.counters.cuts, 1);
            }
            reset(&client);
            reset(&upstream);
        }
    }
}

/// Forwards one direction until the source's end has been relayed (`Ok`) or it breaks.
async fn direction(
    src: ReadHalf<'_>,
    dst: WriteHalf<'_>,
    dir: Direction,
    conn: &Conn,
    shared: &Shared,
) -> Result<(), Abort> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::try_join!(
        read_side(src, tx, dir, shared),
        write_side(dst, rx, dir, conn, shared)
    )?;
    Ok(())
}

async fn read_side(
    mut src: ReadHalf<'_>,
    tx: mpsc::Sender<Chunk>,
    dir: Direction,
    shared: &Shared,
) -> Result<(), Abort> {
    let mut faults = shared.faults.subscribe();
    let mut buf = vec![0; CHUNK];
    loop {
        // Hold: read nothing, the bytes (and a close) wait in the socket buffers.
        if faults
            .wait_for(|f| f.blackhole != Blackhole::Hold)
            .await
            .is_err()
        {
            return Ok(());
        }
        let n = src.read(&mut buf).await.map_err(|_| Abort::Broken)?;
        let f = *faults.borrow_and_update();
        let due = Instant::now() + f.delay[dir.index()];
        if n == 0 {
            let _ = tx.send(Chunk::Eof { due }).await;
            return Ok(());
        }
        if f.blackhole == Blackhole::Drop {
            shared.count(&shared.counters.dropped[dir.index()], n as u64);
            continue;
        }
        let bytes = buf[..n].to_vec();
        if tx.send(Chunk::Data { bytes, due }).await.is_err() {
            return Ok(()); // the writer is gone, and says why
        }
    }
}

async fn write_side(
    mut dst: WriteHalf<'_>,
    mut rx: mpsc::Receiver<Chunk>,
    dir: Direction,
    conn: &Conn,
    shared: &Shared,
) -> Result<(), Abort> {
    let mut faults = shared.faults.subscribe();
    // When the throttle lets the next slice go.
    let mut pace: Option<Instant> = None;
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Chunk::Eof { due } => {
                wait_until(due).await;
                // Either blackhole holds a clean close until it ends.
                let _ = faults.wait_for(|f| f.blackhole == Blackhole::Off).await;
                let _ = dst.shutdown().await;
                return Ok(());
            }
            Chunk::Data { bytes, due } => {
                wait_until(due).await;
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let f = *faults.borrow_and_update();
                    match f.blackhole {
                        Blackhole::Off => {}
                        Blackhole::Hold => {
                            let _ = faults.wait_for(|f| f.blackhole != Blackhole::Hold).await;
                            continue;
                        }
                        Blackhole::Drop => {
                            let dropped = &shared.counters.dropped[dir.index()];
                            shared.count(dropped, rest.len() as u64);
                            break;
                        }
                    }
                    let mut len = rest.len();
                    let throttle = f.throttle[dir.index()];
                    if let Some(rate) = throttle {
                        len = len.min(slice_len(rate));
                    }
                    if dir == Direction::Down {
                        match *conn.budget() {
                            Some(0) => return Err(Abort::Cut),
                            Some(left) => len = len.min(usize::try_from(left).unwrap_or(len)),
                            None => {}
                        }
                    }
                    match throttle {
                        Some(rate) => {
                            let now = Instant::now();
                            let start = pace.map_or(now, |at| at.max(now));
                            if start > now {
                                // Settings may change meanwhile: look again when they do.
                                tokio::select! {
                                    () = sleep_until(start) => {}
                                    _ = faults.changed() => continue,
                                }
                            }
                            let secs = len as f64 / rate as f64;
                            pace = Some(start + Duration::from_secs_f64(secs));
                        }
                        None => pace = None,
                    }
                    dst.write_all(&rest[..len])
                        .await
                        .map_err(|_| Abort::Broken)?;
                    shared.count(&shared.counters.bytes[dir.index()], len as u64);
                    rest = &rest[len..];
                    if dir == Direction::Down
                        && let Some(left) = conn.budget().as_mut()
                    {
                        *left = left.saturating_sub(len as u64);
                        if *left == 0 {
                            return Err(Abort::Cut);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Sleeps until `due`, without touching the timer when it has passed (no added delay).
async fn wait_until(due: Instant) {
    if due > Instant::now() {
        sleep_until(due).await;
    }
}

/// How many bytes a throttled writer sends at once: about 1/50 s worth, 1 to [`CHUNK`].
fn slice_len(bytes_per_sec: u64) -> usize {
    let slice = (bytes_per_sec / SLICES_PER_SEC).clamp(1, CHUNK as u64);
    usize::try_from(slice).unwrap_or(CHUNK)
}
