//! A programmable fake upstream speaking raw HTTP/1.1 over TCP, for fault injection: it can
//! lie about `Content-Length`, close or reset the connection mid-body, drip, never end, or
//! never answer, which a well-behaved HTTP server library will not do. Every connection serves
//! one request and closes; each request is counted by path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

/// How the upstream answers one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The file, with its `Content-Length`.
    None,
    /// Accepts the connection and never answers.
    Hang,
    /// Headers and this many bytes, then silence with the connection open.
    Stall(usize),
    /// Headers and this many bytes, then a TCP reset.
    Reset(usize),
    /// The full `Content-Length`, this many bytes, then a clean close.
    CutWithLength(usize),
    /// No `Content-Length`, this many bytes, then a clean close (looks complete).
    CutNoLength(usize),
    /// A body of the right length with different bytes.
    WrongBytes,
    /// The right body with an `X-Checksum-SHA1` header that does not match it.
    WrongChecksumHeader,
    /// A 200 HTML maintenance page labelled `application/octet-stream`.
    Html,
    /// No `Content-Length` and bytes forever, as fast as they are taken.
    Endless,
    /// The right `Content-Length`, one byte every 50 ms.
    Drip,
    /// `Content-Length: 100000000000`, then the file's bytes and silence.
    HugeLength,
    /// This status with a short text body.
    Status(u16),
}

#[derive(Default)]
struct State {
    files: HashMap<String, Bytes>,
    faults: HashMap<String, Fault>,
    hits: HashMap<String, usize>,
    finished: HashMap<String, usize>,
}

/// The fake upstream.
pub struct FaultUpstream {
    pub url: Url,
    state: Arc<Mutex<State>>,
}

impl FaultUpstream {
    pub async fn start() -> FaultUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, st.clone()));
            }
        });
        FaultUpstream { url, state }
    }

    pub fn put(&self, path: &str, body: impl Into<Bytes>) -> &Self {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_owned(), body.into());
        self
    }

    /// Serves `body` at `path` and its SHA-1 at `path.sha1`.
    pub fn put_with_sha1(&self, path: &str, body: impl Into<Bytes>) -> &Self {
        use sha1::Digest;
        let body = body.into();
        self.put(
            &format!("{path}.sha1"),
            hex::encode(sha1::Sha1::digest(&body)),
        );
        self.put(path, body)
    }

    pub fn fault(&self, path: &str, fault: Fault) -> &Self {
        self.state
            .lock()
            .unwrap()
            .faults
            .insert(path.to_owned(), fault);
        self
    }

    /// Responses to `path` that ended (sent whole, or the reader went away).
    pub fn finished(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .finished
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests seen for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let method = words.next().unwrap_or("").to_owned();
    let path = words
        .next()
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_owned();
    let range_start = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("range").then_some(())?;
        v.trim()
            .strip_prefix("bytes=")?
            .strip_suffix('-')?
            .parse::<usize>()
            .ok()
    });
    let (body, fault) = {
        let mut st = state.lock().unwrap();
        *st.hits.entry(path.clone()).or_default() += 1;
        let fault = st.faults.get(&path).copied().unwrap_or(Fault::None);
        (st.files.get(&path).cloned(), fault)
    };
    let head_only = method == "HEAD";
    let send = |status: &str, headers: &str| {
        format!("HTTP/1.1 {status}\r\nConnection: close\r\n{headers}\r\n").into_bytes()
    };
    if let Fault::Status(code) = fault {
        let msg = b"upstream says no";
        let _ = socket
            .write_all(&send(
                &format!("{code} Fault"),
                &format!("Content-Length: {}\r\n", msg.len()),
            ))
            .await;
        let _ = socket.write_all(msg).await;
        return;
    }
    if fault == Fault::Hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    let Some(body) = body else {
        let _ = socket
            .write_all(&send("404 Not Found", "Content-Length: 0\r\n"))
            .await;
        return;
    };
    const BIN: &str = "Content-Type: application/octet-stream\r\n";
    // Only a healthy file honours ranges: a resume must not paper over the fault under test.
    if fault == Fault::None
        && let Some(start) = range_start.filter(|s| *s < body.len())
    {
        let part = body.slice(start..);
        let headers = format!(
            "{BIN}Accept-Ranges: bytes\r\nContent-Range: bytes {start}-{}/{}\r\nContent-Length: {}\r\n",
            body.len() - 1,
            body.len(),
            part.len()
        );
        let _ = socket
            .write_all(&send("206 Partial Content", &headers))
            .await;
        if !head_only {
            let _ = socket.write_all(&part).await;
        }
        return;
    }
    let with_len = format!("{BIN}Content-Length: {}\r\n", body.len());
    let result: std::io::Result<()> = async {
        match fault {
            Fault::None | Fault::Hang | Fault::Status(_) => {
                socket.write_all(&send("200 OK", &with_len)).await?;
                if !head_only {
                    socket.write_all(&body).await?;
                }
            }
            Fault::Stall(n) => {
                socket.write_all(&send("200 OK", &with_len)).await?;
                socket.write_all(&body[..n.min(body.len())]).await?;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Fault::Reset(n) => {
                socket.write_all(&send("200 OK", &with_len)).await?;
                socket.write_all(&body[..n.min(body.len())]).await?;
                socket.flush().await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
                #[allow(deprecated)]
                socket.set_linger(Some(Duration::ZERO))?;
                drop(socket);
            }
            Fault::CutWithLength(n) => {
                socket.write_all(&send("200 OK", &with_len)).await?;
                socket.write_all(&body[..n.min(body.len())]).await?;
            }
            Fault::CutNoLength(n) => {
                socket.write_all(&send("200 OK", BIN)).await?;
                socket.write_all(&body[..n.min(body.len())]).await?;
            }
            Fault::WrongChecksumHeader => {
                let headers = format!("{with_len}X-Checksum-SHA1: {}\r\n", "0".repeat(40));
                socket.write_all(&send("200 OK", &headers)).await?;
                socket.write_all(&body).await?;
            }
            Fault::WrongBytes => {
                socket.write_all(&send("200 OK", &with_len)).await?;
                let wrong: Vec<u8> = body.iter().map(|b| b ^ 0x5a).collect();
                socket.write_all(&wrong).await?;
            }
            Fault::Html => {
                let page = b"<!DOCTYPE html>\n<html><body>Down for maintenance</body></html>\n";
                let headers = format!("{BIN}Content-Length: {}\r\n", page.len());
                socket.write_all(&send("200 OK", &headers)).await?;
                socket.write_all(page).await?;
            }
            Fault::Endless => {
                socket.write_all(&send("200 OK", BIN)).await?;
                let junk = vec![0x42u8; 64 * 1024];
                loop {
                    socket.write_all(&junk).await?;
                }
            }
            Fault::Drip => {
                socket.write_all(&send("200 OK", &with_len)).await?;
                for b in body.iter() {
                    socket.write_all(&[*b]).await?;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Fault::HugeLength => {
                let headers = format!("{BIN}Content-Length: 100000000000\r\n");
                socket.write_all(&send("200 OK", &headers)).await?;
                socket.write_all(&body).await?;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
        Ok(())
    }
    .await;
    let _ = result;
    *state.lock().unwrap().finished.entry(path).or_default() += 1;
}
