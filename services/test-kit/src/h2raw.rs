//! HTTP/2 spoken by hand, frame by frame: what a hostile client sends and
//! what it reads back (RFC 9113). A client library would refuse to send
//! these (streams beyond the server's limit, headers with no body, a
//! preface and then silence), which is the point.

use std::time::Duration;

use tokio::{io::AsyncReadExt, net::TcpStream, time::timeout};

/// The client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// RST_STREAM error code REFUSED_STREAM.
pub const REFUSED_STREAM: u32 = 0x7;
/// Frame types.
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
/// Flags.
pub const END_HEADERS: u8 = 0x4;
pub const ACK: u8 = 0x1;

/// One frame: length, type, flags, stream id, payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// An HPACK block for `POST /grpc.health.v1.Health/Check` from the static
/// table and literals only (no dynamic table, so every stream can reuse it).
pub fn health_check_headers() -> Vec<u8> {
    let literal = |out: &mut Vec<u8>, s: &[u8]| {
        out.push(s.len() as u8);
        out.extend(s);
    };
    let mut h = vec![0x83, 0x86]; // :method POST, :scheme http
    h.push(0x04); // :path, literal without indexing
    literal(&mut h, b"/grpc.health.v1.Health/Check");
    h.push(0x01); // :authority
    literal(&mut h, b"localhost");
    h.extend([0x0f, 0x10]); // content-type (static index 31)
    literal(&mut h, b"application/grpc");
    h.push(0x00); // a new name: te
    literal(&mut h, b"te");
    literal(&mut h, b"trailers");
    h
}

/// The preface, empty SETTINGS, and `streams` HEADERS frames (ids 1, 3,
/// ...) of a health check whose body never comes: each stream stays open.
pub fn open_streams(streams: u32) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    let block = health_check_headers();
    for i in 0..streams {
        out.extend(frame(HEADERS, END_HEADERS, 2 * i + 1, &block));
    }
    out
}

/// Reads one frame: (type, stream id, payload).
pub async fn read_frame(sock: &mut TcpStream) -> std::io::Result<(u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    sock.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    sock.read_exact(&mut payload).await?;
    Ok((head[3], stream, payload))
}

/// SETTINGS_MAX_CONCURRENT_STREAMS in a SETTINGS payload, if present.
pub fn max_concurrent_streams(settings: &[u8]) -> Option<u32> {
    settings.chunks_exact(6).find_map(|p| {
        (u16::from_be_bytes([p[0], p[1]]) == 0x3)
            .then(|| u32::from_be_bytes([p[2], p[3], p[4], p[5]]))
    })
}

/// What the server answered to streams opened beyond its limit, read
/// until `refused` streams were reset or `limit` passed: the advertised
/// SETTINGS_MAX_CONCURRENT_STREAMS and the ids of the streams reset with
/// REFUSED_STREAM. Panics on another reset code or a GOAWAY (the whole
/// connection dropped instead of the excess streams).
pub async fn refused_streams(
    sock: &mut TcpStream,
    refused: usize,
    limit: Duration,
) -> (Option<u32>, Vec<u32>) {
    let mut advertised = None;
    let mut ids = Vec::new();
    let _ = timeout(limit, async {
        while ids.len() < refused {
            let Ok((kind, stream, payload)) = read_frame(sock).await else {
                return;
            };
            match kind {
                SETTINGS if stream == 0 && !payload.is_empty() => {
                    advertised = max_concurrent_streams(&payload)
                }
                RST_STREAM => {
                    let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                    assert_eq!(code, REFUSED_STREAM, "stream {stream} reset");
                    ids.push(stream);
                }
                GOAWAY => panic!("GOAWAY: the whole connection was dropped"),
                _ => {}
            }
        }
    })
    .await;
    (advertised, ids)
}

/// True when the server closes `sock` (EOF or reset) within `limit`,
/// reading and discarding whatever it sends first (its SETTINGS, pings).
pub async fn closed_within(sock: &mut TcpStream, limit: Duration) -> bool {
    timeout(limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}
