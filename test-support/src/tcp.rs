//! A TCP test server for guests' sockets: it answers every connection with a fixed message after
//! a delay, so a test can see a guest's socket wait overlap its other waits.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// Listens on a free port of 127.0.0.1 and, for every connection, writes `message` after
/// `delay` (then closes it); returns the port. Runs on the current tokio runtime until it ends.
pub async fn answer_after(delay: Duration, message: &'static [u8]) -> std::io::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = socket.write_all(message).await;
            });
        }
    });
    Ok(port)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn answers_after_the_delay() -> std::io::Result<()> {
        let port = super::answer_after(Duration::from_millis(50), b"late hello").await?;
        let start = Instant::now();
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        assert_eq!(answer, b"late hello");
        assert!(start.elapsed() >= Duration::from_millis(50));
        Ok(())
    }
}
