//! `kill -9` of a repox node on an S3 bucket (moto in server mode on 127.0.0.1) while it
//! uploads a large download in parts: no object appears, so another node on the bucket does not
//! serve it as a hit and downloads it whole itself.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::clients_support::clients_present;
use crate::crash::slow_upstream;
use crate::repox_server::{RepoxServer, free_port};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path`: the status line and headers (lowercase), and the body.
fn get(addr: &str, path: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(all.len());
    let head = String::from_utf8_lossy(&all[..split]).to_ascii_lowercase();
    (head, all.get(split + 4..).unwrap_or_default().to_vec())
}

#[test]
fn kill_9_mid_upload_leaves_no_object_on_the_bucket() {
    let moto_ok = Command::new("python3")
        .args(["-c", "import moto.server, flask, werkzeug"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !clients_present(
        if moto_ok { &[] } else { &["moto"] },
        "python3 -m pip install 'moto[server]'",
    ) {
        return;
    }
    // repox reads S3 credentials from the environment it inherits: without them, run this test
    // again in a child that has them (moto takes any).
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "s3_crash::kill_9_mid_upload_leaves_no_object_on_the_bucket",
                "--exact",
                "--nocapture",
            ])
            .env("AWS_ACCESS_KEY_ID", "repox-test")
            .env("AWS_SECRET_ACCESS_KEY", "repox-test-secret")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "with test credentials:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let port = free_port().port();
    let moto = Moto(
        Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint = format!("127.0.0.1:{port}");
    let mut made = false;
    for _ in 0..200 {
        if let Ok(mut s) = TcpStream::connect(&endpoint) {
            let _ = write!(
                s,
                "PUT /crash HTTP/1.1\r\nHost: {endpoint}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                made = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(made, "moto did not start");

    // 10 MiB at 16 KiB per 10 ms: the first 8 MiB part goes up after about 5 s.
    let jar = "org/s3/x/1.0/x-1.0.jar";
    let body: Vec<u8> = (0..10u32 << 20)
        .map(|n| n.wrapping_mul(2_654_435_761) as u8 ^ (n >> 13) as u8)
        .collect();
    let upstream = slow_upstream(BTreeMap::from([(jar.to_owned(), body.clone())]));
    let config = format!(
        "[storage]\nurl = \"s3://crash/repox\"\nendpoint = \"http://{endpoint}\"\nregion = \"us-east-1\"\n\
         [repositories.maven]\nkind = \"maven\"\n[[repositories.maven.upstreams]]\nname = \"slow\"\nurl = \"http://{upstream}/\"\n"
    );
    let a_dir = tempfile::tempdir().unwrap();
    let a = RepoxServer::start(a_dir.path(), &config);
    let a_addr = a
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let client = std::thread::spawn(move || get(&a_addr, &format!("maven/{jar}")));
    std::thread::sleep(Duration::from_millis(5_800));
    // `Child::kill` is SIGKILL: repox gets no chance to abort its multipart upload.
    drop(a);
    let (_, cut) = client.join().unwrap();
    assert!(cut.len() < body.len(), "killed before the end");

    let b_dir = tempfile::tempdir().unwrap();
    let b = RepoxServer::start(b_dir.path(), &config);
    let b_addr = b
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let (head, got) = get(&b_addr, &format!("maven/{jar}"));
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        !head.contains("x-repox-cache: hit"),
        "the killed node left an object: {head}"
    );
    assert!(got == body, "node B downloads the whole file itself");
    drop(moto);
}
