//! The configuration file (`rectify.toml`): every setting of `rectify serve` and the global
//! ones, keyed by its long flag name in snake_case (`--max-connections` is
//! `max_connections`).
//!
//! The file adds nothing of its own to the command line's definition: its keys are the clap
//! arguments that have a long name, and a value in the file becomes that argument's default
//! before the command line is parsed again. So clap's order is the precedence (flag >
//! environment > file > default), every value goes through the flag's own parser, and a new
//! flag is a new key without further work. `ArgMatches::value_source` then tells where each
//! value came from (a default that the file set is the file's).

use crate::storage::redacted;
use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Read when neither `--config` nor `RECTIFY_CONFIG` names a file, if it exists.
pub const DEFAULT_PATH: &str = "/etc/rectify/rectify.toml";

/// Replaces [`DEFAULT_PATH`] (for tests and packagers): the file read when none is named.
pub const DEFAULT_PATH_ENV: &str = "RECTIFY_DEFAULT_CONFIG";

/// The id of `--config` (on the top-level command), which names the file: not a key in it.
const CONFIG_ARG: &str = "config";

/// A configuration file, read and checked: every key is a setting and every value passes
/// that setting's parser. Not `Debug`: a value may hold a password.
#[derive(Clone)]
pub struct ConfigFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Named by `--config`/`RECTIFY_CONFIG` (else the default path, which existed).
    pub explicit: bool,
    /// Key → values as the flag would take them (several for a flag that repeats).
    values: BTreeMap<String, Vec<String>>,
}

/// One setting's effective value, for `rectify check-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The key in the file.
    pub key: String,
    /// The value (a password masked), or `None` when not set.
    pub value: Option<String>,
    /// Where the value came from.
    pub source: Source,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The command line.
    Flag,
    /// The environment variable it names.
    Environment(String),
    /// The configuration file.
    File,
    /// The built-in default (or not set).
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Environment(var) => write!(f, "environment ({var})"),
            Source::File => f.write_str("file"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// The settings a file may hold: the top-level command's own arguments (global ones such as
/// `--log`) and those of `settings_of`, each with its key. Help, version and `--config` are
/// not settings.
pub fn settings<'a>(root: &'a Command, settings_of: &str) -> Vec<(String, &'a Arg)> {
    let sub = root
        .find_subcommand(settings_of)
        .expect("the command whose settings the file holds exists");
    root.get_arguments()
        .chain(sub.get_arguments())
        .filter(|arg| arg.get_id() != CONFIG_ARG)
        .filter_map(|arg| {
            let long = arg.get_long()?;
            (!matches!(long, "help" | "version")).then(|| (long.replace('-', "_"), arg))
        })
        .collect()
}

/// The file to read: the one named (which must exist), else the default path if it exists.
pub fn locate(named: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(path) = named {
        return Some((path.to_owned(), true));
    }
    let default = std::env::var_os(DEFAULT_PATH_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    default.is_file().then_some((default, false))
}

impl ConfigFile {
    /// Reads and checks the file against the settings of `root`'s `settings_of` command.
    /// Every error names the file, and the key and the reason when a value is wrong.
    pub fn read(
        path: &Path,
        explicit: bool,
        root: &Command,
        settings_of: &str,
    ) -> anyhow::Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let values = check(&text, root, settings_of)
            .with_context(|| format!("in the config file {}", path.display()))?;
        Ok(ConfigFile {
            path: path.to_owned(),
            explicit,
            values,
        })
    }

    /// Whether the file sets `key`.
    pub fn sets(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// `root` with the file's values as the defaults of their arguments, wherever (in any
    /// subcommand) an argument of that key exists; a flag or an environment variable still
    /// wins over them.
    pub fn apply(&self, root: Command) -> Command {
        apply_defaults(root, &self.values)
    }
}

/// Parses the TOML text and checks each key and value. Returns key → values as the flag
/// takes them: one, or for a flag that may be repeated, a TOML array's items (or a string
/// split at the flag's delimiter, as its environment variable is).
fn check(
    text: &str,
    root: &Command,
    settings_of: &str,
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let table: toml::Table = toml::from_str(text).context("not valid TOML")?;
    let known = settings(root, settings_of);
    let mut values = BTreeMap::new();
    for (key, value) in table {
        let Some((_, arg)) = known.iter().find(|(k, _)| *k == key) else {
            let keys: Vec<&str> = known.iter().map(|(k, _)| k.as_str()).collect();
            if key == CONFIG_ARG {
                bail!("`config` cannot be set in a config file");
            }
            bail!(
                "unknown key `{key}`: the keys are {} (the long flag names in snake_case)",
                keys.join(", ")
            );
        };
        let repeats = matches!(arg.get_action(), ArgAction::Append);
        let items = match &value {
            toml::Value::Array(items) if repeats => items
                .iter()
                .map(|item| scalar(&key, item))
                .collect::<anyhow::Result<Vec<_>>>()?,
            toml::Value::Array(_) => bail!("`{key}` takes one value, not a list"),
            one => {
                let one = scalar(&key, one)?;
                match arg.get_value_delimiter() {
                    Some(delimiter) if repeats => one.split(delimiter).map(str::to_owned).collect(),
                    _ => vec![one],
                }
            }
        };
        if let Err(why) = check_values(arg, &items) {
            // A database URL's password is not repeated.
            let shown = if arg.is_hide_env_values_set() {
                toml::Value::String(secret(&items.join(",")))
            } else {
                value
            };
            bail!("`{key}` = {shown}: {why}");
        }
        values.insert(key, items);
    }
    Ok(values)
}

/// A string, number or boolean as a flag's value.
fn scalar(key: &str, value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => bail!(
            "`{key}`: expected a string or a number, found {} {other}",
            other.type_str()
        ),
    })
}

/// Runs `values` through `arg`'s own parser, as if each were given with its flag. The reason
/// on failure.
fn check_values(arg: &Arg, values: &[String]) -> Result<(), String> {
    let long = arg.get_long().expect("settings have a long name");
    let probe = Command::new("rectify")
        .no_binary_name(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(arg.clone().env(None).required(false).global(false));
    match probe.try_get_matches_from(values.iter().map(|value| format!("--{long}={value}"))) {
        Ok(_) => Ok(()),
        Err(err) => Err(match std::error::Error::source(&err) {
            Some(source) => source.to_string(),
            None => {
                let rendered = err.render().to_string();
                let first = rendered.lines().next().unwrap_or_default();
                first.strip_prefix("error: ").unwrap_or(first).to_owned()
            }
        }),
    }
}

/// Sets `values` as defaults of the arguments of those ids, in `command` and below.
fn apply_defaults(mut command: Command, values: &BTreeMap<String, Vec<String>>) -> Command {
    for (key, value) in values {
        let present = command
            .get_arguments()
            .any(|arg| arg.get_long().map(|l| l.replace('-', "_")).as_deref() == Some(key));
        if present {
            command = command.mut_args(|arg| {
                if arg.get_long().map(|l| l.replace('-', "_")).as_deref() == Some(key) {
                    arg.default_values(value.clone())
                } else {
                    arg
                }
            });
        }
    }
    command.mut_subcommands(|sub| apply_defaults(sub, values))
}

/// The file to read for `root` as the process was invoked: the global `--config`
/// (`RECTIFY_CONFIG`) if given, else the default path if it exists, read and checked.
pub fn for_invocation(
    root: &Command,
    args: &[OsString],
    settings_of: &str,
) -> anyhow::Result<Option<ConfigFile>> {
    // A first parse only to learn `--config`: everything else is parsed once the file's
    // values are in. It ignores errors (the real parse reports them, or prints help).
    let named = root
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()
        .and_then(|m| m.get_one::<PathBuf>(CONFIG_ARG).cloned());
    match locate(named.as_deref()) {
        Some((path, explicit)) => ConfigFile::read(&path, explicit, root, settings_of).map(Some),
        None => Ok(None),
    }
}

/// A value that holds a secret, as `check-config` shows it: a URL without its password, any
/// other value (a token) not at all.
fn secret(value: &str) -> String {
    if value.contains("://") {
        redacted(value)
    } else {
        "***".to_owned()
    }
}

/// The effective value and source of every setting of `settings_of`, from `matches` of
/// `root` (its subcommand `settings_of` chosen). Values of arguments that hide their
/// environment values (a database URL) are shown without a password.
pub fn effective(
    root: &Command,
    matches: &ArgMatches,
    settings_of: &str,
    file: Option<&ConfigFile>,
) -> Vec<Setting> {
    let sub_matches = matches
        .subcommand_matches(settings_of)
        .expect("the matches are of that subcommand");
    settings(root, settings_of)
        .into_iter()
        .map(|(key, arg)| {
            let id = arg.get_id().as_str();
            let from = if sub_matches.try_contains_id(id).is_ok() {
                sub_matches
            } else {
                matches
            };
            let value = from.get_raw(id).map(|raw| {
                let joined = raw
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(",");
                if arg.is_hide_env_values_set() {
                    secret(&joined)
                } else {
                    joined
                }
            });
            let source = match from.value_source(id) {
                Some(ValueSource::CommandLine) => Source::Flag,
                Some(ValueSource::EnvVariable) => Source::Environment(
                    arg.get_env()
                        .map(|v| v.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                _ if file.is_some_and(|f| f.sets(&key)) => Source::File,
                _ => Source::Default,
            };
            Setting { key, value, source }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    /// A command like `rectify`'s: a global setting, one that takes one value and one that
    /// repeats (as `--trusted-proxy` does: a list, or comma-separated).
    fn root() -> Command {
        let serve = Command::new("serve")
            .arg(
                Arg::new("listen")
                    .long("listen")
                    .value_parser(clap::value_parser!(std::net::SocketAddr))
                    .default_value("127.0.0.1:8080"),
            )
            .arg(
                Arg::new("trusted_proxies")
                    .long("trusted-proxy")
                    .env("RECTIFY_TEST_CONFIG_TRUSTED_PROXIES")
                    .action(ArgAction::Append)
                    .value_delimiter(',')
                    .value_parser(clap::value_parser!(IpAddr)),
            );
        Command::new("rectify")
            .arg(
                Arg::new("log")
                    .long("log")
                    .global(true)
                    .default_value("info"),
            )
            .subcommand(serve)
    }

    /// The file `toml` under the command line `args`: the proxies and their source, or the
    /// error.
    fn check_proxies(toml: &str, args: &[&str]) -> Result<(Vec<IpAddr>, Source), String> {
        let root = root();
        let values = check(toml, &root, "serve").map_err(|err| format!("{err:#}"))?;
        let file = ConfigFile {
            path: PathBuf::from("test.toml"),
            explicit: true,
            values,
        };
        let root = file.apply(root);
        let matches = root
            .clone()
            .try_get_matches_from(["rectify", "serve"].iter().chain(args))
            .unwrap();
        let serve = matches.subcommand_matches("serve").unwrap();
        let proxies = serve
            .get_many::<IpAddr>("trusted_proxies")
            .map(|v| v.copied().collect())
            .unwrap_or_default();
        let settings = effective(&root, &matches, "serve", Some(&file));
        let source = settings
            .into_iter()
            .find(|s| s.key == "trusted_proxy")
            .unwrap()
            .source;
        Ok((proxies, source))
    }

    #[test]
    fn secrets_are_not_shown() {
        assert_eq!(secret("s3cret-scrape"), "***");
        assert_eq!(
            secret("postgres://rectify:hunter2@db/rectify"),
            "postgres://rectify:***@db/rectify"
        );
    }

    #[test]
    fn a_repeated_flag_is_a_list_or_a_delimited_string() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let two = vec![ip("127.0.0.1"), ip("::1")];
        /// The proxies and their source, or the error.
        type Expected = Result<(Vec<IpAddr>, Source), &'static str>;
        let cases: [(&str, &[&str], Expected); 6] = [
            ("", &[], Ok((vec![], Source::Default))),
            (
                "trusted_proxy = [\"127.0.0.1\", \"::1\"]",
                &[],
                Ok((two.clone(), Source::File)),
            ),
            (
                "trusted_proxy = \"127.0.0.1,::1\"",
                &[],
                Ok((two, Source::File)),
            ),
            (
                "trusted_proxy = [\"127.0.0.1\"]",
                &["--trusted-proxy", "10.0.0.1"],
                Ok((vec![ip("10.0.0.1")], Source::Flag)),
            ),
            (
                "trusted_proxy = [\"127.0.0.1\", \"proxy\"]",
                &[],
                Err("`trusted_proxy` = [\"127.0.0.1\", \"proxy\"]: invalid IP address syntax"),
            ),
            (
                "listen = [\"127.0.0.1:1\"]",
                &[],
                Err("`listen` takes one value, not a list"),
            ),
        ];
        for (toml, args, expected) in cases {
            let got = check_proxies(toml, args);
            assert_eq!(got, expected.map_err(str::to_owned), "{toml} {args:?}");
        }
    }
}
