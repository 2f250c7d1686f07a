//! Property tests of every `repox configure` editor (see `crate::fuzz`): an existing file of any
//! content is edited or refused as malformed, never a panic; an edit applied twice equals the
//! edit applied once; and content that has nothing to do with repox survives the edit byte for
//! byte.

use proptest::prelude::*;
use proptest::sample::select;
use url::Url;

use super::target::{Credentials, Target};
use super::text::Malformed;
use super::{cargo, conda, coursier, gradle, maven, npm, pip, pixi, sbt, uv};
use crate::fuzz;

type Editor = fn(&str, &Target) -> Result<String, Malformed>;

const PIP: &str = "# pip configuration\n[global]\ntimeout = 60\nindex-url = https://mirror.example/simple\n\
    # cert = /etc/ssl/corp.pem\n\n[install]\n; per-command\nindex-url = https://pypi.org/simple\n\
    extra-index-url =\n    https://a.example/simple\n    https://b.example/simple\nno-compile = yes\n";
const UV: &str = "# uv user configuration\nnative-tls = true\nindex-url = \"https://old.example/simple\"\n\n\
    [[index]]\nname = \"corp\"\nurl = \"https://corp.example/simple\"\n\n[pip]\nindex-url = \"https://x/simple\"\n";
const PYPROJECT: &str = "[project]\nname = \"demo\"\n\n[tool.uv]\nindex-url = \"https://old/simple\"\n\n\
    [[tool.uv.index]]\nname = \"repox\"\nurl = \"http://stale/\"\ndefault = true\n";
const CONDARC: &str = "# .condarc\nchannels:\n  - conda-forge\n  - defaults\nchannel_alias: https://conda.example\n\
    default_channels:\n  - https://repo.anaconda.com/pkgs/main\ncustom_channels:\n  bioconda: https://x\n\
    show_channel_urls: true\nssl_verify: false\n";
const PIXI: &str = "# pixi global configuration\ndefault-channels = [\"conda-forge\"]\n\n[mirrors]\n\
    \"https://conda.anaconda.org/conda-forge\" = [\"https://prefix.dev/conda-forge\"]\n\n\
    [pypi-config]\nindex-url = \"https://pypi.org/simple\"\n";
const SBT: &str = "[repositories]\n  local\n  my-ivy: https://ivy.example/, [organization]/[module]/[revision]/[artifact].[ext]\n\
    maven-central\n  corp: https://corp.example/maven/\n";
const SBTOPTS: &str = "-J-Xmx2G\n-Dsbt.override.build.repos=false\n# comment\n-Dother=1\n";
const COURSIER: &str = "# coursier mirrors\ncorp.from=https://repo1.maven.org/maven2\ncorp.to=https://corp.example/maven\n\
    other.key = value \\\n  continued\n";
const SETTINGS_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <!-- company settings -->
  <localRepository>/data/m2</localRepository>
  <mirrors>
    <mirror><id>corp</id><mirrorOf>central</mirrorOf><url>https://corp.example/maven/</url></mirror>
  </mirrors>
  <servers><server><id>corp</id><username>me</username><password>${env.PW}</password></server></servers>
  <profiles><profile><id>p</id><repositories><repository><id>r</id><url>https://r/</url></repository></repositories></profile></profiles>
</settings>
"#;
const NPMRC: &str = "# npm\nregistry=https://registry.npmjs.org/\n@corp:registry=https://npm.corp.example/\n\
    //npm.corp.example/:_authToken=${CORP_TOKEN}\nstrict-ssl=false\n";
const YARNRC: &str = "# yarn berry\nnpmRegistryServer: \"https://registry.yarnpkg.com\"\nnpmScopes:\n  corp:\n    npmRegistryServer: \"https://npm.corp\"\nenableTelemetry: false\n";
const CARGO_CONFIG: &str = "# ~/.cargo/config.toml\n[build]\njobs = 4\n\n[source.crates-io]\nreplace-with = \"vendored\"\n\n\
    [source.vendored]\ndirectory = \"vendor\"\n\n[registries.corp]\nindex = \"sparse+https://corp/index/\"\n";
const CARGO_CREDENTIALS: &str =
    "[registry]\ntoken = \"cio_old\"\n\n[registries.corp]\ntoken = \"corp-token\"\n";

fn pyproject(old: &str, t: &Target) -> Result<String, Malformed> {
    uv::edit_at(old, t, &["tool", "uv"])
}
fn condarc(old: &str, t: &Target) -> Result<String, Malformed> {
    conda::edit(old, t, &conda::Inherited::default())
}
fn sbtopts(old: &str, _: &Target) -> Result<String, Malformed> {
    Ok(sbt::edit_sbtopts(
        old,
        &["-Dsbt.override.build.repos=true".to_owned()],
    ))
}
fn credentials(old: &str, _: &Target) -> Result<String, Malformed> {
    cargo::edit_credentials(old, "s3cret-t0ken")
}

/// (editor, sample file, a line or block of the file's syntax that repox has no business with)
const EDITORS: &[(&str, Editor, &str, &str)] = &[
    ("pip.conf", pip::edit, PIP, "\n[freeze]\ntimeout = 10\n"),
    ("uv.toml", uv::edit, UV, "\n[unrelated]\nkeep = \"me\"\n"),
    (
        "pyproject.toml",
        pyproject,
        PYPROJECT,
        "\n[tool.black]\nline-length = 99\n",
    ),
    (
        ".condarc",
        condarc,
        CONDARC,
        "\nenvs_dirs:\n  - /opt/envs\n",
    ),
    (
        "pixi config.toml",
        pixi::edit,
        PIXI,
        "\n[concurrency]\ndownloads = 7\n",
    ),
    ("sbt repositories", sbt::edit_repositories, SBT, ""),
    (".sbtopts", sbtopts, SBTOPTS, "\n-Dkeep.me=1\n"),
    (
        "coursier mirror.properties",
        coursier::edit,
        COURSIER,
        "\nkeep.me=1\n",
    ),
    (
        "settings.xml",
        maven::edit,
        SETTINGS_XML,
        "<!-- keep me -->\n",
    ),
    ("gradle init script", gradle::edit, "", ""),
    (".npmrc", npm::edit_npmrc, NPMRC, "\nkeep-me=true\n"),
    (".yarnrc.yml", npm::edit_yarnrc, YARNRC, "\nkeepMe: true\n"),
    (
        "cargo config.toml",
        cargo::edit,
        CARGO_CONFIG,
        "\n[alias]\nkeep = \"check\"\n",
    ),
    (
        "cargo credentials.toml",
        credentials,
        CARGO_CREDENTIALS,
        "\n[registries.keep]\ntoken = \"t\"\n",
    ),
];

const SAMPLES: &[&str] = &[
    PIP,
    UV,
    PYPROJECT,
    CONDARC,
    PIXI,
    SBT,
    SBTOPTS,
    COURSIER,
    SETTINGS_XML,
    NPMRC,
    YARNRC,
    CARGO_CONFIG,
    CARGO_CREDENTIALS,
];

fn target() -> impl Strategy<Value = Target> {
    (
        select(
            &[
                "http://127.0.0.1:8078/",
                "https://repox.corp/",
                "http://[::1]:9/base/path",
            ][..],
        ),
        any::<bool>(),
    )
        .prop_map(|(url, with_credentials)| {
            let mut t = Target::new(&Url::parse(url).unwrap()).unwrap();
            if with_credentials {
                t.credentials = Some(Credentials {
                    username: Some("me".into()),
                    token: "s3cret-t0ken".into(),
                    password: false,
                });
            }
            t
        })
}

fn editor() -> impl Strategy<Value = (usize, String)> {
    (0..EDITORS.len()).prop_flat_map(|i| {
        let editors: &'static [(&str, Editor, &'static str, &str)] = EDITORS;
        let own: &'static [&'static str] = std::slice::from_ref(&editors[i].2);
        (
            Just(i),
            prop_oneof![
                // Mostly the editor's own kind of file, sometimes another client's.
                3 => fuzz::mutated(own),
                1 => fuzz::mutated(SAMPLES),
                1 => fuzz::bytes().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            ],
        )
    })
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn any_existing_file_is_edited_idempotently_or_refused(
        (i, old) in editor(),
        target in target(),
    ) {
        let (name, edit, _, _) = EDITORS[i];
        if let Ok(once) = edit(&old, &target) {
            let twice = edit(&once, &target);
            let why = "a second edit changed the file";
            prop_assert_eq!(twice.as_ref(), Ok(&once), "{}: {}\n--- old:\n{}", name, why, old);
        }
    }

    #[test]
    fn unrelated_content_survives(
        i in 0..EDITORS.len(),
        target in target(),
        before in any::<bool>(),
    ) {
        let (name, edit, sample, unrelated) = EDITORS[i];
        let old = match before {
            true => format!("{unrelated}{sample}"),
            false => format!("{sample}{unrelated}"),
        };
        let new = edit(&old, &target).map_err(|e| TestCaseError::fail(format!("{name}: {e:?}")))?;
        for line in unrelated.lines().filter(|l| !l.trim().is_empty()) {
            prop_assert!(new.contains(line), "{}: lost {:?}\n--- new:\n{}", name, line, new);
        }
        let again = edit(&new, &target);
        prop_assert_eq!(again.as_ref(), Ok(&new), "{}: not idempotent", name);
    }
}
