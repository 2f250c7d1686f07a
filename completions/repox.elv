
use builtin;
use str;

set edit:completion:arg-completer[repox] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'repox'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'repox'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Run the caching proxy'
            cand config 'Show or write the repox configuration'
            cand configure 'Point a client (pip, uv, conda, pixi, sbt, coursier, maven, gradle, npm, cargo) at repox'
            cand warm 'Pre-fetch what a requirements or lock file needs into the cache'
            cand user 'Manage the users who may log in to a shared repox'
            cand token 'Create, list and revoke users'' access tokens'
            cand cache 'Show, list, remove and evict cache entries'
            cand advisories 'Import security advisories: versions of malicious packages are refused'
            cand upload 'Upload conda packages (.conda, .tar.bz2) to a hosted conda repository'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;serve'= {
            cand --listen 'Address to listen on [default: 127.0.0.1:8078]'
            cand --cache-dir 'Cache directory [default: ~/.cache/repox]'
            cand --workers 'Threads serving requests, like nginx''s `worker_processes` ([server] workers) [default: one per CPU core]'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand --offline 'Serve only what is cached: misses get 504, stale metadata is served as is'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;config'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand show 'Print the effective configuration (defaults, file and flags combined) as TOML'
            cand init 'Write the default configuration, with comments explaining each key'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;config;show'= {
            cand --listen 'Address to listen on [default: 127.0.0.1:8078]'
            cand --cache-dir 'Cache directory [default: ~/.cache/repox]'
            cand --workers 'Threads serving requests, like nginx''s `worker_processes` ([server] workers) [default: one per CPU core]'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand --offline 'Serve only what is cached: misses get 504, stale metadata is served as is'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;config;init'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand --force 'Replace an existing file'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;config;help'= {
            cand show 'Print the effective configuration (defaults, file and flags combined) as TOML'
            cand init 'Write the default configuration, with comments explaining each key'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;config;help;show'= {
        }
        &'repox;config;help;init'= {
        }
        &'repox;config;help;help'= {
        }
        &'repox;configure'= {
            cand --url 'Base URL of the repox server [default: from the effective config''s listen address]'
            cand --scope 'Which config file to edit'
            cand --snapshot 'Point clients at the repositories as they were at this date (YYYY-MM-DD): the same requirements resolve the same versions on every run (e.g. `/pypi/@2025-06-01/simple/`)'
            cand --user 'Store credentials for this repox user where each client keeps them (netrc, settings.xml `<server>`, `.npmrc`, `credentials.toml`, …); the secret comes from --token-env or --password-env, else from a hidden prompt'
            cand --username 'Store credentials for this repox user where each client keeps them (netrc, settings.xml `<server>`, `.npmrc`, `credentials.toml`, …); the secret comes from --token-env or --password-env, else from a hidden prompt'
            cand --token-env 'Environment variable holding a repox token (`repox token create`), the best secret for every client; without --user, basic-auth clients send it as user `__token__`'
            cand --password-env 'Environment variable holding the password of --user'
            cand --publish 'Also set up publishing to this hosted repository of repox (`hosted = true`): pip writes twine''s `~/.pypirc` (`twine upload -r repox`), uv its `publish-url` (`uv publish`), Maven prints the `<distributionManagement>` to add to the project (deploying with the `<server>` that --user stores), npm stores the login for the repository''s URL (`npm publish --registry URL`), cargo adds `[registries.REPO]` with its token (`cargo publish --registry REPO`)'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand --dry-run 'Print the change as a unified diff and write nothing'
            cand -y 'Do not ask for confirmation'
            cand --yes 'Do not ask for confirmation'
            cand --undo 'Restore the file as it was before the last `repox configure` of these clients'
            cand --status 'For every client, show the effective index URL and every file or variable that sets it'
            cand --maven-external-only 'Maven: mirror only external repositories (`external:*`) instead of all (`*`)'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'repox;warm'= {
            cand --format 'Read every FILE as this format instead of detecting it'
            cand --python 'Python version to resolve requirements for, e.g. 3.12 [default: the `python3` on PATH]'
            cand --platform 'Wheel platform tag to resolve for, e.g. manylinux_2_28_x86_64, macosx_11_0_arm64, win_amd64; repeat for several [default: this machine]'
            cand --server 'The repox to fill [default: the configured server if it answers, else an in-process proxy on the configured cache directory]'
            cand --user 'Log in to repox as this user; the secret comes from REPOX_TOKEN or REPOX_PASSWORD, else from the netrc entry of the server''s host. Without --user, REPOX_TOKEN is sent as a bearer token, and a netrc entry for the host is used when there is one'
            cand -j 'Parallel downloads'
            cand --jobs 'Parallel downloads'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand --dry-run 'Resolve and list what would be fetched; download no package files'
            cand --json 'Print the summary as JSON on stdout'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'repox;user'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand add 'Add a user; asks for the password twice unless --password-stdin or --no-password'
            cand passwd 'Set a user''s password; asks twice unless --password-stdin. Their tokens stay valid'
            cand list 'List users with their role and number of tokens'
            cand remove 'Remove a user and all their tokens'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;user;add'= {
            cand --role 'The user''s role on every repository'
            cand --repo 'A different role on one repository, e.g. `--repo pypi=write`; repeatable'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand --password-stdin 'Read the password from the first line of standard input'
            cand --no-password 'No password: the user logs in with tokens only (`repox token create`)'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'repox;user;passwd'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand --password-stdin 'Read the password from the first line of standard input'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;user;list'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;user;remove'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;user;help'= {
            cand add 'Add a user; asks for the password twice unless --password-stdin or --no-password'
            cand passwd 'Set a user''s password; asks twice unless --password-stdin. Their tokens stay valid'
            cand list 'List users with their role and number of tokens'
            cand remove 'Remove a user and all their tokens'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;user;help;add'= {
        }
        &'repox;user;help;passwd'= {
        }
        &'repox;user;help;list'= {
        }
        &'repox;user;help;remove'= {
        }
        &'repox;user;help;help'= {
        }
        &'repox;token'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand create 'Create a token for USER and print it (only the token, on standard output). It is shown this once; only its hash is kept'
            cand list 'List tokens (ids, users, labels, dates; never the tokens themselves)'
            cand revoke 'Revoke a token by its id (from `repox token list`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;token;create'= {
            cand --name 'A label to tell tokens apart, e.g. `ci` or `laptop`'
            cand --expires 'Lifetime, e.g. `90d`, `12h`, `1y` [default: never expires]'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;token;list'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;token;revoke'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;token;help'= {
            cand create 'Create a token for USER and print it (only the token, on standard output). It is shown this once; only its hash is kept'
            cand list 'List tokens (ids, users, labels, dates; never the tokens themselves)'
            cand revoke 'Revoke a token by its id (from `repox token list`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;token;help;create'= {
        }
        &'repox;token;help;list'= {
        }
        &'repox;token;help;revoke'= {
        }
        &'repox;token;help;help'= {
        }
        &'repox;cache'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand stats 'Entries and bytes held, in total and per repository'
            cand ls 'List the entries whose path starts with PREFIX: path, size in bytes, last access'
            cand rm 'Remove one entry, or every entry under a path prefix'
            cand gc 'Apply `[storage] max_size` and `unused_for` now'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;cache;stats'= {
            cand --cache-dir 'Cache directory [default: from the config, else ~/.cache/repox]'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;cache;ls'= {
            cand --cache-dir 'Cache directory [default: from the config, else ~/.cache/repox]'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;cache;rm'= {
            cand --cache-dir 'Cache directory [default: from the config, else ~/.cache/repox]'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;cache;gc'= {
            cand --cache-dir 'Cache directory [default: from the config, else ~/.cache/repox]'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand --dry-run 'Print what would be removed and remove nothing'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;cache;help'= {
            cand stats 'Entries and bytes held, in total and per repository'
            cand ls 'List the entries whose path starts with PREFIX: path, size in bytes, last access'
            cand rm 'Remove one entry, or every entry under a path prefix'
            cand gc 'Apply `[storage] max_size` and `unused_for` now'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;cache;help;stats'= {
        }
        &'repox;cache;help;ls'= {
        }
        &'repox;cache;help;rm'= {
        }
        &'repox;cache;help;gc'= {
        }
        &'repox;cache;help;help'= {
        }
        &'repox;advisories'= {
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
            cand import 'Load an OSV export (the zip of one ecosystem''s advisories, e.g. https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) into the cache directory. Versions named by malicious-package advisories (`MAL-` ids) are refused with 403 and left out of index pages; the others are listed at /-/api/advisories. A running `repox serve` on the same cache applies the new list at once'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;advisories;import'= {
            cand --cache-dir 'Cache directory [default: from the config, else ~/.cache/repox]'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'repox;advisories;help'= {
            cand import 'Load an OSV export (the zip of one ecosystem''s advisories, e.g. https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) into the cache directory. Versions named by malicious-package advisories (`MAL-` ids) are refused with 403 and left out of index pages; the others are listed at /-/api/advisories. A running `repox serve` on the same cache applies the new list at once'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;advisories;help;import'= {
        }
        &'repox;advisories;help;help'= {
        }
        &'repox;upload'= {
            cand --to 'The channel''s URL in a hosted conda repository, e.g. http://HOST:8078/conda-releases/team'
            cand --user 'Log in as this user; the secret comes from REPOX_TOKEN or REPOX_PASSWORD, else from the netrc entry of the host. Without --user, REPOX_TOKEN is sent as a bearer token'
            cand --config 'Config file [default: ~/.config/repox/repox.toml when it exists]'
            cand -v 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand --verbose 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
            cand -q 'Only errors'
            cand --quiet 'Only errors'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'repox;help'= {
            cand serve 'Run the caching proxy'
            cand config 'Show or write the repox configuration'
            cand configure 'Point a client (pip, uv, conda, pixi, sbt, coursier, maven, gradle, npm, cargo) at repox'
            cand warm 'Pre-fetch what a requirements or lock file needs into the cache'
            cand user 'Manage the users who may log in to a shared repox'
            cand token 'Create, list and revoke users'' access tokens'
            cand cache 'Show, list, remove and evict cache entries'
            cand advisories 'Import security advisories: versions of malicious packages are refused'
            cand upload 'Upload conda packages (.conda, .tar.bz2) to a hosted conda repository'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'repox;help;serve'= {
        }
        &'repox;help;config'= {
            cand show 'Print the effective configuration (defaults, file and flags combined) as TOML'
            cand init 'Write the default configuration, with comments explaining each key'
        }
        &'repox;help;config;show'= {
        }
        &'repox;help;config;init'= {
        }
        &'repox;help;configure'= {
        }
        &'repox;help;warm'= {
        }
        &'repox;help;user'= {
            cand add 'Add a user; asks for the password twice unless --password-stdin or --no-password'
            cand passwd 'Set a user''s password; asks twice unless --password-stdin. Their tokens stay valid'
            cand list 'List users with their role and number of tokens'
            cand remove 'Remove a user and all their tokens'
        }
        &'repox;help;user;add'= {
        }
        &'repox;help;user;passwd'= {
        }
        &'repox;help;user;list'= {
        }
        &'repox;help;user;remove'= {
        }
        &'repox;help;token'= {
            cand create 'Create a token for USER and print it (only the token, on standard output). It is shown this once; only its hash is kept'
            cand list 'List tokens (ids, users, labels, dates; never the tokens themselves)'
            cand revoke 'Revoke a token by its id (from `repox token list`)'
        }
        &'repox;help;token;create'= {
        }
        &'repox;help;token;list'= {
        }
        &'repox;help;token;revoke'= {
        }
        &'repox;help;cache'= {
            cand stats 'Entries and bytes held, in total and per repository'
            cand ls 'List the entries whose path starts with PREFIX: path, size in bytes, last access'
            cand rm 'Remove one entry, or every entry under a path prefix'
            cand gc 'Apply `[storage] max_size` and `unused_for` now'
        }
        &'repox;help;cache;stats'= {
        }
        &'repox;help;cache;ls'= {
        }
        &'repox;help;cache;rm'= {
        }
        &'repox;help;cache;gc'= {
        }
        &'repox;help;advisories'= {
            cand import 'Load an OSV export (the zip of one ecosystem''s advisories, e.g. https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) into the cache directory. Versions named by malicious-package advisories (`MAL-` ids) are refused with 403 and left out of index pages; the others are listed at /-/api/advisories. A running `repox serve` on the same cache applies the new list at once'
        }
        &'repox;help;advisories;import'= {
        }
        &'repox;help;upload'= {
        }
        &'repox;help;help'= {
        }
    ]
    $completions[$command]
}
