//! twine's `~/.pypirc` (the PyPA `.pypirc` specification): with `repox configure pip --publish
//! REPO`, a `[repox]` section whose `repository` is the hosted repository's upload URL, named in
//! `[distutils] index-servers`, so that `twine upload -r repox dist/*` publishes to repox. The
//! login (`--user` with a token or password) goes in the section too, which makes the file a
//! secret (created readable by its owner only).
//!
//! The editor rewrites only the `[repox]` section and the `index-servers` list; every other line
//! (other repositories, comments) stays as it was.

use super::target::Target;
use super::text::Malformed;

/// The section name, and the name for `twine upload -r`.
pub const SECTION: &str = "repox";

/// Sets repox's section in the text of a `.pypirc`, for uploads to hosted repository `repo`.
pub fn edit(old: &str, target: &Target, repo: &str) -> Result<String, Malformed> {
    let nl = if old.contains("\r\n") { "\r\n" } else { "\n" };
    let mut lines: Vec<String> = old.lines().map(str::to_owned).collect();
    // Drop the old `[repox]` section, from its header to the next header.
    if let Some(start) = lines.iter().position(|l| header(l) == Some(SECTION)) {
        let end = lines[start + 1..]
            .iter()
            .position(|l| header(l).is_some())
            .map_or(lines.len(), |i| start + 1 + i);
        lines.drain(start..end);
    }
    ensure_index_server(&mut lines);
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if !lines.is_empty() {
        lines.push(String::new());
    }
    lines.push(format!("[{SECTION}]"));
    lines.push(format!("repository = {}", target.join(&format!("{repo}/"))));
    if let Some(creds) = &target.credentials {
        lines.push(format!("username = {}", creds.username()));
        lines.push(format!("password = {}", creds.token));
    }
    let mut new = lines.join(nl);
    new.push_str(nl);
    Ok(new)
}

/// The section a `[name]` line opens.
fn header(line: &str) -> Option<&str> {
    let t = line.trim();
    t.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

/// Makes `[distutils] index-servers` list `repox` (adding the section or the key if needed).
fn ensure_index_server(lines: &mut Vec<String>) {
    let Some(start) = lines.iter().position(|l| header(l) == Some("distutils")) else {
        let mut head = vec![
            "[distutils]".to_owned(),
            "index-servers =".to_owned(),
            format!("    {SECTION}"),
        ];
        if !lines.is_empty() {
            head.push(String::new());
        }
        lines.splice(0..0, head);
        return;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| header(l).is_some())
        .map_or(lines.len(), |i| start + 1 + i);
    let key = (start + 1..end).find(|&i| {
        lines[i]
            .split_once('=')
            .is_some_and(|(k, _)| k.trim() == "index-servers")
    });
    let Some(key) = key else {
        lines.insert(start + 1, format!("index-servers =\n    {SECTION}"));
        return;
    };
    // The value: the rest of the key's line plus its indented continuation lines.
    let mut last = key;
    let mut names: Vec<String> = lines[key]
        .split_once('=')
        .map(|(_, v)| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    while last + 1 < end
        && lines[last + 1].starts_with([' ', '\t'])
        && !lines[last + 1].trim().is_empty()
    {
        last += 1;
        names.extend(lines[last].split_whitespace().map(str::to_owned));
    }
    if !names.iter().any(|n| n == SECTION) {
        lines.insert(last + 1, format!("    {SECTION}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configure::target::Credentials;

    fn target(creds: bool) -> Target {
        let mut t = Target::new(&url::Url::parse("http://repox.example:8078/").unwrap()).unwrap();
        if creds {
            t.credentials = Some(Credentials {
                username: Some("alice".into()),
                token: "s3cret".into(),
                password: true,
            });
        }
        t
    }

    #[test]
    fn a_new_file_names_repox_and_its_upload_url() {
        let new = edit("", &target(true), "pypi-releases").unwrap();
        assert_eq!(
            new,
            "[distutils]\nindex-servers =\n    repox\n\n[repox]\n\
             repository = http://repox.example:8078/pypi-releases/\nusername = alice\npassword = s3cret\n"
        );
        assert_eq!(edit(&new, &target(true), "pypi-releases").unwrap(), new);
    }

    #[test]
    fn other_servers_and_comments_survive_and_the_old_section_is_replaced() {
        let old = "# mine\n[distutils]\nindex-servers =\n    pypi\n    testpypi\n\n[pypi]\nusername = __token__\n\n\
                   [repox]\nrepository = http://old/\n\n[testpypi]\nrepository = https://test.pypi.org/legacy/\n";
        let new = edit(old, &target(false), "rel").unwrap();
        assert!(
            new.starts_with(
                "# mine\n[distutils]\nindex-servers =\n    pypi\n    testpypi\n    repox\n"
            ),
            "{new}"
        );
        assert!(new.contains("[pypi]\nusername = __token__\n"), "{new}");
        assert!(
            new.contains("[testpypi]\nrepository = https://test.pypi.org/legacy/\n"),
            "{new}"
        );
        assert!(!new.contains("http://old/"), "{new}");
        assert!(
            new.ends_with("[repox]\nrepository = http://repox.example:8078/rel/\n"),
            "{new}"
        );
        assert_eq!(edit(&new, &target(false), "rel").unwrap(), new);
        let inline = edit(
            "[distutils]\nindex-servers = pypi repox\n",
            &target(false),
            "rel",
        )
        .unwrap();
        assert!(
            inline.starts_with("[distutils]\nindex-servers = pypi repox\n\n[repox]\n"),
            "{inline}"
        );
    }
}
