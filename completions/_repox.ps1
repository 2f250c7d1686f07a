
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'repox' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'repox'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'repox' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the caching proxy')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Show or write the repox configuration')
            [CompletionResult]::new('configure', 'configure', [CompletionResultType]::ParameterValue, 'Point a client (pip, uv, conda, pixi, sbt, coursier, maven, gradle, npm, cargo) at repox')
            [CompletionResult]::new('warm', 'warm', [CompletionResultType]::ParameterValue, 'Pre-fetch what a requirements or lock file needs into the cache')
            [CompletionResult]::new('user', 'user', [CompletionResultType]::ParameterValue, 'Manage the users who may log in to a shared repox')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Create, list and revoke users'' access tokens')
            [CompletionResult]::new('cache', 'cache', [CompletionResultType]::ParameterValue, 'Show, list, remove and evict cache entries')
            [CompletionResult]::new('advisories', 'advisories', [CompletionResultType]::ParameterValue, 'Import security advisories: versions of malicious packages are refused')
            [CompletionResult]::new('upload', 'upload', [CompletionResultType]::ParameterValue, 'Upload conda packages (.conda, .tar.bz2) to a hosted conda repository')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on [default: 127.0.0.1:8078]')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory [default: ~/.cache/repox]')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Threads serving requests, like nginx''s `worker_processes` ([server] workers) [default: one per CPU core]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Serve only what is cached: misses get 504, stale metadata is served as is')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;config' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the effective configuration (defaults, file and flags combined) as TOML')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write the default configuration, with comments explaining each key')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;config;show' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on [default: 127.0.0.1:8078]')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory [default: ~/.cache/repox]')
            [CompletionResult]::new('--workers', '--workers', [CompletionResultType]::ParameterName, 'Threads serving requests, like nginx''s `worker_processes` ([server] workers) [default: one per CPU core]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Serve only what is cached: misses get 504, stale metadata is served as is')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;config;init' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Replace an existing file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;config;help' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the effective configuration (defaults, file and flags combined) as TOML')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write the default configuration, with comments explaining each key')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;config;help;show' {
            break
        }
        'repox;config;help;init' {
            break
        }
        'repox;config;help;help' {
            break
        }
        'repox;configure' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'Base URL of the repox server [default: from the effective config''s listen address]')
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Which config file to edit')
            [CompletionResult]::new('--snapshot', '--snapshot', [CompletionResultType]::ParameterName, 'Point clients at the repositories as they were at this date (YYYY-MM-DD): the same requirements resolve the same versions on every run (e.g. `/pypi/@2025-06-01/simple/`)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Store credentials for this repox user where each client keeps them (netrc, settings.xml `<server>`, `.npmrc`, `credentials.toml`, …); the secret comes from --token-env or --password-env, else from a hidden prompt')
            [CompletionResult]::new('--username', '--username', [CompletionResultType]::ParameterName, 'Store credentials for this repox user where each client keeps them (netrc, settings.xml `<server>`, `.npmrc`, `credentials.toml`, …); the secret comes from --token-env or --password-env, else from a hidden prompt')
            [CompletionResult]::new('--token-env', '--token-env', [CompletionResultType]::ParameterName, 'Environment variable holding a repox token (`repox token create`), the best secret for every client; without --user, basic-auth clients send it as user `__token__`')
            [CompletionResult]::new('--password-env', '--password-env', [CompletionResultType]::ParameterName, 'Environment variable holding the password of --user')
            [CompletionResult]::new('--publish', '--publish', [CompletionResultType]::ParameterName, 'Also set up publishing to this hosted repository of repox (`hosted = true`): pip writes twine''s `~/.pypirc` (`twine upload -r repox`), uv its `publish-url` (`uv publish`), Maven prints the `<distributionManagement>` to add to the project (deploying with the `<server>` that --user stores), npm stores the login for the repository''s URL (`npm publish --registry URL`), cargo adds `[registries.REPO]` with its token (`cargo publish --registry REPO`)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the change as a unified diff and write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--undo', '--undo', [CompletionResultType]::ParameterName, 'Restore the file as it was before the last `repox configure` of these clients')
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'For every client, show the effective index URL and every file or variable that sets it')
            [CompletionResult]::new('--maven-external-only', '--maven-external-only', [CompletionResultType]::ParameterName, 'Maven: mirror only external repositories (`external:*`) instead of all (`*`)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'repox;warm' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Read every FILE as this format instead of detecting it')
            [CompletionResult]::new('--python', '--python', [CompletionResultType]::ParameterName, 'Python version to resolve requirements for, e.g. 3.12 [default: the `python3` on PATH]')
            [CompletionResult]::new('--platform', '--platform', [CompletionResultType]::ParameterName, 'Wheel platform tag to resolve for, e.g. manylinux_2_28_x86_64, macosx_11_0_arm64, win_amd64; repeat for several [default: this machine]')
            [CompletionResult]::new('--server', '--server', [CompletionResultType]::ParameterName, 'The repox to fill [default: the configured server if it answers, else an in-process proxy on the configured cache directory]')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Log in to repox as this user; the secret comes from REPOX_TOKEN or REPOX_PASSWORD, else from the netrc entry of the server''s host. Without --user, REPOX_TOKEN is sent as a bearer token, and a netrc entry for the host is used when there is one')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Parallel downloads')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Parallel downloads')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Resolve and list what would be fetched; download no package files')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the summary as JSON on stdout')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'repox;user' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a user; asks for the password twice unless --password-stdin or --no-password')
            [CompletionResult]::new('passwd', 'passwd', [CompletionResultType]::ParameterValue, 'Set a user''s password; asks twice unless --password-stdin. Their tokens stay valid')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List users with their role and number of tokens')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a user and all their tokens')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;user;add' {
            [CompletionResult]::new('--role', '--role', [CompletionResultType]::ParameterName, 'The user''s role on every repository')
            [CompletionResult]::new('--repo', '--repo', [CompletionResultType]::ParameterName, 'A different role on one repository, e.g. `--repo pypi=write`; repeatable')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password from the first line of standard input')
            [CompletionResult]::new('--no-password', '--no-password', [CompletionResultType]::ParameterName, 'No password: the user logs in with tokens only (`repox token create`)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'repox;user;passwd' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password from the first line of standard input')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;user;list' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;user;remove' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;user;help' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a user; asks for the password twice unless --password-stdin or --no-password')
            [CompletionResult]::new('passwd', 'passwd', [CompletionResultType]::ParameterValue, 'Set a user''s password; asks twice unless --password-stdin. Their tokens stay valid')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List users with their role and number of tokens')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a user and all their tokens')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;user;help;add' {
            break
        }
        'repox;user;help;passwd' {
            break
        }
        'repox;user;help;list' {
            break
        }
        'repox;user;help;remove' {
            break
        }
        'repox;user;help;help' {
            break
        }
        'repox;token' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a token for USER and print it (only the token, on standard output). It is shown this once; only its hash is kept')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List tokens (ids, users, labels, dates; never the tokens themselves)')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke a token by its id (from `repox token list`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;token;create' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'A label to tell tokens apart, e.g. `ci` or `laptop`')
            [CompletionResult]::new('--expires', '--expires', [CompletionResultType]::ParameterName, 'Lifetime, e.g. `90d`, `12h`, `1y` [default: never expires]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;token;list' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;token;revoke' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;token;help' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a token for USER and print it (only the token, on standard output). It is shown this once; only its hash is kept')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List tokens (ids, users, labels, dates; never the tokens themselves)')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke a token by its id (from `repox token list`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;token;help;create' {
            break
        }
        'repox;token;help;list' {
            break
        }
        'repox;token;help;revoke' {
            break
        }
        'repox;token;help;help' {
            break
        }
        'repox;cache' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Entries and bytes held, in total and per repository')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List the entries whose path starts with PREFIX: path, size in bytes, last access')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove one entry, or every entry under a path prefix')
            [CompletionResult]::new('gc', 'gc', [CompletionResultType]::ParameterValue, 'Apply `[storage] max_size` and `unused_for` now')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;cache;stats' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory [default: from the config, else ~/.cache/repox]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;cache;ls' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory [default: from the config, else ~/.cache/repox]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;cache;rm' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory [default: from the config, else ~/.cache/repox]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;cache;gc' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory [default: from the config, else ~/.cache/repox]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would be removed and remove nothing')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;cache;help' {
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Entries and bytes held, in total and per repository')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List the entries whose path starts with PREFIX: path, size in bytes, last access')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove one entry, or every entry under a path prefix')
            [CompletionResult]::new('gc', 'gc', [CompletionResultType]::ParameterValue, 'Apply `[storage] max_size` and `unused_for` now')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;cache;help;stats' {
            break
        }
        'repox;cache;help;ls' {
            break
        }
        'repox;cache;help;rm' {
            break
        }
        'repox;cache;help;gc' {
            break
        }
        'repox;cache;help;help' {
            break
        }
        'repox;advisories' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Load an OSV export (the zip of one ecosystem''s advisories, e.g. https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) into the cache directory. Versions named by malicious-package advisories (`MAL-` ids) are refused with 403 and left out of index pages; the others are listed at /-/api/advisories. A running `repox serve` on the same cache applies the new list at once')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;advisories;import' {
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Cache directory [default: from the config, else ~/.cache/repox]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'repox;advisories;help' {
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Load an OSV export (the zip of one ecosystem''s advisories, e.g. https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) into the cache directory. Versions named by malicious-package advisories (`MAL-` ids) are refused with 403 and left out of index pages; the others are listed at /-/api/advisories. A running `repox serve` on the same cache applies the new list at once')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;advisories;help;import' {
            break
        }
        'repox;advisories;help;help' {
            break
        }
        'repox;upload' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'The channel''s URL in a hosted conda repository, e.g. http://HOST:8078/conda-releases/team')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Log in as this user; the secret comes from REPOX_TOKEN or REPOX_PASSWORD, else from the netrc entry of the host. Without --user, REPOX_TOKEN is sent as a bearer token')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file [default: ~/.config/repox/repox.toml when it exists]')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log output (-v: debug, -vv: trace); RUST_LOG overrides')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only errors')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'repox;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the caching proxy')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Show or write the repox configuration')
            [CompletionResult]::new('configure', 'configure', [CompletionResultType]::ParameterValue, 'Point a client (pip, uv, conda, pixi, sbt, coursier, maven, gradle, npm, cargo) at repox')
            [CompletionResult]::new('warm', 'warm', [CompletionResultType]::ParameterValue, 'Pre-fetch what a requirements or lock file needs into the cache')
            [CompletionResult]::new('user', 'user', [CompletionResultType]::ParameterValue, 'Manage the users who may log in to a shared repox')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Create, list and revoke users'' access tokens')
            [CompletionResult]::new('cache', 'cache', [CompletionResultType]::ParameterValue, 'Show, list, remove and evict cache entries')
            [CompletionResult]::new('advisories', 'advisories', [CompletionResultType]::ParameterValue, 'Import security advisories: versions of malicious packages are refused')
            [CompletionResult]::new('upload', 'upload', [CompletionResultType]::ParameterValue, 'Upload conda packages (.conda, .tar.bz2) to a hosted conda repository')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'repox;help;serve' {
            break
        }
        'repox;help;config' {
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print the effective configuration (defaults, file and flags combined) as TOML')
            [CompletionResult]::new('init', 'init', [CompletionResultType]::ParameterValue, 'Write the default configuration, with comments explaining each key')
            break
        }
        'repox;help;config;show' {
            break
        }
        'repox;help;config;init' {
            break
        }
        'repox;help;configure' {
            break
        }
        'repox;help;warm' {
            break
        }
        'repox;help;user' {
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a user; asks for the password twice unless --password-stdin or --no-password')
            [CompletionResult]::new('passwd', 'passwd', [CompletionResultType]::ParameterValue, 'Set a user''s password; asks twice unless --password-stdin. Their tokens stay valid')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List users with their role and number of tokens')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Remove a user and all their tokens')
            break
        }
        'repox;help;user;add' {
            break
        }
        'repox;help;user;passwd' {
            break
        }
        'repox;help;user;list' {
            break
        }
        'repox;help;user;remove' {
            break
        }
        'repox;help;token' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a token for USER and print it (only the token, on standard output). It is shown this once; only its hash is kept')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List tokens (ids, users, labels, dates; never the tokens themselves)')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke a token by its id (from `repox token list`)')
            break
        }
        'repox;help;token;create' {
            break
        }
        'repox;help;token;list' {
            break
        }
        'repox;help;token;revoke' {
            break
        }
        'repox;help;cache' {
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Entries and bytes held, in total and per repository')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List the entries whose path starts with PREFIX: path, size in bytes, last access')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Remove one entry, or every entry under a path prefix')
            [CompletionResult]::new('gc', 'gc', [CompletionResultType]::ParameterValue, 'Apply `[storage] max_size` and `unused_for` now')
            break
        }
        'repox;help;cache;stats' {
            break
        }
        'repox;help;cache;ls' {
            break
        }
        'repox;help;cache;rm' {
            break
        }
        'repox;help;cache;gc' {
            break
        }
        'repox;help;advisories' {
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Load an OSV export (the zip of one ecosystem''s advisories, e.g. https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) into the cache directory. Versions named by malicious-package advisories (`MAL-` ids) are refused with 403 and left out of index pages; the others are listed at /-/api/advisories. A running `repox serve` on the same cache applies the new list at once')
            break
        }
        'repox;help;advisories;import' {
            break
        }
        'repox;help;upload' {
            break
        }
        'repox;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
