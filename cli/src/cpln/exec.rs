//! The workload exec websocket (`wss://REMOTE/exec`): runs one script in a member's
//! container and returns its output and exit status. Core builds the frames and the
//! scripts and reads the end marker; this module only moves bytes.

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use postgres_ha_core::cpln::Place;
use postgres_ha_core::cpln::exec::{finished, first_frame, wrap};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

use super::Api;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The command did not start: the socket could not be opened or the terminal server
/// could not create the session (a container starting or stopping). Trying again is
/// safe, which is not true of a command cut off midway.
#[derive(Debug)]
pub(crate) struct NotStarted(pub(crate) String);

impl std::fmt::Display for NotStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotStarted {}
/// Output a command may send back; Patroni's and psql's answers are far smaller.
const MAX_OUTPUT: usize = 16 << 20;

/// Runs `script` in `pod`'s PostgreSQL container, `input` on its standard input;
/// gives its output and exit status, or an error when it did not finish within
/// `timeout`.
pub(crate) fn run(
    api: &Api,
    remote: &str,
    place: &Place,
    pod: &str,
    script: &str,
    input: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<(String, i32)> {
    let deadline = Instant::now() + timeout;
    let nonce = nonce();
    let command = wrap(script, &nonce);
    let url = socket_url(remote);
    let mut socket = open(&url, deadline).map_err(|e| {
        anyhow::Error::new(NotStarted(format!(
            "exec into {pod}: {}",
            api.redact(&format!("{e:#}"))
        )))
    })?;
    let frame = first_frame(api.token(), place, pod, &command, &nonce, input.is_some());
    socket.send(Message::text(frame.to_string()))?;
    if let Some(input) = input {
        // Standard input is one binary message sent as fragments, ended by an empty
        // final frame, as the cpln CLI sends it.
        socket.write(Message::Frame(Frame::message(
            input.as_bytes().to_vec(),
            OpCode::Data(Data::Binary),
            false,
        )))?;
        socket.write(Message::Frame(Frame::message(
            Vec::new(),
            OpCode::Data(Data::Continue),
            true,
        )))?;
        socket.flush()?;
    }
    let mut output = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        anyhow::ensure!(
            !left.is_zero(),
            "the command in {pod} did not finish within {} s",
            timeout.as_secs()
        );
        set_timeout(&socket, left)?;
        match socket.read() {
            Ok(Message::Text(text)) => output.extend_from_slice(text.as_bytes()),
            Ok(Message::Binary(bytes)) => output.extend_from_slice(&bytes),
            // The server ends the output by closing, politely or not.
            Ok(Message::Close(_))
            | Err(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                ),
            ) => break,
            Ok(_) => {}
            Err(tungstenite::Error::Io(error))
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                continue;
            }
            Err(error) => {
                return Err(anyhow::anyhow!(api.redact(&error.to_string())))
                    .with_context(|| format!("exec into {pod}"));
            }
        }
        anyhow::ensure!(
            output.len() <= MAX_OUTPUT,
            "the command in {pod} sent more than {MAX_OUTPUT} bytes"
        );
    }
    let text = String::from_utf8_lossy(&output);
    finished(&text, &nonce).map_err(|e| {
        let message = format!("exec into {pod}: {}", api.redact(&e.to_string()));
        if e.not_started() {
            anyhow::Error::new(NotStarted(message))
        } else {
            anyhow::anyhow!(message)
        }
    })
}

/// `https://host` → `wss://host/exec` (and `http` → `ws`, for a terminal server on
/// loopback).
fn socket_url(remote: &str) -> String {
    let remote = remote.trim_end_matches('/');
    let socket = if let Some(rest) = remote.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = remote.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        format!("wss://{remote}")
    };
    format!("{socket}/exec")
}

fn open(url: &str, deadline: Instant) -> anyhow::Result<WebSocket<MaybeTlsStream<TcpStream>>> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("Origin", "http://localhost".parse()?);
    let uri = request.uri();
    let host = uri.host().context("the exec URL has no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("ws") {
        80
    } else {
        443
    });
    let address = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1)),
    ))?;
    stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    let (socket, _) = tungstenite::client_tls_with_config(request, stream, None, None)
        .map_err(|e| anyhow::anyhow!("websocket handshake: {e}"))?;
    Ok(socket)
}

fn set_timeout(
    socket: &WebSocket<MaybeTlsStream<TcpStream>>,
    left: Duration,
) -> anyhow::Result<()> {
    let stream = match socket.get_ref() {
        MaybeTlsStream::Plain(stream) => stream,
        MaybeTlsStream::Rustls(tls) => tls.get_ref(),
        _ => return Ok(()),
    };
    stream.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
    Ok(())
}

/// 16 random hex digits: the end marker's and the context's id.
fn nonce() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_become_socket_urls() {
        assert_eq!(socket_url("https://x.cpln.io/"), "wss://x.cpln.io/exec");
        assert_eq!(socket_url("http://127.0.0.1:9"), "ws://127.0.0.1:9/exec");
    }
}
