//! The config file (`rectify.toml`, issue #23 item 3) through the real `rectify` binary:
//! precedence flag > environment > file > default, unknown keys and bad values refused at
//! start with the key and the reason, `check-config` masking passwords, a missing file named
//! on the command line, and the shipped sample kept in step with the real defaults.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The environment variables of settings: removed so the caller's environment cannot leak in.
const SETTING_VARS: &[&str] = &[
    "RECTIFY_CONFIG",
    "RECTIFY_LOG",
    "RECTIFY_DATA",
    "RECTIFY_DATABASE_URL",
    "RECTIFY_LISTEN",
    "RECTIFY_WEB_ROOT",
    "RECTIFY_TLS_CERT",
    "RECTIFY_TLS_KEY",
    "RECTIFY_MAX_CONNECTIONS",
    "RECTIFY_MAX_FILE_MB",
    "RECTIFY_QUOTA_MB",
];

/// `rectify ARGS` in `dir`, with only `env` of the settings' variables set, and the default
/// config path (`/etc/rectify/rectify.toml`) replaced by a file in `dir` that does not exist.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rectify"));
    command.current_dir(dir).args(args);
    for var in SETTING_VARS {
        command.env_remove(var);
    }
    command.env("RECTIFY_DEFAULT_CONFIG", dir.join("no-default.toml"));
    command.envs(env.iter().copied());
    command
}

fn rectify(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env)
        .output()
        .expect("the rectify binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `check-config`'s lines as key → (value, source); unset keys are left out.
fn effective(output: &Output) -> BTreeMap<String, (String, String)> {
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (key, rest) = line.split_once(" = ").expect("key = value  # source");
            let (value, source) = rest.split_once("  # ").expect("key = value  # source");
            (
                key.trim().to_owned(),
                (value.trim().to_owned(), source.trim().to_owned()),
            )
        })
        .collect()
}

#[test]
fn precedence_is_flag_then_environment_then_file_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rectify.toml");
    std::fs::write(&file, "max_connections = 300\n").unwrap();
    let config = file.to_str().unwrap();
    /// With the config file, RECTIFY_MAX_CONNECTIONS, --max-connections → value, source.
    struct Case {
        file: bool,
        env: Option<&'static str>,
        flag: Option<&'static str>,
        value: &'static str,
        source: &'static str,
    }
    const ENV: &str = "environment (RECTIFY_MAX_CONNECTIONS)";
    #[rustfmt::skip]
    let cases = [
        Case { file: false, env: None, flag: None, value: "2000", source: "default" },
        Case { file: true, env: None, flag: None, value: "300", source: "file" },
        Case { file: true, env: Some("200"), flag: None, value: "200", source: ENV },
        Case { file: false, env: Some("200"), flag: None, value: "200", source: ENV },
        Case { file: true, env: None, flag: Some("100"), value: "100", source: "flag" },
        Case { file: true, env: Some("200"), flag: Some("100"), value: "100", source: "flag" },
    ];
    for Case {
        file: with_file,
        env,
        flag,
        value,
        source,
    } in cases
    {
        let mut args = vec!["check-config"];
        if with_file {
            args.extend(["--config", config]);
        }
        if let Some(flag) = flag {
            args.extend(["--", "--max-connections", flag]);
        }
        let env: Vec<(&str, &str)> = env
            .map(|v| ("RECTIFY_MAX_CONNECTIONS", v))
            .into_iter()
            .collect();
        let settings = effective(&rectify(dir.path(), &args, &env));
        assert_eq!(
            settings["max_connections"],
            (value.to_owned(), source.to_owned()),
            "file {with_file}, environment {env:?}, flag {flag:?}"
        );
    }
}

/// The file is what `serve` runs with (its data directory, its address), not only what
/// `check-config` prints; and the other commands read the same `data`.
#[test]
fn serve_and_the_other_commands_run_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-file");
    let file = dir.path().join("rectify.toml");
    std::fs::write(
        &file,
        format!(
            "data = {:?}\nlisten = \"127.0.0.1:0\"\nweb_root = \"/nonexistent\"\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let config = file.to_str().unwrap();

    let demo = rectify(
        dir.path(),
        &["demo", "--password", "test-password"],
        &[("RECTIFY_CONFIG", config)],
    );
    assert!(demo.status.success(), "{}", text(&demo.stderr));
    assert!(
        data.join("rectify.db").is_file(),
        "demo used the file's data"
    );

    let mut child = command(
        dir.path(),
        &["serve", "--config", config],
        &[("RECTIFY_LOG", "info")],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let listening = loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains("listening on http://127.0.0.1:") => break line,
            Ok(line) => seen.push(line),
            Err(_) => break String::new(),
        }
    };
    let locked = data.join("rectify.lock").is_file();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!listening.is_empty(), "serve did not start: {seen:#?}");
    assert!(
        !listening.contains(":8080"),
        "the file's listen: {listening}"
    );
    assert!(locked, "serve holds the file's data directory");
}

/// Each bad file stops `serve` (and `check-config`) at start, naming the file, the key and the
/// reason, and never repeating a password.
#[test]
fn a_bad_file_is_refused_with_the_key_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "max_conections = 5\n",
            &["unknown key `max_conections`", "max_connections"],
        ),
        (
            "[serve]\nlisten = \"127.0.0.1:1\"\n",
            &["unknown key `serve`"],
        ),
        (
            "config = \"other.toml\"\n",
            &["`config` cannot be set in a config file"],
        ),
        (
            "max_connections = \"lots\"\n",
            &["`max_connections` = \"lots\"", "invalid digit"],
        ),
        ("quota_mb = -1\n", &["`quota_mb` = -1", "invalid digit"]),
        (
            "listen = \"localhost\"\n",
            &["`listen` = \"localhost\"", "invalid socket address"],
        ),
        (
            "image_max_side = { px = 1600 }\n",
            &["`image_max_side`", "expected a string or a number"],
        ),
        (
            "image_max_side = [1600]\n",
            &["`image_max_side` takes one value, not a list"],
        ),
        (
            "log = \"info,[[\"\n",
            &["`log` = \"info,[[\"", "not a log filter"],
        ),
        (
            "database = \"mysql://rectify:s3cret@db/rectify\"\n",
            &[
                "`database` = \"mysql://rectify:***@db/rectify\"",
                "unknown storage URL scheme",
            ],
        ),
        ("listen = \n", &["not valid TOML", "line 1"]),
    ];
    let file = dir.path().join("bad.toml");
    let config = file.to_str().unwrap();
    for (body, expected) in cases {
        std::fs::write(&file, body).unwrap();
        for args in [
            &["check-config", "--config", config][..],
            &["serve", "--config", config, "--data", "d"][..],
        ] {
            let out = rectify(dir.path(), args, &[]);
            let stderr = text(&out.stderr);
            assert!(!out.status.success(), "{body:?} with {args:?} must fail");
            assert!(
                stderr.contains(config),
                "{body:?}: names the file: {stderr}"
            );
            for fragment in *expected {
                assert!(
                    stderr.contains(fragment),
                    "{body:?}: {fragment:?}: {stderr}"
                );
            }
            assert!(!stderr.contains("s3cret"), "{body:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{body:?}: {stderr}");
        }
    }
    assert!(!dir.path().join("d").exists(), "nothing started");
}

#[test]
fn check_config_masks_a_database_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rectify.toml");
    std::fs::write(
        &file,
        "database = \"postgres://rectify:s3cret@db.example:5432/rectify?password=s3cret\"\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let url = "postgres://rectify:s3cret@db/rectify";
    /// `check-config` with these arguments and environment shows this value and source.
    struct Case<'a> {
        args: &'a [&'a str],
        env: &'a [(&'a str, &'a str)],
        value: &'a str,
        source: &'a str,
    }
    let cases = [
        Case {
            args: &["--config", config],
            env: &[],
            value: "\"postgres://rectify:***@db.example:5432/rectify?password=***\"",
            source: "file",
        },
        Case {
            args: &[],
            env: &[("RECTIFY_DATABASE_URL", url)],
            value: "\"postgres://rectify:***@db/rectify\"",
            source: "environment (RECTIFY_DATABASE_URL)",
        },
        Case {
            args: &["--", "--database", url],
            env: &[],
            value: "\"postgres://rectify:***@db/rectify\"",
            source: "flag",
        },
    ];
    for Case {
        args,
        env,
        value,
        source,
    } in cases
    {
        let args: Vec<&str> = ["check-config"].iter().chain(args).copied().collect();
        let out = rectify(dir.path(), &args, env);
        assert!(
            !text(&out.stdout).contains("s3cret"),
            "{}",
            text(&out.stdout)
        );
        assert!(
            !text(&out.stderr).contains("s3cret"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(
            effective(&out)["database"],
            (value.to_owned(), source.to_owned())
        );
    }
}

#[test]
fn a_missing_config_file_is_an_error_unless_it_is_the_default_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let missing = missing.to_str().unwrap();
    for (args, env) in [
        (&["check-config", "--config", missing][..], &[][..]),
        (&["serve", "--config", missing, "--data", "d"][..], &[][..]),
        (&["check-config"][..], &[("RECTIFY_CONFIG", missing)][..]),
    ] {
        let out = rectify(dir.path(), args, env);
        assert!(!out.status.success(), "{args:?} {env:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("cannot read the config file") && stderr.contains(missing),
            "{stderr}"
        );
    }
    assert!(!dir.path().join("d").exists(), "nothing started");

    // The default path (/etc/rectify/rectify.toml) is read only when it exists.
    let absent = rectify(dir.path(), &["check-config"], &[]);
    assert!(text(&absent.stdout).starts_with("# config file: none"));
    assert_eq!(effective(&absent)["listen"].1, "default");
    let default = dir.path().join("default.toml");
    std::fs::write(&default, "listen = \"127.0.0.1:9999\"\n").unwrap();
    let present = rectify(
        dir.path(),
        &["check-config"],
        &[("RECTIFY_DEFAULT_CONFIG", default.to_str().unwrap())],
    );
    assert_eq!(
        effective(&present)["listen"],
        ("\"127.0.0.1:9999\"".to_owned(), "file".to_owned())
    );
}

/// `server/rectify.sample.toml` has every key, each (uncommented) valid and equal to the real
/// default; keys without a default may show an example.
#[test]
fn the_sample_config_has_every_key_with_the_real_default() {
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/rectify.sample.toml"),
    )
    .unwrap();
    // As shipped (all commented out) it parses and changes nothing.
    let shipped = dir.path().join("shipped.toml");
    std::fs::write(&shipped, &sample).unwrap();
    let defaults = effective(&rectify(
        dir.path(),
        &["check-config", "--config", shipped.to_str().unwrap()],
        &[],
    ));
    assert!(defaults.values().all(|(_, source)| source == "default"));

    let uncommented: String = sample
        .lines()
        .filter_map(|line| line.strip_prefix("# "))
        .filter(|line| {
            line.split_once(" = ").is_some_and(|(key, _)| {
                !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let file = dir.path().join("uncommented.toml");
    std::fs::write(&file, &uncommented).unwrap();
    let out = rectify(
        dir.path(),
        &["check-config", "--config", file.to_str().unwrap()],
        &[],
    );
    let from_sample = effective(&out);
    assert!(
        !text(&out.stdout).contains(" is not set"),
        "the sample misses keys: {}",
        text(&out.stdout)
    );
    for (key, (value, source)) in &from_sample {
        assert_eq!(source, "file", "{key} is in the sample");
        if let Some((default, _)) = defaults.get(key) {
            assert_eq!(value, default, "the sample's {key} is the default");
        }
    }
    assert!(
        from_sample.len() > defaults.len(),
        "the keys without a default are in the sample too"
    );
}
