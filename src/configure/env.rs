//! The machine as `repox configure` sees it: home, working directory, operating system,
//! environment variables and `PATH`.
//!
//! Every client module finds its files through this snapshot instead of reading the process
//! environment itself, so that locations (XDG variables, `%APPDATA%`, macOS quirks) are decided
//! in one place and unit tests can describe a machine without touching the real one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The operating-system families whose clients keep their files in different places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    Mac,
    Windows,
}

impl Os {
    pub fn current() -> Os {
        if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::Mac
        } else {
            Os::Linux
        }
    }
}

/// A snapshot of the environment.
#[derive(Debug, Clone)]
pub struct Env {
    pub home: PathBuf,
    pub cwd: PathBuf,
    pub os: Os,
    vars: HashMap<String, String>,
}

impl Env {
    /// The environment of this process.
    pub fn from_process() -> anyhow::Result<Env> {
        let home = etcetera::home_dir().context("cannot find the home directory")?;
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Ok(Env {
            home,
            cwd,
            os: Os::current(),
            vars,
        })
    }

    /// A described environment, for tests.
    #[cfg(test)]
    pub fn fake(home: &Path, cwd: &Path, os: Os, vars: &[(&str, &str)]) -> Env {
        Env {
            home: home.to_path_buf(),
            cwd: cwd.to_path_buf(),
            os,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A variable's value; empty counts as unset, as most clients treat it.
    pub fn var(&self, name: &str) -> Option<&str> {
        let value = if self.os == Os::Windows {
            self.vars
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        } else {
            self.vars.get(name).map(String::as_str)
        };
        value.filter(|v| !v.is_empty())
    }

    /// Variables whose name starts with `prefix` (case-insensitively), sorted by name.
    pub fn vars_with_prefix(&self, prefix: &str) -> Vec<(&str, &str)> {
        let prefix = prefix.to_ascii_lowercase();
        let mut found: Vec<(&str, &str)> = self
            .vars
            .iter()
            .filter(|(k, v)| !v.is_empty() && k.to_ascii_lowercase().starts_with(&prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        found.sort();
        found
    }

    /// A path-valued variable; relative values are ignored, as the XDG spec requires.
    pub fn path_var(&self, name: &str) -> Option<PathBuf> {
        self.var(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    }

    /// `$XDG_CONFIG_HOME`, else `~/.config`.
    pub fn xdg_config_home(&self) -> PathBuf {
        self.path_var("XDG_CONFIG_HOME")
            .unwrap_or_else(|| self.home.join(".config"))
    }

    /// `$XDG_DATA_HOME`, else `~/.local/share`.
    pub fn xdg_data_home(&self) -> PathBuf {
        self.path_var("XDG_DATA_HOME")
            .unwrap_or_else(|| self.home.join(".local").join("share"))
    }

    /// `%APPDATA%` (roaming), else `~\AppData\Roaming`.
    pub fn appdata(&self) -> PathBuf {
        self.path_var("APPDATA")
            .unwrap_or_else(|| self.home.join("AppData").join("Roaming"))
    }

    /// `%PROGRAMDATA%`, else `C:\ProgramData`.
    pub fn programdata(&self) -> PathBuf {
        self.path_var("PROGRAMDATA")
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
    }

    /// `~/Library/Application Support` (macOS).
    pub fn mac_app_support(&self) -> PathBuf {
        self.home.join("Library").join("Application Support")
    }

    /// The first executable called `name` on `PATH`.
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        let path = self.var("PATH")?;
        let exts: &[&str] = if self.os == Os::Windows {
            &[".exe", ".cmd", ".bat", ""]
        } else {
            &[""]
        };
        std::env::split_paths(path).find_map(|dir| {
            exts.iter().find_map(|ext| {
                let candidate = dir.join(format!("{name}{ext}"));
                is_executable(&candidate).then_some(candidate)
            })
        })
    }

    /// The nearest directory, from the working directory up, that contains one of `markers`.
    pub fn find_up(&self, markers: &[&str]) -> Option<PathBuf> {
        self.cwd
            .ancestors()
            .find(|dir| markers.iter().any(|m| dir.join(m).exists()))
            .map(Path::to_path_buf)
    }

    /// The working directory and its ancestors, nearest first.
    pub fn ancestors(&self) -> impl Iterator<Item = &Path> {
        self.cwd.ancestors()
    }

    /// A path for humans: `~/…` under the home directory.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.home) {
            Ok(rest) if !rest.as_os_str().is_empty() => {
                format!("~{}{}", std::path::MAIN_SEPARATOR, rest.display())
            }
            _ => path.display().to_string(),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_variables_must_be_absolute() {
        let env = Env::fake(
            Path::new("/home/u"),
            Path::new("/w"),
            Os::Linux,
            &[("XDG_CONFIG_HOME", "relative/dir")],
        );
        assert_eq!(env.xdg_config_home(), Path::new("/home/u/.config"));
        let env = Env::fake(
            Path::new("/home/u"),
            Path::new("/w"),
            Os::Linux,
            &[("XDG_CONFIG_HOME", "/cfg")],
        );
        assert_eq!(env.xdg_config_home(), Path::new("/cfg"));
    }

    #[test]
    fn display_shortens_home() {
        let env = Env::fake(Path::new("/home/u"), Path::new("/w"), Os::Linux, &[]);
        assert_eq!(
            env.display(Path::new("/home/u/.npmrc")),
            format!("~{}.npmrc", std::path::MAIN_SEPARATOR)
        );
        assert_eq!(env.display(Path::new("/etc/pip.conf")), "/etc/pip.conf");
    }
}
