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
use clap::{Arg, ArgMatches, Command};
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
    /// Key → value as the flag would take it.
    values: BTreeMap<String, String>,
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

/// Parses the TOML text and checks each key and value. Returns key → value as a flag takes it.
fn check(
    text: &str,
    root: &Command,
    settings_of: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
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
        let text = match &value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => bail!(
                "`{key}`: expected a string or a number, found {} {other}",
                other.type_str()
            ),
        };
        if let Err(why) = check_value(arg, &text) {
            // A database URL's password is not repeated.
            let shown = if arg.is_hide_env_values_set() {
                toml::Value::String(redacted(&text))
            } else {
                value
            };
            bail!("`{key}` = {shown}: {why}");
        }
        values.insert(key, text);
    }
    Ok(values)
}

/// Runs `value` through `arg`'s own parser, as if given as its flag. The reason on failure.
fn check_value(arg: &Arg, value: &str) -> Result<(), String> {
    let long = arg.get_long().expect("settings have a long name");
    let probe = Command::new("rectify")
        .no_binary_name(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(arg.clone().env(None).required(false).global(false));
    match probe.try_get_matches_from([format!("--{long}={value}")]) {
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
fn apply_defaults(mut command: Command, values: &BTreeMap<String, String>) -> Command {
    for (key, value) in values {
        let present = command
            .get_arguments()
            .any(|arg| arg.get_long().map(|l| l.replace('-', "_")).as_deref() == Some(key));
        if present {
            command = command.mut_args(|arg| {
                if arg.get_long().map(|l| l.replace('-', "_")).as_deref() == Some(key) {
                    arg.default_value(value.clone())
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
                    redacted(&joined)
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
