//! A tiny HTTP/1.1 server on 127.0.0.1 for the real-client tests: fixed bodies per path, every
//! request recorded with its `Authorization` header, and a Basic challenge (401) for requests
//! without one of the accepted credentials, so a test proves the client sent what repox wrote.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Path, content type, body.
pub type Route = (String, &'static str, String);

/// A request the test server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
}

/// An HTTP/1.1 server on 127.0.0.1 that serves fixed bodies, records requests, and answers 401
/// with a Basic challenge when `auth` is set and the request does not carry one of its values.
pub struct Server {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn start(routes: Vec<Route>, auth: Vec<String>) -> Server {
        start_with_own_url(move |_| routes.clone(), auth)
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

/// Starts a server whose routes mention its own URL.
pub fn start_with_own_url(routes: impl Fn(&str) -> Vec<Route>, auth: Vec<String>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let routes = routes(&url);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let routes = routes.clone();
            let auth = auth.clone();
            let log = log.clone();
            std::thread::spawn(move || serve(stream, &routes, &auth, &log));
        }
    });
    Server { url, seen }
}

fn serve(
    stream: std::net::TcpStream,
    routes: &[(String, &str, String)],
    auth: &[String],
    log: &Mutex<Vec<Seen>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("/").to_owned();
        let mut authorization = None;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "authorization" => authorization = Some(value.trim().to_owned()),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let path = path.split('?').next().unwrap_or("").to_owned();
        log.lock().unwrap().push(Seen {
            path: path.clone(),
            authorization: authorization.clone(),
        });
        let authorized =
            auth.is_empty() || authorization.as_ref().is_some_and(|a| auth.contains(a));
        let (status, content_type, payload) = if !authorized {
            (
                "401 Unauthorized",
                "text/plain",
                "credentials needed".to_owned(),
            )
        } else {
            match routes.iter().find(|(p, _, _)| *p == path) {
                Some((_, ct, body)) => ("200 OK", *ct, body.clone()),
                None => ("404 Not Found", "text/plain", "not found".to_owned()),
            }
        };
        let challenge = if authorized {
            ""
        } else {
            "WWW-Authenticate: Basic realm=\"repox\"\r\n"
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{challenge}Connection: keep-alive\r\n\r\n",
            payload.len()
        );
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        if method != "HEAD" && stream.write_all(payload.as_bytes()).is_err() {
            return;
        }
    }
}

/// Standard base64 (for expected Basic credentials).
pub fn base64(input: &str) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = input.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
