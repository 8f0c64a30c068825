//! HTTP/1.1 exchanges over a bare TCP connection, for requests no HTTP client library will
//! send: bodies shorter than their `Content-Length`, headers trickled or oversized, repeated
//! headers, a body cut off mid-way. The request is written as given, and the answer read until
//! the server closes the connection (or a deadline passes).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long an exchange may take before it counts as hung.
const EXCHANGE_DEADLINE: Duration = Duration::from_secs(20);

/// What to write on the connection.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    /// Request line and headers, up to and including the blank line (or cut short).
    pub head: Vec<u8>,
    /// Body parts, written one after another.
    pub parts: Vec<Vec<u8>>,
    /// Pause before each part: load shaping (a slow client), not synchronisation.
    pub pause: Duration,
    /// Close the writing half after the last part, as a client that gives up does.
    pub half_close: bool,
}

impl RawRequest {
    /// `POST {path}` with `headers` (each `Name: value`, repeats allowed) and a body sent at
    /// once; the caller adds `Content-Length` or `Transfer-Encoding` itself.
    pub fn post(path: &str, headers: &[String], body: Vec<u8>) -> Self {
        let mut head = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for header in headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        Self {
            head: head.into_bytes(),
            parts: vec![body],
            ..Self::default()
        }
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Every byte the server sent before closing (empty if it closed without answering).
    pub response: Vec<u8>,
    /// From connecting until the server closed the connection.
    pub elapsed: Duration,
}

impl Exchange {
    /// The status code of the first response, if there was one.
    pub fn status(&self) -> Option<u16> {
        let text = String::from_utf8_lossy(&self.response);
        text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    }

    /// The body of the first response as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        let start = find(&self.response, b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&self.response[..start]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))?
            .trim()
            .parse()
            .ok()?;
        serde_json::from_slice(self.response.get(start..start + length)?).ok()
    }

    /// The response as text, for assertion messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.response).into_owned()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes `request` while reading the answer until the server closes the connection; the
/// server may hang up mid-request, which is what some cases expect. Panics if the exchange
/// has not ended within 20 s.
pub async fn exchange(addr: SocketAddr, request: RawRequest) -> Exchange {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the server");
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let writing = tokio::spawn(async move {
        if writer.write_all(&request.head).await.is_err() {
            return;
        }
        for part in request.parts {
            if !request.pause.is_zero() {
                tokio::time::sleep(request.pause).await;
            }
            if writer.write_all(&part).await.is_err() {
                return;
            }
        }
        if request.half_close {
            let _ = writer.shutdown().await;
        } else {
            // Keep the writing half open until the server is done with the connection.
            std::future::pending::<()>().await;
        }
    });
    let mut response = Vec::new();
    let mut buffer = [0u8; 8192];
    let read = tokio::time::timeout(EXCHANGE_DEADLINE, async {
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    writing.abort();
    assert!(
        read.is_ok(),
        "the server neither answered nor closed within {EXCHANGE_DEADLINE:?}; got so far: {}",
        String::from_utf8_lossy(&response)
    );
    Exchange { response, elapsed }
}

/// `body` in chunked transfer encoding, in chunks of `size`, with the final chunk.
pub fn chunked(body: &[u8], size: usize) -> Vec<Vec<u8>> {
    body.chunks(size)
        .map(|chunk| {
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(chunk);
            framed.extend_from_slice(b"\r\n");
            framed
        })
        .chain(std::iter::once(b"0\r\n\r\n".to_vec()))
        .collect()
}
