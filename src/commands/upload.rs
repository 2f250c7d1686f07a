//! `repox upload FILE...`: put conda packages into a hosted conda repository.
//!
//! Each package's subdir comes from its own `info/index.json` (read with the server's reader,
//! so client and server agree), and the file goes to `PUT <channel URL>/<subdir>/<file>` with
//! its SHA-256 in `X-Checksum-Sha256`, which the server checks before it commits the upload.
//! Credentials are those of `repox warm` (`--user`, `REPOX_TOKEN`, `REPOX_PASSWORD`, netrc).

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use url::Url;

use crate::cli::{GlobalArgs, UploadArgs};
use crate::settings::Hinted;
use crate::warm::login;

pub fn run(global: &GlobalArgs, args: &UploadArgs) -> anyhow::Result<ExitCode> {
    let channel = channel_url(&args.to)?;
    let auth = login::authorization(
        args.user.as_deref(),
        &channel,
        &|name| std::env::var(name).ok(),
        login::read_netrc().as_deref(),
    )?;
    // Every file is read and checked before the first upload.
    let mut uploads = Vec::new();
    for path in &args.files {
        uploads.push(prepare(path, &channel)?);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("repox/", env!("CARGO_PKG_VERSION")))
        .build()?;
    runtime.block_on(async {
        for up in &uploads {
            let body = tokio::fs::File::open(&up.path)
                .await
                .with_context(|| format!("cannot open {}", up.path.display()))?;
            let mut req = client
                .put(up.url.clone())
                .header("X-Checksum-Sha256", &up.sha256)
                .header(reqwest::header::CONTENT_LENGTH, up.len)
                .body(body);
            if let Some(auth) = &auth {
                req = req.header(reqwest::header::AUTHORIZATION, auth.clone());
            }
            let resp = req
                .send()
                .await
                .with_context(|| format!("cannot upload to {}", up.url))?;
            let status = resp.status();
            if !status.is_success() {
                let text = resp.text().await.unwrap_or_default();
                let why = text.lines().next().unwrap_or("").trim().to_owned();
                return Err(Hinted {
                    message: format!("{}: {} answered {status}: {why}", up.path.display(), up.url),
                    hint: match status.as_u16() {
                        401 => "pass --user NAME with REPOX_TOKEN set, or a netrc entry".into(),
                        403 => "the user needs `write` on this repository".into(),
                        409 => "this file is already uploaded: build a new version or build number"
                            .into(),
                        _ => "check that --to names a hosted conda repository and channel".into(),
                    },
                }
                .into());
            }
            if !global.quiet {
                eprintln!("uploaded {} to {}", up.path.display(), up.url);
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The channel URL with one trailing `/`, so that `join` appends below it.
fn channel_url(to: &Url) -> anyhow::Result<Url> {
    if !matches!(to.scheme(), "http" | "https") || to.cannot_be_a_base() {
        return Err(Hinted {
            message: format!("--to {to} is not an http(s) URL"),
            hint: "pass the channel's URL, e.g. http://HOST:8078/conda-releases/team".into(),
        }
        .into());
    }
    let mut url = to.clone();
    let path = format!("{}/", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    Ok(url)
}

struct Upload {
    path: std::path::PathBuf,
    url: Url,
    sha256: String,
    len: u64,
}

/// Reads a package's subdir and digest, and where it goes.
fn prepare(path: &Path, channel: &Url) -> anyhow::Result<Upload> {
    use repox_proxy::hosted::conda;
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .filter(|f| conda::Format::of(f).is_some())
        .ok_or_else(|| Hinted {
            message: format!("{} is not a conda package", path.display()),
            hint: "upload .conda or .tar.bz2 files built by conda-build or rattler-build".into(),
        })?;
    let reader = fs_err::File::open(path)?;
    let index = conda::read_index(file, std::io::BufReader::new(reader))
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let subdir = index
        .get("subdir")
        .and_then(|s| s.as_str())
        .unwrap_or("noarch")
        .to_owned();
    conda::check(file, &subdir, &index).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut reader = fs_err::File::open(path)?;
    let mut buf = vec![0; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    let mut url = channel.clone();
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("--to {channel} cannot take a path"))?
        .pop_if_empty()
        .push(&subdir)
        .push(file);
    Ok(Upload {
        path: path.to_owned(),
        url,
        sha256: hex::encode(hasher.finalize()),
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_urls_end_in_one_slash() {
        let u = channel_url(&Url::parse("http://h:1/conda-releases/team//").unwrap()).unwrap();
        assert_eq!(u.as_str(), "http://h:1/conda-releases/team/");
        assert!(channel_url(&Url::parse("ftp://h/x").unwrap()).is_err());
    }

    #[test]
    fn non_packages_are_refused_before_any_upload() {
        let dir = tempfile::tempdir().unwrap();
        let whl = dir.path().join("x-1.0-py3-none-any.whl");
        std::fs::write(&whl, b"zip").unwrap();
        let channel = Url::parse("http://h/c/").unwrap();
        assert!(prepare(&whl, &channel).is_err());
        let fake = dir.path().join("x-1.0-0.conda");
        std::fs::write(&fake, b"not a zip").unwrap();
        assert!(prepare(&fake, &channel).is_err());
    }
}
