//! A server with, for one kind, a proxy repository over a test upstream, a hosted repository
//! and a group over both (`<kind>`, `<kind>-releases`, `<kind>-public`), and users with
//! tokens: `writer` (write), `reader` (read) and `admin`, each with the password `<name>-pw`. Anonymous users may read.

use std::collections::BTreeMap;
use std::time::SystemTime;

use repox_proxy::auth::permission::Role;
use repox_proxy::auth::users::UsersFile;
use repox_proxy::config::{
    Anonymous, AuthConfig, Config, Kind, RepoName, RepositoryConfig, ServerConfig,
};
use url::Url;

use crate::npm_support::repo;

pub struct Hosted {
    pub url: Url,
    pub writer: String,
    pub reader: String,
    pub admin: String,
    _dir: tempfile::TempDir,
}

impl Hosted {
    pub async fn start(kind: Kind, upstream: &Url) -> Hosted {
        Hosted::start_with(kind, upstream, |_| {}).await
    }

    /// With a last say on the group's configuration.
    pub async fn start_with(
        kind: Kind,
        upstream: &Url,
        group: impl FnOnce(&mut RepositoryConfig),
    ) -> Hosted {
        let dir = tempfile::tempdir().unwrap();
        let mut file = UsersFile::default();
        let mut tokens = Vec::new();
        for (name, role) in [
            ("writer", Role::Write),
            ("reader", Role::Read),
            ("admin", Role::Admin),
        ] {
            file.add_user(name, role, Some(&format!("{name}-pw")), BTreeMap::new())
                .unwrap();
            let (_, token) = file
                .create_token(name, Some("t"), None, SystemTime::now())
                .unwrap();
            tokens.push(token);
        }
        let users = dir.path().join("users.toml");
        file.save(&users).unwrap();
        let k = kind.as_str();
        let name =
            |n: String| -> RepoName { serde_json::from_value(serde_json::json!(n)).unwrap() };
        let hosted = RepositoryConfig {
            hosted: true,
            ..RepositoryConfig::new(kind)
        };
        let mut grouped = RepositoryConfig {
            members: vec![name(format!("{k}-releases")), name(k.to_owned())],
            ..RepositoryConfig::new(kind)
        };
        group(&mut grouped);
        let repositories = BTreeMap::from([
            (name(k.to_owned()), repo(kind, &[("fixture", upstream, 0)])),
            (name(format!("{k}-releases")), hosted),
            (name(format!("{k}-public")), grouped),
        ]);
        let config = Config {
            server: ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                cache_dir: Some(dir.path().join("cache")),
                ..ServerConfig::default()
            },
            repositories,
            auth: AuthConfig {
                anonymous: Anonymous::Read,
                users_file: Some(users),
            },
            storage: Default::default(),
        };
        let server = repox_proxy::Server::bind(config).await.unwrap();
        let url = Url::parse(&format!("http://{}/", server.local_addr())).unwrap();
        tokio::spawn(server.run(std::future::pending()));
        let mut tokens = tokens.into_iter();
        Hosted {
            url,
            writer: tokens.next().unwrap(),
            reader: tokens.next().unwrap(),
            admin: tokens.next().unwrap(),
            _dir: dir,
        }
    }

    pub fn at(&self, path: &str) -> Url {
        self.url.join(path).unwrap()
    }
}

/// `Bearer TOKEN`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
