//! `~/.netrc`: where pip (through requests) and uv look for the credentials of an index host whose
//! URL carries none, so `repox configure pip|uv --user NAME` keeps the index URL credential-free
//! and puts `machine HOST login NAME password SECRET` here; `repox warm` reads the same entry.
//!
//! The format is whitespace-separated tokens (`machine NAME`, `default`, `login`, `password`,
//! `account`, `macdef NAME` followed by lines up to a blank one), `#` comments, and double-quoted
//! tokens with backslash escapes (Python's `netrc` module). Both clients look entries up by host
//! name without the port (requests `get_netrc_auth`, uv's `rust-netrc`), and a `default` entry
//! must stay last, so a new entry goes before it. The editor splices tokens in place: comments,
//! layout and every other entry keep their bytes.

use std::path::PathBuf;

use super::Client;
use super::env::{Env, Os};
use super::plan::{Context, FileEdit};
use super::status::Status;
use super::text::{Malformed, line_of, newline};
use crate::settings::Hinted;

/// One token with its byte span in the text and its value (quotes and escapes removed).
#[derive(Debug, Clone)]
struct Token {
    start: usize,
    end: usize,
    value: String,
}

/// A `machine HOST …` or `default …` entry.
#[derive(Debug, Clone)]
struct Entry {
    /// `None` for `default`.
    machine: Option<String>,
    /// Where the entry starts (the `machine`/`default` keyword).
    start: usize,
    /// The end of the last token of the header (`machine HOST` or `default`).
    header_end: usize,
    login: Option<Token>,
    password: Option<Token>,
}

/// Keywords followed by a value.
const WITH_VALUE: &[&str] = &["machine", "login", "password", "account", "macdef"];

/// Splits `text` into tokens, skipping comments and `macdef` bodies.
fn tokens(text: &str) -> Result<Vec<Token>, Malformed> {
    let bytes = text.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    // The previous token was a keyword that takes a value (the name of it).
    let mut keyword: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // A `#` where a keyword is expected starts a comment (values may start with `#`).
        if c == b'#' && keyword.is_none() {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            continue;
        }
        let start = i;
        let mut value = String::new();
        if c == b'"' {
            i += 1;
            let mut closed = false;
            while let Some(ch) = text[i..].chars().next() {
                match ch {
                    '"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    '\\' => {
                        i += 1;
                        if let Some(escaped) = text[i..].chars().next() {
                            value.push(escaped);
                            i += escaped.len_utf8();
                        }
                    }
                    _ => {
                        value.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            if !closed {
                return Err(Malformed::at(text, start, "unterminated quoted token"));
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            value.push_str(&text[start..i]);
        }
        let was_macdef_name = keyword.as_deref() == Some("macdef");
        keyword = match keyword {
            Some(_) => None,
            None => WITH_VALUE.contains(&value.as_str()).then(|| value.clone()),
        };
        out.push(Token {
            start,
            end: i,
            value,
        });
        if was_macdef_name {
            // The macro body runs from the next line to the first empty line.
            let body = text[i..].find('\n').map_or(text.len(), |n| i + n + 1);
            i = body;
            for line in text[body..].split_inclusive('\n') {
                i += line.len();
                if line.trim().is_empty() {
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// The entries of a netrc file.
fn parse(text: &str) -> Result<Vec<Entry>, Malformed> {
    let tokens = tokens(text)?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let value = |i: usize| {
            tokens.get(i + 1).cloned().ok_or_else(|| {
                Malformed::at(text, t.start, format!("`{}` without a value", t.value))
            })
        };
        match t.value.as_str() {
            "machine" => {
                let host = value(i)?;
                entries.push(Entry {
                    machine: Some(host.value.clone()),
                    start: t.start,
                    header_end: host.end,
                    login: None,
                    password: None,
                });
                i += 2;
            }
            "default" => {
                entries.push(Entry {
                    machine: None,
                    start: t.start,
                    header_end: t.end,
                    login: None,
                    password: None,
                });
                i += 1;
            }
            "login" | "password" | "account" | "macdef" => {
                let v = value(i)?;
                let entry = entries.last_mut().filter(|_| t.value != "macdef");
                match (t.value.as_str(), entry) {
                    ("login", Some(e)) => e.login = Some(v),
                    ("password", Some(e)) => e.password = Some(v),
                    ("login" | "password" | "account", None) => {
                        return Err(Malformed::at(
                            text,
                            t.start,
                            format!("`{}` before any `machine` or `default`", t.value),
                        ));
                    }
                    _ => {}
                }
                i += 2;
            }
            other => {
                return Err(Malformed::at(
                    text,
                    t.start,
                    format!(
                        "unexpected token `{other}` (expected machine, default, login, password, account or macdef)"
                    ),
                ));
            }
        }
    }
    Ok(entries)
}

/// Whether `value` can be written as a plain netrc token that every reader takes verbatim.
pub fn is_plain_token(value: &str) -> bool {
    !value.is_empty()
        && !value.starts_with('#')
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
}

/// Sets `login` and `password` for `machine host` in the text of a netrc file.
pub fn edit(old: &str, host: &str, login: &str, password: &str) -> Result<String, Malformed> {
    for (what, value) in [("host", host), ("login", login), ("password", password)] {
        if !is_plain_token(value) {
            return Err(Malformed::new(
                1,
                format!("the {what} cannot be written to netrc (spaces, quotes or a leading #)"),
            ));
        }
    }
    let entries = parse(old)?;
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let ours: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.machine.as_deref() == Some(host))
        .collect();
    for entry in &ours {
        let mut added = String::new();
        for (token, value, keyword) in [
            (&entry.login, login, "login"),
            (&entry.password, password, "password"),
        ] {
            match token {
                Some(t) if t.value == value => {}
                Some(t) => edits.push((t.start, t.end, value.to_owned())),
                None => added.push_str(&format!(" {keyword} {value}")),
            }
        }
        if !added.is_empty() {
            edits.push((entry.header_end, entry.header_end, added));
        }
    }
    if ours.is_empty() {
        let nl = newline(old);
        let line = format!("machine {host} login {login} password {password}{nl}");
        match entries.iter().find(|e| e.machine.is_none()) {
            // `default` must stay the last entry.
            Some(default) => {
                let at = old[..default.start].rfind('\n').map_or(0, |n| n + 1);
                edits.push((at, at, line));
            }
            None => {
                let sep = if old.is_empty() || old.ends_with('\n') {
                    ""
                } else {
                    nl
                };
                edits.push((old.len(), old.len(), format!("{sep}{line}")));
            }
        }
    }
    edits.sort_by_key(|e| (e.0, e.1));
    let mut new = String::with_capacity(old.len() + 64);
    let mut next = 0;
    for (start, end, text) in edits {
        new.push_str(&old[next..start]);
        new.push_str(&text);
        next = end;
    }
    new.push_str(&old[next..]);
    if lookup(&new, host) != Some((login.to_owned(), password.to_owned())) {
        return Err(Malformed::new(
            line_of(old, old.len()),
            "internal error: the entry does not read back",
        ));
    }
    Ok(new)
}

/// The login and password for `host`: the last `machine host` entry, else `default`.
pub fn lookup(text: &str, host: &str) -> Option<(String, String)> {
    let entries = parse(text).ok()?;
    let entry = entries
        .iter()
        .rev()
        .find(|e| e.machine.as_deref() == Some(host))
        .or_else(|| entries.iter().find(|e| e.machine.is_none()))?;
    Some((
        entry
            .login
            .as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_default(),
        entry.password.as_ref()?.value.clone(),
    ))
}

/// The login name for `host`, if an entry has one (for `--status`, which never shows secrets).
pub fn login_for(text: &str, host: &str) -> Option<String> {
    let entries = parse(text).ok()?;
    entries
        .iter()
        .rev()
        .find(|e| e.machine.as_deref() == Some(host) && e.password.is_some())
        .map(|e| {
            e.login
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default()
        })
}

/// The netrc file pip and uv read: `$NETRC`, else `~/.netrc` (`~/_netrc` on Windows when only
/// that one exists).
pub fn file(env: &Env) -> PathBuf {
    if let Some(path) = env.path_var("NETRC") {
        return path;
    }
    let dot = env.home.join(".netrc");
    let underscore = env.home.join("_netrc");
    if env.os == Os::Windows && !dot.exists() && underscore.exists() {
        underscore
    } else {
        dot
    }
}

/// The netrc change for the credentials of `ctx` (none without credentials).
pub fn plan_edit(ctx: &Context, client: Client) -> anyhow::Result<Option<FileEdit>> {
    let Some(creds) = &ctx.target.credentials else {
        return Ok(None);
    };
    for (what, value) in [("user name", creds.username()), ("secret", &creds.token)] {
        if !is_plain_token(value) {
            return Err(Hinted {
                message: format!(
                    "{}: the {what} has spaces, quotes or backslashes, which netrc cannot hold",
                    client.name()
                ),
                hint: "create a token with `repox token create USER` and pass it with --token-env"
                    .to_owned(),
            }
            .into());
        }
    }
    let host = ctx.target.host().to_owned();
    let path = file(&ctx.env);
    FileEdit::compute(client, &path, true, |old| {
        edit(old, &host, creds.username(), &creds.token)
    })
    .map(Some)
}

/// Names the netrc entry for repox's host in `status`, if there is one.
pub fn status(env: &Env, status: &mut Status) {
    let path = file(env);
    let host = status.target_host().to_owned();
    let Some(text) = status.read(env, &path, |t| Ok(t.to_owned())) else {
        return;
    };
    if let Some(login) = login_for(&text, &host) {
        status.credentials_in(env, &path, &format!("machine {host}"), Some(&login));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# machines I log in to
machine ftp.example.com login anon password me@example.com

machine repox.lan
    login old
    password oldsecret
    account x

macdef init
cd /pub
machine inside.macro login no password no

default login anonymous password guest
";

    #[test]
    fn before_after() {
        let after = edit(BEFORE, "127.0.0.1", "alice", "repox-tok").unwrap();
        insta::assert_snapshot!("netrc_new_entry", after);
        assert_eq!(
            edit(&after, "127.0.0.1", "alice", "repox-tok").unwrap(),
            after
        );
        let updated = edit(BEFORE, "repox.lan", "alice", "repox-tok").unwrap();
        insta::assert_snapshot!("netrc_updated_entry", updated);
        assert_eq!(
            lookup(&updated, "repox.lan"),
            Some(("alice".into(), "repox-tok".into()))
        );
        // Everything else survives byte for byte.
        assert_eq!(
            updated
                .replace("alice", "old")
                .replace("repox-tok", "oldsecret"),
            BEFORE
        );
    }

    #[test]
    fn new_file_and_missing_fields() {
        assert_eq!(
            edit("", "h", "u", "p").unwrap(),
            "machine h login u password p\n"
        );
        assert_eq!(
            edit("machine h", "h", "u", "p").unwrap(),
            "machine h login u password p"
        );
        assert_eq!(
            edit("machine h password p\r\nmachine k", "h", "u", "q").unwrap(),
            "machine h login u password q\r\nmachine k"
        );
        assert_eq!(
            edit("machine k login a password b", "h", "u", "p").unwrap(),
            "machine k login a password b\nmachine h login u password p\n"
        );
    }

    #[test]
    fn lookup_rules() {
        let text = "machine h login a password 1\nmachine h login b password \"2 x\"\ndefault login d password 3\n";
        assert_eq!(lookup(text, "h"), Some(("b".into(), "2 x".into())));
        assert_eq!(lookup(text, "other"), Some(("d".into(), "3".into())));
        assert_eq!(lookup("machine h login a", "h"), None);
        assert_eq!(login_for(text, "h").as_deref(), Some("b"));
        // A password that starts with `#` is a value, not a comment.
        assert_eq!(
            lookup("machine h login a password #x", "h"),
            Some(("a".into(), "#x".into()))
        );
    }

    #[test]
    fn refuses_what_it_cannot_write_or_read() {
        assert!(edit("", "h", "u", "with space").is_err());
        assert!(edit("", "h", "u", "quo\"te").is_err());
        assert_eq!(edit("login x", "h", "u", "p").unwrap_err().line, 1);
        assert_eq!(
            edit("machine a\nbogus b", "h", "u", "p").unwrap_err().line,
            2
        );
        assert!(edit("machine \"open", "h", "u", "p").is_err());
    }

    /// Random netrc-like texts (a fixed-seed generator, 3000 cases): the editor never panics; when
    /// it accepts a file, the entry reads back, a second run changes nothing, and every other
    /// host still reads as before.
    #[test]
    fn random_files_keep_their_other_entries() {
        const KEYWORDS: &[&str] = &[
            "machine", "login", "password", "account", "macdef", "default", "# note", "bogus",
        ];
        const VALUES: &[&str] = &[
            "h",
            "other",
            "127.0.0.1",
            "repox.lan",
            "u",
            "#p",
            "\"q x\"",
            "\"a\\\"b\"",
            "é",
            "\"open",
        ];
        const SEPS: &[&str] = &[" ", "\n", "\r\n", "\t", "\n\n", "  "];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..next(12) {
                // Mostly well-formed pairs, sometimes a stray keyword or value.
                let keyword = KEYWORDS[next(KEYWORDS.len())];
                text.push_str(keyword);
                text.push_str(SEPS[next(SEPS.len())]);
                let takes_value = !matches!(keyword, "default" | "# note") || next(8) == 0;
                if takes_value && next(30) != 0 {
                    text.push_str(VALUES[next(VALUES.len() - 1)]);
                    if keyword == "macdef" {
                        text.push_str("\ncd /x\n\n");
                    }
                    text.push_str(SEPS[next(SEPS.len())]);
                }
                if next(40) == 0 {
                    text.push_str(VALUES[VALUES.len() - 1]);
                }
            }
            let hosts = ["h", "other", "127.0.0.1"];
            let before: Vec<_> = hosts.iter().map(|h| lookup(&text, h)).collect();
            match edit(&text, "repox.lan", "al", "repox-t0k") {
                Ok(new) => {
                    accepted += 1;
                    assert_eq!(
                        lookup(&new, "repox.lan"),
                        Some(("al".into(), "repox-t0k".into())),
                        "{text:?} -> {new:?}"
                    );
                    assert_eq!(edit(&new, "repox.lan", "al", "repox-t0k").unwrap(), new);
                    let after: Vec<_> = hosts.iter().map(|h| lookup(&new, h)).collect();
                    assert_eq!(before, after, "{text:?} -> {new:?}");
                }
                Err(e) => {
                    refused += 1;
                    assert!(e.line >= 1, "{text:?}");
                }
            }
        }
        eprintln!("netrc editor: 3000 random files, {accepted} accepted, {refused} refused");
        assert!(
            accepted > 300 && refused > 300,
            "{accepted} accepted, {refused} refused"
        );
    }

    #[test]
    fn file_location() {
        let home = std::path::Path::new("/home/u");
        let env = Env::fake(home, home, Os::Linux, &[]);
        assert_eq!(file(&env), PathBuf::from("/home/u/.netrc"));
        let env = Env::fake(home, home, Os::Linux, &[("NETRC", "/run/netrc")]);
        assert_eq!(file(&env), PathBuf::from("/run/netrc"));
    }
}
