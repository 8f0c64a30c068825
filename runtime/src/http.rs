//! Serving an axum router over HTTP/1.1 with a deadline on request headers.
//!
//! `axum::serve` has no header-read timeout, so a client that opens a connection and trickles
//! its request line and headers byte by byte (slowloris) would hold a connection and a task
//! forever. [`serve`] runs hyper's HTTP/1 connection directly with
//! [`header_read_timeout`](hyper::server::conn::http1::Builder::header_read_timeout): a
//! client that has not sent its complete headers within the deadline is disconnected. Deadlines
//! on the body are the handler's business, since only it knows how much it reads.
//!
//! Shutdown is graceful: when `shutdown` is cancelled the listener stops accepting, idle
//! keep-alive connections are closed, and in-flight requests run to completion.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long to pause after a failed `accept` (e.g. out of file descriptors) before retrying.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` is cancelled, then waits for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let connection = graceful.watch(
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone())),
        );
        tokio::spawn(async move {
            // Timeouts and clients that hang up are routine, not worth more than a debug line.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::Notify;

    use super::*;

    type Server = tokio::task::JoinHandle<()>;

    /// A server with `/` and `/slow`, which signals `started` and then takes 300 ms.
    async fn start_with(
        header_read_timeout: Duration,
        started: Arc<Notify>,
    ) -> (std::net::SocketAddr, CancellationToken, Server) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let app = Router::new().route("/", get(|| async { "hello" })).route(
            "/slow",
            get(move || async move {
                started.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                "finally"
            }),
        );
        let server = tokio::spawn(serve(listener, app, header_read_timeout, shutdown.clone()));
        (addr, shutdown, server)
    }

    async fn start(
        header_read_timeout: Duration,
    ) -> (std::net::SocketAddr, CancellationToken, Server) {
        start_with(header_read_timeout, Arc::default()).await
    }

    async fn get_path(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn answers_complete_requests() {
        let (addr, shutdown, _) = start(Duration::from_secs(5)).await;
        let answer = get_path(addr, "/").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("hello"), "{answer}");
        shutdown.cancel();
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_finishes_requests_in_flight() {
        let started = Arc::new(Notify::new());
        let (addr, shutdown, server) = start_with(Duration::from_secs(5), started.clone()).await;
        let in_flight = tokio::spawn(get_path(addr, "/slow"));
        started.notified().await;
        shutdown.cancel();
        let answer = in_flight.await.unwrap();
        assert!(answer.ends_with("finally"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve returns once the request is done")
            .unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    }

    #[tokio::test]
    async fn disconnects_a_client_that_does_not_finish_its_headers() {
        let (addr, shutdown, _) = start(Duration::from_millis(200)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nhost:").await.unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        // Ends (EOF or reset) once the server gives up; the test's own deadline bounds it.
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
            .await
            .expect("the server closes the connection");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!String::from_utf8_lossy(&rest).contains("200"));
        shutdown.cancel();
    }
}
