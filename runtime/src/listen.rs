//! Binding listeners with errors that say what to change.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// A listener could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} for {purpose}: {source}; set {setting} to a free address")]
pub struct ListenError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// What the listener is for.
    pub purpose: &'static str,
    /// The setting that chooses the address.
    pub setting: &'static str,
    /// Why binding failed.
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr`, naming what the listener is for and which setting chooses its address.
pub async fn bind(
    addr: SocketAddr,
    purpose: &'static str,
    setting: &'static str,
) -> Result<TcpListener, ListenError> {
    TcpListener::bind(addr).await.map_err(|source| ListenError {
        addr,
        purpose,
        setting,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_port_names_the_setting_to_change() {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = first.local_addr().unwrap();
        let err = bind(addr, "webhooks", "HOOKLINE_INGEST_LISTEN")
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&addr.to_string()), "{message}");
        assert!(message.contains("set HOOKLINE_INGEST_LISTEN"), "{message}");
    }
}
