//! Target environments for Python resolution: a Python version and a wheel platform tag
//! (`--python 3.12 --platform manylinux_2_28_x86_64`), expanded into what pip would see there:
//! the ordered list of compatible wheel tags and the PEP 508 marker environment.
//!
//! The tag order is `packaging.tags.sys_tags()` for CPython: `cp312-cp312-<plat>` for every
//! platform tag, then `cp312-abi3-<plat>`, `cp312-none-<plat>`, the older `cp3x-abi3-<plat>`,
//! then `py312-none-<plat>`… and finally the `-none-any` tags. Platform tags follow
//! `packaging.tags.platform_tags()`: manylinux from the given glibc down to 2.5 (2.17 for
//! arches that never had older ones) with the `manylinux2014`/`2010`/`1` aliases after their
//! PEP 600 names, then `linux_<arch>`; macOS from the given version down, with the fat
//! binary formats; Windows has exactly one tag. The earlier a tag, the more pip prefers a wheel
//! that has it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder};

/// One target: what pip running there would install.
#[derive(Debug, Clone)]
pub struct Environment {
    /// `3.12` (or `3.12.4`).
    pub python: String,
    /// The platform tag as given: `manylinux_2_28_x86_64`.
    pub platform: String,
    /// Compatible wheel tags (`cp312-cp312-manylinux_2_28_x86_64`), best first.
    tags: HashMap<String, usize>,
    pub markers: MarkerEnvironment,
    /// `(major, minor)` of `python`.
    pub python_version: (u64, u64),
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Python {} on {}", self.python, self.platform)
    }
}

/// The operating system family a platform tag belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Os {
    Linux,
    Mac,
    Windows,
}

impl Environment {
    pub fn new(python: &str, platform: &str) -> Result<Environment, String> {
        let parts: Vec<u64> = python
            .trim()
            .split('.')
            .map(|p| p.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("`{python}` is not a Python version like 3.12"))?;
        // The bound keeps the tag list finite (one tag per older minor version).
        let (major, minor) = match parts[..] {
            [3, minor] | [3, minor, _] if minor <= MAX_MINOR => (3, minor),
            _ => return Err(format!("`{python}` is not a Python 3 version like 3.12")),
        };
        let patch = parts.get(2).copied().unwrap_or(0);
        let (os, platforms, machine) = platform_tags(platform)?;
        let tags = cpython_tags((major, minor), &platforms)
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, i))
            .collect();
        let full = format!("{major}.{minor}.{patch}");
        let short = format!("{major}.{minor}");
        let (sys_platform, platform_system, os_name) = match os {
            Os::Linux => ("linux", "Linux", "posix"),
            Os::Mac => ("darwin", "Darwin", "posix"),
            Os::Windows => ("win32", "Windows", "nt"),
        };
        let markers = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name,
            platform_machine: &machine,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system,
            platform_version: "",
            python_full_version: &full,
            python_version: &short,
            sys_platform,
        })
        .map_err(|e| format!("`{python}`: {e}"))?;
        Ok(Environment {
            python: python.trim().to_owned(),
            platform: platform.to_owned(),
            tags,
            markers,
            python_version: (major, minor),
        })
    }

    /// Every combination of the given versions and platforms; the running machine's when none.
    pub fn all(pythons: &[String], platforms: &[String]) -> anyhow::Result<Vec<Environment>> {
        let pythons = if pythons.is_empty() {
            vec![host_python()]
        } else {
            pythons.to_vec()
        };
        let platforms = if platforms.is_empty() {
            vec![host_platform()]
        } else {
            platforms.to_vec()
        };
        let mut out = Vec::new();
        for python in &pythons {
            for platform in &platforms {
                out.push(Environment::new(python, platform).map_err(|message| {
                    crate::settings::Hinted {
                        message,
                        hint: "use e.g. --python 3.12 --platform manylinux_2_28_x86_64 \
                               (or musllinux_1_2_aarch64, macosx_11_0_arm64, win_amd64)"
                            .into(),
                    }
                })?);
            }
        }
        Ok(out)
    }

    /// How much pip prefers a wheel with these tags here (lower is better); `None` when it
    /// cannot install it.
    pub fn wheel_priority(&self, tags: &WheelTags) -> Option<usize> {
        let mut best = None;
        for py in &tags.python {
            for abi in &tags.abi {
                for plat in &tags.platform {
                    if let Some(&p) = self.tags.get(&format!("{py}-{abi}-{plat}")) {
                        best = Some(best.map_or(p, |b: usize| b.min(p)));
                    }
                }
            }
        }
        best
    }

    /// `cp312-manylinux_2_28_x86_64`, for messages.
    pub fn short(&self) -> String {
        format!(
            "cp{}{}-{}",
            self.python_version.0, self.python_version.1, self.platform
        )
    }
}

/// The compressed tag sets of a wheel file name (`py2.py3-none-any`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelTags {
    pub python: Vec<String>,
    pub abi: Vec<String>,
    pub platform: Vec<String>,
}

/// A wheel file name's parts (PEP 427): `{name}-{version}(-{build})?-{py}-{abi}-{plat}.whl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    pub name: String,
    pub version: String,
    /// The build tag's number, for ordering (`1` in `-1-`, `1_extra` compares as `1`).
    pub build: Option<u64>,
    pub tags: WheelTags,
}

impl FromStr for WheelName {
    type Err = ();

    fn from_str(filename: &str) -> Result<Self, ()> {
        let stem = filename.strip_suffix(".whl").ok_or(())?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, py, abi, plat) = match parts[..] {
            [n, v, py, abi, plat] => (n, v, None, py, abi, plat),
            [n, v, b, py, abi, plat] => (n, v, Some(b), py, abi, plat),
            _ => return Err(()),
        };
        let split = |s: &str| s.split('.').map(String::from).collect();
        let build = build.map(|b| {
            b.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        });
        Ok(WheelName {
            name: name.to_owned(),
            version: version.to_owned(),
            build,
            tags: WheelTags {
                python: split(py),
                abi: split(abi),
                platform: split(plat),
            },
        })
    }
}

/// Platform tags compatible with `platform`, best first, with its OS and `platform_machine`.
fn platform_tags(platform: &str) -> Result<(Os, Vec<String>, String), String> {
    let unknown = || {
        format!(
            "`{platform}` is not a wheel platform tag (manylinux_2_28_x86_64, \
             musllinux_1_2_aarch64, macosx_11_0_arm64, win_amd64, …)"
        )
    };
    let legacy = [
        ("manylinux2014_", (2, 17)),
        ("manylinux2010_", (2, 12)),
        ("manylinux1_", (2, 5)),
    ];
    for (prefix, glibc) in legacy {
        if let Some(arch) = platform.strip_prefix(prefix) {
            return Ok((Os::Linux, manylinux(glibc, arch), arch.to_owned()));
        }
    }
    if let Some(rest) = platform.strip_prefix("manylinux_") {
        let (major, minor, arch) = version_and_arch(rest).ok_or_else(unknown)?;
        if major != 2 {
            return Err(unknown());
        }
        return Ok((Os::Linux, manylinux((2, minor), &arch), arch));
    }
    if let Some(rest) = platform.strip_prefix("musllinux_") {
        let (major, minor, arch) = version_and_arch(rest).ok_or_else(unknown)?;
        let mut tags: Vec<String> = (0..=minor)
            .rev()
            .map(|m| format!("musllinux_{major}_{m}_{arch}"))
            .collect();
        tags.push(format!("linux_{arch}"));
        return Ok((Os::Linux, tags, arch));
    }
    if let Some(arch) = platform.strip_prefix("linux_") {
        return Ok((Os::Linux, vec![platform.to_owned()], arch.to_owned()));
    }
    if let Some(rest) = platform.strip_prefix("macosx_") {
        let (major, minor, arch) = version_and_arch(rest).ok_or_else(unknown)?;
        let machine = if arch == "universal2" { "arm64" } else { &arch };
        return Ok((
            Os::Mac,
            mac_platforms((major, minor), &arch),
            machine.to_owned(),
        ));
    }
    let machine = match platform {
        "win_amd64" => "AMD64",
        "win32" => "x86",
        "win_arm64" => "ARM64",
        _ => return Err(unknown()),
    };
    Ok((Os::Windows, vec![platform.to_owned()], machine.to_owned()))
}

/// The largest version number read from `--python` and `--platform`: a platform lists one tag
/// per older version, so `manylinux_2_4000000000_x86_64` would never finish.
const MAX_MINOR: u64 = 99;

/// `2_28_x86_64` → `(2, 28, "x86_64")`.
fn version_and_arch(rest: &str) -> Option<(u64, u64, String)> {
    let mut parts = rest.splitn(3, '_');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let arch = parts.next()?.to_owned();
    (!arch.is_empty() && major <= MAX_MINOR && minor <= MAX_MINOR).then_some((major, minor, arch))
}

/// `packaging._manylinux.platform_tags` for one glibc version and arch, then `linux_<arch>`.
fn manylinux(glibc: (u64, u64), arch: &str) -> Vec<String> {
    // Only x86 had manylinux1/2010 (glibc 2.5 and 2.12); the others start at manylinux2014.
    let x86 = matches!(arch, "x86_64" | "i686");
    let oldest = if x86 { 5 } else { 17 };
    let mut tags = Vec::new();
    let mut minor = glibc.1;
    while minor >= oldest {
        tags.push(format!("manylinux_2_{minor}_{arch}"));
        let alias = match minor {
            17 if x86 || matches!(arch, "aarch64" | "armv7l" | "ppc64" | "ppc64le" | "s390x") => {
                Some("manylinux2014")
            }
            12 if x86 => Some("manylinux2010"),
            5 if x86 => Some("manylinux1"),
            _ => None,
        };
        if let Some(alias) = alias {
            tags.push(format!("{alias}_{arch}"));
        }
        if minor == 0 {
            break;
        }
        minor -= 1;
    }
    tags.push(format!("linux_{arch}"));
    tags
}

/// `packaging.tags.mac_platforms`.
fn mac_platforms(version: (u64, u64), arch: &str) -> Vec<String> {
    let mut tags = Vec::new();
    let mut push = |major: u64, minor: u64, formats: Vec<&str>| {
        for format in formats {
            tags.push(format!("macosx_{major}_{minor}_{format}"));
        }
    };
    if version.0 == 10 {
        for minor in (0..=version.1).rev() {
            push(10, minor, mac_binary_formats((10, minor), arch));
        }
    } else if version.0 >= 11 {
        for major in (11..=version.0).rev() {
            push(major, 0, mac_binary_formats((major, 0), arch));
        }
        for minor in (4..=16).rev() {
            if arch == "x86_64" {
                push(10, minor, mac_binary_formats((10, minor), arch));
            } else {
                push(10, minor, vec!["universal2"]);
            }
        }
    }
    tags
}

fn mac_binary_formats(version: (u64, u64), arch: &str) -> Vec<&str> {
    let mut formats = vec![arch];
    if arch == "x86_64" {
        if version < (10, 4) {
            return Vec::new();
        }
        formats.extend(["intel", "fat64", "fat32"]);
    }
    if matches!(arch, "arm64" | "x86_64") {
        formats.push("universal2");
    }
    if arch == "x86_64" {
        formats.push("universal");
    }
    formats
}

/// `packaging.tags.cpython_tags` followed by `compatible_tags`, as `py-abi-plat` strings.
fn cpython_tags(python: (u64, u64), platforms: &[String]) -> Vec<String> {
    let (major, minor) = python;
    let interpreter = format!("cp{major}{minor}");
    let mut tags = Vec::new();
    let mut push = |py: &str, abi: &str, plat: &str| tags.push(format!("{py}-{abi}-{plat}"));
    for plat in platforms {
        push(&interpreter, &interpreter, plat);
    }
    // abi3 exists since 3.2.
    let abi3 = minor >= 2;
    if abi3 {
        for plat in platforms {
            push(&interpreter, "abi3", plat);
        }
    }
    for plat in platforms {
        push(&interpreter, "none", plat);
    }
    if abi3 {
        for older in (2..minor).rev() {
            for plat in platforms {
                push(&format!("cp{major}{older}"), "abi3", plat);
            }
        }
    }
    // compatible_tags: py3x-none-<plat>, then <interpreter>-none-any, then py3x-none-any.
    let mut versions = vec![format!("py{major}{minor}"), format!("py{major}")];
    versions.extend((0..minor).rev().map(|m| format!("py{major}{m}")));
    for py in &versions {
        for plat in platforms {
            push(py, "none", plat);
        }
    }
    push(&interpreter, "none", "any");
    for py in &versions {
        push(py, "none", "any");
    }
    tags
}

/// `X.Y.Z` of the `python3` on PATH (markers such as `python_full_version < "3.11.3"` need the
/// patch level), else 3.12.
fn host_python() -> String {
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => "3.12".to_owned(),
    }
}

/// This machine's most specific platform tag.
fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        "x86" => "i686",
        other => other,
    };
    match std::env::consts::OS {
        "macos" => {
            let arch = if arch == "aarch64" { "arm64" } else { arch };
            let version = std::process::Command::new("sw_vers")
                .arg("-productVersion")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default();
            let mut parts = version.split('.').filter_map(|p| p.parse::<u64>().ok());
            let major = parts.next().unwrap_or(11);
            let minor = if major >= 11 {
                0
            } else {
                parts.next().unwrap_or(0)
            };
            format!("macosx_{major}_{minor}_{arch}")
        }
        "windows" => match arch {
            "aarch64" => "win_arm64".to_owned(),
            "i686" => "win32".to_owned(),
            _ => "win_amd64".to_owned(),
        },
        _ => {
            // `getconf GNU_LIBC_VERSION` prints `glibc 2.36`; musl has no such variable.
            let glibc = std::process::Command::new("getconf")
                .arg("GNU_LIBC_VERSION")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| {
                    let text = String::from_utf8_lossy(&o.stdout).to_string();
                    let version = text.split_whitespace().nth(1)?.to_owned();
                    let minor = version.split('.').nth(1)?.parse::<u64>().ok()?;
                    Some(minor)
                });
            match glibc {
                Some(minor) => format!("manylinux_2_{minor}_{arch}"),
                None => format!("musllinux_1_2_{arch}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel(name: &str) -> WheelTags {
        name.parse::<WheelName>().unwrap().tags
    }

    #[test]
    fn tag_order_follows_packaging() {
        let tags = cpython_tags(
            (3, 12),
            &["manylinux_2_17_x86_64".into(), "linux_x86_64".into()],
        );
        assert_eq!(
            &tags[..8],
            [
                "cp312-cp312-manylinux_2_17_x86_64",
                "cp312-cp312-linux_x86_64",
                "cp312-abi3-manylinux_2_17_x86_64",
                "cp312-abi3-linux_x86_64",
                "cp312-none-manylinux_2_17_x86_64",
                "cp312-none-linux_x86_64",
                "cp311-abi3-manylinux_2_17_x86_64",
                "cp311-abi3-linux_x86_64",
            ]
        );
        let tail: Vec<&str> = tags.iter().rev().take(3).map(String::as_str).collect();
        assert_eq!(tail, ["py30-none-any", "py31-none-any", "py32-none-any"]);
        assert!(tags.contains(&"cp312-none-any".to_string()));
    }

    #[test]
    fn platform_tag_lists() {
        let (_, linux, machine) = platform_tags("manylinux_2_28_x86_64").unwrap();
        assert_eq!(machine, "x86_64");
        assert_eq!(linux[0], "manylinux_2_28_x86_64");
        let i = linux
            .iter()
            .position(|t| t == "manylinux_2_17_x86_64")
            .unwrap();
        assert_eq!(linux[i + 1], "manylinux2014_x86_64");
        assert_eq!(
            &linux[linux.len() - 3..],
            ["manylinux_2_5_x86_64", "manylinux1_x86_64", "linux_x86_64"]
        );
        let (_, arm, _) = platform_tags("manylinux_2_28_aarch64").unwrap();
        assert_eq!(
            &arm[arm.len() - 3..],
            [
                "manylinux_2_17_aarch64",
                "manylinux2014_aarch64",
                "linux_aarch64"
            ]
        );
        let (_, mac, machine) = platform_tags("macosx_12_0_arm64").unwrap();
        assert_eq!(machine, "arm64");
        assert_eq!(
            &mac[..5],
            [
                "macosx_12_0_arm64",
                "macosx_12_0_universal2",
                "macosx_11_0_arm64",
                "macosx_11_0_universal2",
                "macosx_10_16_universal2",
            ]
        );
        assert!(!mac.iter().any(|t| t.ends_with("_x86_64")));
        let (_, intel, _) = platform_tags("macosx_10_9_x86_64").unwrap();
        assert_eq!(
            &intel[..3],
            [
                "macosx_10_9_x86_64",
                "macosx_10_9_intel",
                "macosx_10_9_fat64"
            ]
        );
        assert_eq!(platform_tags("win_amd64").unwrap().1, ["win_amd64"]);
        assert!(platform_tags("solaris").is_err());
        let (_, musl, _) = platform_tags("musllinux_1_2_x86_64").unwrap();
        assert_eq!(
            musl,
            [
                "musllinux_1_2_x86_64",
                "musllinux_1_1_x86_64",
                "musllinux_1_0_x86_64",
                "linux_x86_64"
            ]
        );
    }

    #[test]
    fn wheels_pip_would_pick() {
        let linux = Environment::new("3.12", "manylinux_2_28_x86_64").unwrap();
        let mac = Environment::new("3.12", "macosx_11_0_arm64").unwrap();
        let win = Environment::new("3.12", "win_amd64").unwrap();
        let specific =
            wheel("numpy-2.2.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        let abi3 = wheel("cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl");
        let pure = wheel("six-1.17.0-py2.py3-none-any.whl");
        let newer_glibc = wheel("x-1-cp312-cp312-manylinux_2_34_x86_64.whl");
        let old_python = wheel("x-1-cp311-cp311-manylinux_2_17_x86_64.whl");
        assert!(linux.wheel_priority(&specific).unwrap() < linux.wheel_priority(&abi3).unwrap());
        assert!(linux.wheel_priority(&abi3).unwrap() < linux.wheel_priority(&pure).unwrap());
        assert_eq!(linux.wheel_priority(&newer_glibc), None);
        assert_eq!(linux.wheel_priority(&old_python), None);
        assert_eq!(mac.wheel_priority(&specific), None);
        let universal = wheel("x-1-cp312-cp312-macosx_10_9_universal2.whl");
        assert!(mac.wheel_priority(&universal).is_some());
        assert!(
            win.wheel_priority(&wheel("x-1-cp312-cp312-win_amd64.whl"))
                .is_some()
        );
        assert!(win.wheel_priority(&pure).is_some());
        assert_eq!(win.markers.sys_platform(), "win32");
        assert_eq!(mac.markers.platform_machine(), "arm64");
        let w: WheelName = "zope.interface-6.0-1-cp311-cp311-win32.whl"
            .parse()
            .unwrap();
        assert_eq!(w.build, Some(1));
        assert!("foo-1.0.tar.gz".parse::<WheelName>().is_err());
    }
}
