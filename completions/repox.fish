# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_repox_global_optspecs
    string join \n config= v/verbose q/quiet h/help V/version
end

function __fish_repox_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_repox_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_repox_using_subcommand
    set -l cmd (__fish_repox_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c repox -n "__fish_repox_needs_command" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_needs_command" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_needs_command" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c repox -n "__fish_repox_needs_command" -s V -l version -d 'Print version'
complete -c repox -n "__fish_repox_needs_command" -f -a "serve" -d 'Run the caching proxy'
complete -c repox -n "__fish_repox_needs_command" -f -a "config" -d 'Show or write the repox configuration'
complete -c repox -n "__fish_repox_needs_command" -f -a "configure" -d 'Point a client (pip, uv, conda, pixi, sbt, coursier, maven, gradle, npm, cargo) at repox'
complete -c repox -n "__fish_repox_needs_command" -f -a "warm" -d 'Pre-fetch what a requirements or lock file needs into the cache'
complete -c repox -n "__fish_repox_needs_command" -f -a "user" -d 'Manage the users who may log in to a shared repox'
complete -c repox -n "__fish_repox_needs_command" -f -a "token" -d 'Create, list and revoke users\' access tokens'
complete -c repox -n "__fish_repox_needs_command" -f -a "cache" -d 'Show, list, remove and evict cache entries'
complete -c repox -n "__fish_repox_needs_command" -f -a "advisories" -d 'Import security advisories: versions of malicious packages are refused'
complete -c repox -n "__fish_repox_needs_command" -f -a "upload" -d 'Upload conda packages (.conda, .tar.bz2) to a hosted conda repository'
complete -c repox -n "__fish_repox_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand serve" -l listen -d 'Address to listen on [default: 127.0.0.1:8078]' -r
complete -c repox -n "__fish_repox_using_subcommand serve" -l cache-dir -d 'Cache directory [default: ~/.cache/repox]' -r -F
complete -c repox -n "__fish_repox_using_subcommand serve" -l workers -d 'Threads serving requests, like nginx\'s `worker_processes` ([server] workers) [default: one per CPU core]' -r
complete -c repox -n "__fish_repox_using_subcommand serve" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand serve" -l offline -d 'Serve only what is cached: misses get 504, stale metadata is served as is'
complete -c repox -n "__fish_repox_using_subcommand serve" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand serve" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand serve" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand config; and not __fish_seen_subcommand_from show init help" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand config; and not __fish_seen_subcommand_from show init help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand config; and not __fish_seen_subcommand_from show init help" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand config; and not __fish_seen_subcommand_from show init help" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand config; and not __fish_seen_subcommand_from show init help" -f -a "show" -d 'Print the effective configuration (defaults, file and flags combined) as TOML'
complete -c repox -n "__fish_repox_using_subcommand config; and not __fish_seen_subcommand_from show init help" -f -a "init" -d 'Write the default configuration, with comments explaining each key'
complete -c repox -n "__fish_repox_using_subcommand config; and not __fish_seen_subcommand_from show init help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from show" -l listen -d 'Address to listen on [default: 127.0.0.1:8078]' -r
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from show" -l cache-dir -d 'Cache directory [default: ~/.cache/repox]' -r -F
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from show" -l workers -d 'Threads serving requests, like nginx\'s `worker_processes` ([server] workers) [default: one per CPU core]' -r
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from show" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from show" -l offline -d 'Serve only what is cached: misses get 504, stale metadata is served as is'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from init" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from init" -l force -d 'Replace an existing file'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from init" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from init" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print the effective configuration (defaults, file and flags combined) as TOML'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "init" -d 'Write the default configuration, with comments explaining each key'
complete -c repox -n "__fish_repox_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand configure" -l url -d 'Base URL of the repox server [default: from the effective config\'s listen address]' -r
complete -c repox -n "__fish_repox_using_subcommand configure" -l scope -d 'Which config file to edit' -r -f -a "user\t'The current user\'s file (the default)'
project\t'The current project\'s (or active environment\'s) file'
global\t'The machine-wide file (usually needs root)'"
complete -c repox -n "__fish_repox_using_subcommand configure" -l snapshot -d 'Point clients at the repositories as they were at this date (YYYY-MM-DD): the same requirements resolve the same versions on every run (e.g. `/pypi/@2025-06-01/simple/`)' -r
complete -c repox -n "__fish_repox_using_subcommand configure" -l user -l username -d 'Store credentials for this repox user where each client keeps them (netrc, settings.xml `<server>`, `.npmrc`, `credentials.toml`, …); the secret comes from --token-env or --password-env, else from a hidden prompt' -r
complete -c repox -n "__fish_repox_using_subcommand configure" -l token-env -d 'Environment variable holding a repox token (`repox token create`), the best secret for every client; without --user, basic-auth clients send it as user `__token__`' -r
complete -c repox -n "__fish_repox_using_subcommand configure" -l password-env -d 'Environment variable holding the password of --user' -r
complete -c repox -n "__fish_repox_using_subcommand configure" -l publish -d 'Also set up publishing to this hosted repository of repox (`hosted = true`): pip writes twine\'s `~/.pypirc` (`twine upload -r repox`), uv its `publish-url` (`uv publish`), Maven prints the `<distributionManagement>` to add to the project (deploying with the `<server>` that --user stores), npm stores the login for the repository\'s URL (`npm publish --registry URL`), cargo adds `[registries.REPO]` with its token (`cargo publish --registry REPO`)' -r
complete -c repox -n "__fish_repox_using_subcommand configure" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand configure" -l dry-run -d 'Print the change as a unified diff and write nothing'
complete -c repox -n "__fish_repox_using_subcommand configure" -s y -l yes -d 'Do not ask for confirmation'
complete -c repox -n "__fish_repox_using_subcommand configure" -l undo -d 'Restore the file as it was before the last `repox configure` of these clients'
complete -c repox -n "__fish_repox_using_subcommand configure" -l status -d 'For every client, show the effective index URL and every file or variable that sets it'
complete -c repox -n "__fish_repox_using_subcommand configure" -l maven-external-only -d 'Maven: mirror only external repositories (`external:*`) instead of all (`*`)'
complete -c repox -n "__fish_repox_using_subcommand configure" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand configure" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand configure" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c repox -n "__fish_repox_using_subcommand warm" -l format -d 'Read every FILE as this format instead of detecting it' -r -f -a "requirements\t'pip requirements file (`-r`/`-c` includes, options, hashes)'
pylock\t'PEP 751 `pylock.toml`'
uv-lock\t'`uv.lock`'
poetry-lock\t'`poetry.lock`'
pipfile-lock\t'pipenv `Pipfile.lock`'
pdm-lock\t'`pdm.lock`'
conda-explicit\t'conda `@EXPLICIT` spec (`conda list --explicit`)'
conda-lock\t'`conda-lock.yml`'
pixi-lock\t'`pixi.lock`'
package-lock\t'npm `package-lock.json` / `npm-shrinkwrap.json`'
yarn-lock\t'Yarn classic (v1) `yarn.lock`'
cargo-lock\t'`Cargo.lock`'
maven-list\t'text file of `group:artifact:version[:classifier][@ext]` lines'
pom\t'Maven `pom.xml`'"
complete -c repox -n "__fish_repox_using_subcommand warm" -l python -d 'Python version to resolve requirements for, e.g. 3.12 [default: the `python3` on PATH]' -r
complete -c repox -n "__fish_repox_using_subcommand warm" -l platform -d 'Wheel platform tag to resolve for, e.g. manylinux_2_28_x86_64, macosx_11_0_arm64, win_amd64; repeat for several [default: this machine]' -r
complete -c repox -n "__fish_repox_using_subcommand warm" -l server -d 'The repox to fill [default: the configured server if it answers, else an in-process proxy on the configured cache directory]' -r
complete -c repox -n "__fish_repox_using_subcommand warm" -l user -d 'Log in to repox as this user; the secret comes from REPOX_TOKEN or REPOX_PASSWORD, else from the netrc entry of the server\'s host. Without --user, REPOX_TOKEN is sent as a bearer token, and a netrc entry for the host is used when there is one' -r
complete -c repox -n "__fish_repox_using_subcommand warm" -s j -l jobs -d 'Parallel downloads' -r
complete -c repox -n "__fish_repox_using_subcommand warm" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand warm" -l dry-run -d 'Resolve and list what would be fetched; download no package files'
complete -c repox -n "__fish_repox_using_subcommand warm" -l json -d 'Print the summary as JSON on stdout'
complete -c repox -n "__fish_repox_using_subcommand warm" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand warm" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand warm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c repox -n "__fish_repox_using_subcommand user; and not __fish_seen_subcommand_from add passwd list remove help" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand user; and not __fish_seen_subcommand_from add passwd list remove help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand user; and not __fish_seen_subcommand_from add passwd list remove help" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand user; and not __fish_seen_subcommand_from add passwd list remove help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c repox -n "__fish_repox_using_subcommand user; and not __fish_seen_subcommand_from add passwd list remove help" -f -a "add" -d 'Add a user; asks for the password twice unless --password-stdin or --no-password'
complete -c repox -n "__fish_repox_using_subcommand user; and not __fish_seen_subcommand_from add passwd list remove help" -f -a "passwd" -d 'Set a user\'s password; asks twice unless --password-stdin. Their tokens stay valid'
complete -c repox -n "__fish_repox_using_subcommand user; and not __fish_seen_subcommand_from add passwd list remove help" -f -a "list" -d 'List users with their role and number of tokens'
complete -c repox -n "__fish_repox_using_subcommand user; and not __fish_seen_subcommand_from add passwd list remove help" -f -a "remove" -d 'Remove a user and all their tokens'
complete -c repox -n "__fish_repox_using_subcommand user; and not __fish_seen_subcommand_from add passwd list remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from add" -l role -d 'The user\'s role on every repository' -r -f -a "read\t'Read every repository'
write\t'Read, and upload to hosted repositories'
admin\t'Write, and use the operator endpoints (/-/metrics)'"
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from add" -l repo -d 'A different role on one repository, e.g. `--repo pypi=write`; repeatable' -r
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from add" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from add" -l password-stdin -d 'Read the password from the first line of standard input'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from add" -l no-password -d 'No password: the user logs in with tokens only (`repox token create`)'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from add" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from passwd" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from passwd" -l password-stdin -d 'Read the password from the first line of standard input'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from passwd" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from passwd" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from list" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from remove" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a user; asks for the password twice unless --password-stdin or --no-password'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Set a user\'s password; asks twice unless --password-stdin. Their tokens stay valid'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "list" -d 'List users with their role and number of tokens'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a user and all their tokens'
complete -c repox -n "__fish_repox_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c repox -n "__fish_repox_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "create" -d 'Create a token for USER and print it (only the token, on standard output). It is shown this once; only its hash is kept'
complete -c repox -n "__fish_repox_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "list" -d 'List tokens (ids, users, labels, dates; never the tokens themselves)'
complete -c repox -n "__fish_repox_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "revoke" -d 'Revoke a token by its id (from `repox token list`)'
complete -c repox -n "__fish_repox_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from create" -l name -d 'A label to tell tokens apart, e.g. `ci` or `laptop`' -r
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from create" -l expires -d 'Lifetime, e.g. `90d`, `12h`, `1y` [default: never expires]' -r
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from create" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from create" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from list" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from revoke" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from revoke" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a token for USER and print it (only the token, on standard output). It is shown this once; only its hash is kept'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "list" -d 'List tokens (ids, users, labels, dates; never the tokens themselves)'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a token by its id (from `repox token list`)'
complete -c repox -n "__fish_repox_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand cache; and not __fish_seen_subcommand_from stats ls rm gc help" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand cache; and not __fish_seen_subcommand_from stats ls rm gc help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand cache; and not __fish_seen_subcommand_from stats ls rm gc help" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand cache; and not __fish_seen_subcommand_from stats ls rm gc help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c repox -n "__fish_repox_using_subcommand cache; and not __fish_seen_subcommand_from stats ls rm gc help" -f -a "stats" -d 'Entries and bytes held, in total and per repository'
complete -c repox -n "__fish_repox_using_subcommand cache; and not __fish_seen_subcommand_from stats ls rm gc help" -f -a "ls" -d 'List the entries whose path starts with PREFIX: path, size in bytes, last access'
complete -c repox -n "__fish_repox_using_subcommand cache; and not __fish_seen_subcommand_from stats ls rm gc help" -f -a "rm" -d 'Remove one entry, or every entry under a path prefix'
complete -c repox -n "__fish_repox_using_subcommand cache; and not __fish_seen_subcommand_from stats ls rm gc help" -f -a "gc" -d 'Apply `[storage] max_size` and `unused_for` now'
complete -c repox -n "__fish_repox_using_subcommand cache; and not __fish_seen_subcommand_from stats ls rm gc help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from stats" -l cache-dir -d 'Cache directory [default: from the config, else ~/.cache/repox]' -r -F
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from stats" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from stats" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from stats" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from ls" -l cache-dir -d 'Cache directory [default: from the config, else ~/.cache/repox]' -r -F
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from ls" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from ls" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from ls" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from rm" -l cache-dir -d 'Cache directory [default: from the config, else ~/.cache/repox]' -r -F
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from rm" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from rm" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from rm" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from gc" -l cache-dir -d 'Cache directory [default: from the config, else ~/.cache/repox]' -r -F
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from gc" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from gc" -l dry-run -d 'Print what would be removed and remove nothing'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from gc" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from gc" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from gc" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Entries and bytes held, in total and per repository'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List the entries whose path starts with PREFIX: path, size in bytes, last access'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove one entry, or every entry under a path prefix'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "gc" -d 'Apply `[storage] max_size` and `unused_for` now'
complete -c repox -n "__fish_repox_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand advisories; and not __fish_seen_subcommand_from import help" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand advisories; and not __fish_seen_subcommand_from import help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand advisories; and not __fish_seen_subcommand_from import help" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand advisories; and not __fish_seen_subcommand_from import help" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand advisories; and not __fish_seen_subcommand_from import help" -f -a "import" -d 'Load an OSV export (the zip of one ecosystem\'s advisories, e.g. https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) into the cache directory. Versions named by malicious-package advisories (`MAL-` ids) are refused with 403 and left out of index pages; the others are listed at /-/api/advisories. A running `repox serve` on the same cache applies the new list at once'
complete -c repox -n "__fish_repox_using_subcommand advisories; and not __fish_seen_subcommand_from import help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand advisories; and __fish_seen_subcommand_from import" -l cache-dir -d 'Cache directory [default: from the config, else ~/.cache/repox]' -r -F
complete -c repox -n "__fish_repox_using_subcommand advisories; and __fish_seen_subcommand_from import" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand advisories; and __fish_seen_subcommand_from import" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand advisories; and __fish_seen_subcommand_from import" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand advisories; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c repox -n "__fish_repox_using_subcommand advisories; and __fish_seen_subcommand_from help" -f -a "import" -d 'Load an OSV export (the zip of one ecosystem\'s advisories, e.g. https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) into the cache directory. Versions named by malicious-package advisories (`MAL-` ids) are refused with 403 and left out of index pages; the others are listed at /-/api/advisories. A running `repox serve` on the same cache applies the new list at once'
complete -c repox -n "__fish_repox_using_subcommand advisories; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand upload" -l to -d 'The channel\'s URL in a hosted conda repository, e.g. http://HOST:8078/conda-releases/team' -r
complete -c repox -n "__fish_repox_using_subcommand upload" -l user -d 'Log in as this user; the secret comes from REPOX_TOKEN or REPOX_PASSWORD, else from the netrc entry of the host. Without --user, REPOX_TOKEN is sent as a bearer token' -r
complete -c repox -n "__fish_repox_using_subcommand upload" -l config -d 'Config file [default: ~/.config/repox/repox.toml when it exists]' -r -F
complete -c repox -n "__fish_repox_using_subcommand upload" -s v -l verbose -d 'More log output (-v: debug, -vv: trace); RUST_LOG overrides'
complete -c repox -n "__fish_repox_using_subcommand upload" -s q -l quiet -d 'Only errors'
complete -c repox -n "__fish_repox_using_subcommand upload" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c repox -n "__fish_repox_using_subcommand help; and not __fish_seen_subcommand_from serve config configure warm user token cache advisories upload help" -f -a "serve" -d 'Run the caching proxy'
complete -c repox -n "__fish_repox_using_subcommand help; and not __fish_seen_subcommand_from serve config configure warm user token cache advisories upload help" -f -a "config" -d 'Show or write the repox configuration'
complete -c repox -n "__fish_repox_using_subcommand help; and not __fish_seen_subcommand_from serve config configure warm user token cache advisories upload help" -f -a "configure" -d 'Point a client (pip, uv, conda, pixi, sbt, coursier, maven, gradle, npm, cargo) at repox'
complete -c repox -n "__fish_repox_using_subcommand help; and not __fish_seen_subcommand_from serve config configure warm user token cache advisories upload help" -f -a "warm" -d 'Pre-fetch what a requirements or lock file needs into the cache'
complete -c repox -n "__fish_repox_using_subcommand help; and not __fish_seen_subcommand_from serve config configure warm user token cache advisories upload help" -f -a "user" -d 'Manage the users who may log in to a shared repox'
complete -c repox -n "__fish_repox_using_subcommand help; and not __fish_seen_subcommand_from serve config configure warm user token cache advisories upload help" -f -a "token" -d 'Create, list and revoke users\' access tokens'
complete -c repox -n "__fish_repox_using_subcommand help; and not __fish_seen_subcommand_from serve config configure warm user token cache advisories upload help" -f -a "cache" -d 'Show, list, remove and evict cache entries'
complete -c repox -n "__fish_repox_using_subcommand help; and not __fish_seen_subcommand_from serve config configure warm user token cache advisories upload help" -f -a "advisories" -d 'Import security advisories: versions of malicious packages are refused'
complete -c repox -n "__fish_repox_using_subcommand help; and not __fish_seen_subcommand_from serve config configure warm user token cache advisories upload help" -f -a "upload" -d 'Upload conda packages (.conda, .tar.bz2) to a hosted conda repository'
complete -c repox -n "__fish_repox_using_subcommand help; and not __fish_seen_subcommand_from serve config configure warm user token cache advisories upload help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Print the effective configuration (defaults, file and flags combined) as TOML'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "init" -d 'Write the default configuration, with comments explaining each key'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "add" -d 'Add a user; asks for the password twice unless --password-stdin or --no-password'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "passwd" -d 'Set a user\'s password; asks twice unless --password-stdin. Their tokens stay valid'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "list" -d 'List users with their role and number of tokens'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "remove" -d 'Remove a user and all their tokens'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "create" -d 'Create a token for USER and print it (only the token, on standard output). It is shown this once; only its hash is kept'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "list" -d 'List tokens (ids, users, labels, dates; never the tokens themselves)'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke a token by its id (from `repox token list`)'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "stats" -d 'Entries and bytes held, in total and per repository'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "ls" -d 'List the entries whose path starts with PREFIX: path, size in bytes, last access'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "rm" -d 'Remove one entry, or every entry under a path prefix'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "gc" -d 'Apply `[storage] max_size` and `unused_for` now'
complete -c repox -n "__fish_repox_using_subcommand help; and __fish_seen_subcommand_from advisories" -f -a "import" -d 'Load an OSV export (the zip of one ecosystem\'s advisories, e.g. https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) into the cache directory. Versions named by malicious-package advisories (`MAL-` ids) are refused with 403 and left out of index pages; the others are listed at /-/api/advisories. A running `repox serve` on the same cache applies the new list at once'
