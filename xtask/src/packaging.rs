//! The packaging test, the last step of `cargo xtask dist`: the artifacts installed and
//! started as a district's IT person would, each check failing the run loudly.
//!
//! - The `.deb` into a clean root (`dpkg --root DIR --force-script-chrootless`, an empty dpkg
//!   database): the files with their owners and modes, the `rectify` user, the conffile, the
//!   units enabled, `systemd-analyze verify` and `security` on the installed units; the
//!   installed binary started as that user with the installed config (its data directory
//!   pointed into the root) answering `/healthz`; `rectify check-config`; the backup script
//!   keeping the newest copies, and `rectify restore` of one; a reinstall keeping an edited
//!   conffile; a purge keeping the data. Once more into a second root where
//!   `systemd-sysusers` is missing, so the postinst's `useradd` path runs too.
//! - The tarball unpacked into an empty directory and the binary started from there.
//! - The shared libraries the binary needs (`ldd`), against the list docs/deploy.md gives.

use crate::release::{Artifacts, PACKAGED};
use crate::{step, tools};
use anyhow::{Context, Result, bail, ensure};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The shared libraries the binary may need, as docs/deploy.md lists them ("What the machine needs").
const SHARED_LIBRARIES: &[&str] = &[
    "linux-vdso.so.1",
    "libgcc_s.so.1",
    "libm.so.6",
    "libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
];

/// The highest `systemd-analyze security` exposure accepted for the installed services
/// (0 is best, 10 worst; under 2 systemd calls "OK").
const MAX_EXPOSURE: f64 = 2.0;

/// The commands the test needs beyond what `dist` itself uses.
const COMMANDS: &[(&str, &str)] = &[
    ("dpkg", "dpkg"),
    ("dpkg-query", "dpkg"),
    ("systemd-analyze", "systemd"),
    ("setpriv", "util-linux"),
    ("ldd", "libc-bin"),
    ("tar", "tar"),
    ("strip", "binutils"),
];

/// Fails, saying what to install, unless the test can run here: as root (dpkg installs into
/// its root as root, and the server runs as the package's user) with the commands it needs.
pub fn check_prerequisites() -> Result<()> {
    if !tools::is_root() {
        bail!(
            "`cargo xtask dist` ends with the packaging test, which installs the .deb with \
             `dpkg --root` and starts the server as the package's user: run it as root \
             (a container or a build machine)"
        );
    }
    let missing: Vec<&str> = COMMANDS
        .iter()
        .filter(|(command, _)| !on_path(command))
        .map(|(_, package)| *package)
        .collect();
    if !missing.is_empty() {
        bail!(
            "the packaging test needs commands that are missing: apt-get install {}",
            missing.join(" ")
        );
    }
    Ok(())
}

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(command).is_file()))
}

pub fn test(root: &Path, artifacts: &Artifacts) -> Result<()> {
    let work = root.join("target/dist/test");
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    fs::create_dir_all(&work)?;
    // The rectify user (a system uid of the test root, unknown here) must reach the binary
    // and the files under `work`.
    for dir in work.ancestors().take_while(|dir| dir.starts_with(root)) {
        let mode = fs::metadata(dir)?.permissions().mode();
        ensure!(
            mode & 0o005 == 0o005,
            "{} is not readable by other users (mode {mode:o}), which the packaging test needs",
            dir.display()
        );
    }

    step("packaging test: the .deb in a clean root (dpkg --root, systemd-sysusers)");
    let with_sysusers = work.join("root");
    install_deb(&with_sysusers, &artifacts.deb, None)?;
    let ids = check_installed(&with_sysusers)?;
    check_units(&with_sysusers)?;
    check_config(&with_sysusers)?;
    serve_installed(&with_sysusers, ids, &work)?;
    backup_and_restore(&with_sysusers, ids)?;
    reinstall_keeps_conffile(&with_sysusers, &artifacts.deb, ids)?;
    purge_keeps_data(&with_sysusers)?;

    step("packaging test: the .deb in a root without systemd-sysusers (useradd)");
    let with_useradd = work.join("root-useradd");
    let path = path_without(&work.join("path-without-sysusers"), "systemd-sysusers")?;
    install_deb(&with_useradd, &artifacts.deb, Some(&path))?;
    check_installed(&with_useradd)?;

    step("packaging test: the tarball unpacked into an empty directory");
    serve_tarball(&artifacts.tarball, &artifacts.top, &work)?;

    step("packaging test: the shared libraries the binary needs (ldd)");
    shared_libraries(&artifacts.binary)?;
    println!("    the packaging test passed");
    Ok(())
}

/// A root with an empty dpkg database and only root in its user database, then the package
/// installed into it with the maintainer scripts run from here (`DPKG_ROOT` set).
fn install_deb(target: &Path, deb: &Path, path: Option<&Path>) -> Result<()> {
    for dir in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/log",
        "etc",
    ] {
        fs::create_dir_all(target.join(dir))?;
    }
    fs::write(target.join("var/lib/dpkg/status"), "")?;
    fs::write(target.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    fs::write(target.join("etc/group"), "root:x:0:\n")?;
    // Shadow files as on every Debian system: without them `useradd` writes the password
    // into /etc/passwd and /etc/group (`rectify:!:…`) instead of `x`.
    for (file, line) in [
        ("shadow", "root:*:20000:0:99999:7:::\n"),
        ("gshadow", "root:*::\n"),
    ] {
        fs::write(target.join("etc").join(file), line)?;
        fs::set_permissions(
            target.join("etc").join(file),
            fs::Permissions::from_mode(0o640),
        )?;
    }
    dpkg(target, path, &["--install".as_ref(), deb.as_os_str()])?;
    Ok(())
}

/// `dpkg --root TARGET --force-script-chrootless ARGS`, its output shown and returned.
fn dpkg(target: &Path, path: Option<&Path>, args: &[&std::ffi::OsStr]) -> Result<String> {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", target.display()))
        .arg(format!(
            "--log={}",
            target.join("var/log/dpkg.log").display()
        ))
        .arg("--force-script-chrootless")
        // The test root has no libc6 installed in its database; the host's stands in.
        .arg("--force-depends")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    let output = cmd.output().context("cannot run dpkg")?;
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for line in shown.lines() {
        println!("    | {line}");
    }
    if !output.status.success() {
        bail!("dpkg {args:?} into {} failed", target.display());
    }
    Ok(shown)
}

/// The rectify user's uid and gid in the test root.
#[derive(Clone, Copy)]
struct Ids {
    uid: u32,
    gid: u32,
}

/// The user, the files with their owners and modes, the conffile, the enabled units.
fn check_installed(target: &Path) -> Result<Ids> {
    let passwd = fs::read_to_string(target.join("etc/passwd"))?;
    let Some(user) = passwd.lines().find(|line| line.starts_with("rectify:")) else {
        bail!(
            "the postinst made no rectify user in {}/etc/passwd",
            target.display()
        );
    };
    let fields: Vec<&str> = user.split(':').collect();
    ensure!(fields.len() == 7, "a malformed passwd line: {user}");
    let (uid, gid): (u32, u32) = (fields[2].parse()?, fields[3].parse()?);
    ensure!(
        (1..1000).contains(&uid),
        "rectify is not a system user (uid {uid}): {user}"
    );
    ensure!(
        fields[5] == "/var/lib/rectify" && fields[6] == "/usr/sbin/nologin",
        "rectify's home or shell is wrong: {user}"
    );
    let group = fs::read_to_string(target.join("etc/group"))?;
    ensure!(
        group
            .lines()
            .any(|line| line.starts_with(&format!("rectify:x:{gid}:"))),
        "no rectify group with gid {gid} in {}/etc/group",
        target.display()
    );
    println!("    user rectify: uid {uid}, gid {gid}, home /var/lib/rectify, no login shell");

    let units = unit_dir(target)?;
    let expected: Vec<(String, u32, u32, u32)> = vec![
        ("usr/bin/rectify".into(), 0, 0, 0o755),
        ("etc/rectify/rectify.toml".into(), 0, gid, 0o640),
        ("var/lib/rectify".into(), uid, gid, 0o750),
        ("var/backups/rectify".into(), uid, gid, 0o750),
        ("usr/lib/rectify/rectify-backup".into(), 0, 0, 0o755),
        (format!("{units}/rectify.service"), 0, 0, 0o644),
        (format!("{units}/rectify-backup.service"), 0, 0, 0o644),
        (format!("{units}/rectify-backup-daily.timer"), 0, 0, 0o644),
        ("usr/share/doc/rectify/deploy.md".into(), 0, 0, 0o644),
        (
            "usr/share/doc/rectify/rectify.sample.toml".into(),
            0,
            0,
            0o644,
        ),
        (
            "usr/share/doc/rectify/THIRD-PARTY-LICENSES.txt".into(),
            0,
            0,
            0o644,
        ),
        ("usr/share/doc/rectify/copyright".into(), 0, 0, 0o644),
    ];
    for (path, owner, group, mode) in &expected {
        let meta = fs::symlink_metadata(target.join(path))
            .with_context(|| format!("/{path} is not installed"))?;
        let found = (meta.uid(), meta.gid(), meta.mode() & 0o7777);
        ensure!(
            found == (*owner, *group, *mode),
            "/{path} is {}:{} {:o}, not {owner}:{group} {mode:o}",
            found.0,
            found.1,
            found.2
        );
        println!("    /{path:<48} {owner}:{group} {mode:o}");
    }
    for link in [
        "etc/systemd/system/multi-user.target.wants/rectify.service",
        "etc/systemd/system/timers.target.wants/rectify-backup-daily.timer",
    ] {
        ensure!(
            fs::symlink_metadata(target.join(link)).is_ok_and(|meta| meta.is_symlink()),
            "/{link} is missing: the unit is not enabled"
        );
        println!("    enabled: /{link}");
    }

    let admindir = format!("--admindir={}", target.join("var/lib/dpkg").display());
    let query = command_output(Command::new("dpkg-query").arg(&admindir).args([
        "-W",
        "-f=${Status}|${Conffiles}",
        "rectify",
    ]))?;
    let (status, conffiles) = query.split_once('|').unwrap_or((&query, ""));
    ensure!(
        status == "install ok installed",
        "dpkg says rectify is '{status}', not installed"
    );
    ensure!(
        conffiles.contains("/etc/rectify/rectify.toml"),
        "/etc/rectify/rectify.toml is not a conffile (dpkg lists: {conffiles})"
    );
    println!("    dpkg: {status}; conffile /etc/rectify/rectify.toml");
    Ok(Ids { uid, gid })
}

/// Where the package put its systemd units, relative to the root.
fn unit_dir(target: &Path) -> Result<&'static str> {
    ["usr/lib/systemd/system", "lib/systemd/system"]
        .into_iter()
        .find(|dir| target.join(dir).join("rectify.service").is_file())
        .with_context(|| format!("no rectify.service installed in {}", target.display()))
}

/// `systemd-analyze verify` (no output at all: it exits 0 even on unknown keys, only saying
/// so) and `security` on the installed units.
fn check_units(target: &Path) -> Result<()> {
    // The root stands for a machine with systemd installed: systemd's own targets, which
    // the units name, come from this machine's systemd.
    let units = target.join(unit_dir(target)?);
    for entry in fs::read_dir("/usr/lib/systemd/system")? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".target") && !units.join(&name).exists() {
            fs::copy(entry.path(), units.join(&name))?;
        }
    }
    let root_arg = format!("--root={}", target.display());
    let verify = Command::new("systemd-analyze")
        .args(["verify", &root_arg, "--man=no"])
        .args([
            "rectify.service",
            "rectify-backup.service",
            "rectify-backup-daily.timer",
        ])
        .output()
        .context("cannot run systemd-analyze")?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    ensure!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify finds fault with the installed units:\n{said}"
    );
    println!(
        "    systemd-analyze verify: rectify.service, rectify-backup.service and rectify-backup-daily.timer are clean"
    );
    for unit in ["rectify.service", "rectify-backup.service"] {
        let out = command_output(Command::new("systemd-analyze").args([
            "security",
            "--offline=true",
            &root_arg,
            "--no-pager",
            unit,
        ]))?;
        let exposure = out
            .lines()
            .find_map(|line| {
                line.split_once(&format!("exposure level for {unit}: "))
                    .and_then(|(_, rest)| rest.split(' ').next()?.parse::<f64>().ok())
            })
            .with_context(|| format!("no exposure level in systemd-analyze security:\n{out}"))?;
        ensure!(
            exposure <= MAX_EXPOSURE,
            "{unit}'s exposure is {exposure} (at most {MAX_EXPOSURE}):\n{out}"
        );
        println!("    systemd-analyze security {unit}: exposure {exposure} (0 best, 10 worst)");
    }
    Ok(())
}

/// `rectify check-config` with the installed file says what the package meant.
fn check_config(target: &Path) -> Result<()> {
    let out = command_output(
        rectify_in(target, None)
            .arg("check-config")
            .arg("--config")
            .arg(target.join("etc/rectify/rectify.toml")),
    )?;
    for expected in [
        r#"data"#,
        r#""/var/lib/rectify""#,
        r#""127.0.0.1:8080""#,
        r#"trusted_proxy"#,
    ] {
        ensure!(
            out.contains(expected),
            "rectify check-config with the installed file does not show {expected}:\n{out}"
        );
    }
    ensure!(
        out.lines()
            .filter(|line| line.starts_with("data ") || line.starts_with("listen "))
            .all(|line| line.ends_with("# file")),
        "data and listen should come from the installed file:\n{out}"
    );
    println!("    rectify check-config: data and listen come from /etc/rectify/rectify.toml");
    Ok(())
}

/// The installed binary, run as the rectify user (setpriv) unless `ids` is `None`, with no
/// RECTIFY_* variables of this environment.
fn rectify_in(target: &Path, ids: Option<Ids>) -> Command {
    let binary = target.join("usr/bin").join(PACKAGED.bin);
    let mut cmd = match ids {
        Some(Ids { uid, gid }) => {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(binary);
            cmd
        }
        None => Command::new(binary),
    };
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RECTIFY_") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// The installed binary with the installed config, as the rectify user, answers /healthz;
/// an account made meanwhile is what the backup test restores.
fn serve_installed(target: &Path, ids: Ids, work: &Path) -> Result<()> {
    let data = target.join("var/lib/rectify");
    let port = free_port()?;
    let mut serve = rectify_in(target, Some(ids));
    serve
        .arg("serve")
        .arg("--config")
        .arg(target.join("etc/rectify/rectify.toml"))
        .arg("--data")
        .arg(&data)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"));
    let server = Server::start(serve, port, &work.join("serve-deb.log"))?;
    println!(
        "    the installed binary, as the rectify user, answers http://127.0.0.1:{port}/healthz"
    );
    add_account(target, ids, "before-backup")?;
    server.stop()?;
    let db = fs::metadata(data.join("rectify.db")).context("no database in /var/lib/rectify")?;
    ensure!(
        (db.uid(), db.gid()) == (ids.uid, ids.gid),
        "the database is not owned by rectify"
    );
    println!("    it stopped cleanly on SIGTERM; its database is owned by rectify");
    Ok(())
}

fn add_account(target: &Path, ids: Ids, username: &str) -> Result<()> {
    let mut add = rectify_in(target, Some(ids));
    add.env("RECTIFY_DATA", target.join("var/lib/rectify"))
        .args(["user", "add", username, "--role", "office"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = add.spawn().context("cannot run rectify user add")?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(b"a long test password\n")?;
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "rectify user add {username} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn accounts(target: &Path, ids: Ids) -> Result<String> {
    command_output(
        rectify_in(target, Some(ids))
            .env("RECTIFY_DATA", target.join("var/lib/rectify"))
            .args(["user", "list"]),
    )
}

/// The installed backup script, as the rectify user: three runs keeping 2 leave the newest
/// 2; a bad count removes nothing; `rectify restore` of the newest brings its accounts back.
fn backup_and_restore(target: &Path, ids: Ids) -> Result<()> {
    let backups = target.join("var/backups/rectify");
    let run_backup = |keep: &str| -> Result<Output> {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", ids.uid))
            .arg(format!("--regid={}", ids.gid))
            .arg("--clear-groups")
            .arg(target.join("usr/lib/rectify/rectify-backup"))
            .env("RECTIFY_BIN", target.join("usr/bin").join(PACKAGED.bin))
            .env("RECTIFY_CONFIG", target.join("etc/rectify/rectify.toml"))
            .env("RECTIFY_DATA", target.join("var/lib/rectify"))
            .env("RECTIFY_BACKUP_DIR", &backups)
            .env("RECTIFY_BACKUP_KEEP", keep)
            .stdin(Stdio::null());
        cmd.output().context("cannot run rectify-backup")
    };
    let copies = || -> Result<Vec<String>> {
        let mut names: Vec<String> = fs::read_dir(&backups)?
            .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_>>()?;
        names.sort();
        Ok(names)
    };
    let mut made = Vec::new();
    for run in 0..3 {
        if run > 0 {
            // The copies are named by the second.
            std::thread::sleep(Duration::from_millis(1100));
        }
        let output = run_backup("2")?;
        ensure!(
            output.status.success(),
            "rectify-backup failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let names = copies()?;
        made.push(names.last().cloned().unwrap_or_default());
    }
    let kept = copies()?;
    ensure!(
        kept == made[1..],
        "after three backups keeping 2, {} holds {kept:?}, not the newest two of {made:?}",
        backups.display()
    );
    println!("    rectify-backup, 3 runs keeping 2: {kept:?}");
    let refused = run_backup("0")?;
    ensure!(
        !refused.status.success() && copies()? == kept,
        "rectify-backup with RECTIFY_BACKUP_KEEP=0 should fail and remove nothing"
    );
    println!("    rectify-backup with RECTIFY_BACKUP_KEEP=0 is refused and removes nothing");

    add_account(target, ids, "after-backup")?;
    let newest = backups.join(kept.last().context("no backup")?);
    let restore = command_output(
        rectify_in(target, Some(ids))
            .env("RECTIFY_CONFIG", target.join("etc/rectify/rectify.toml"))
            .env("RECTIFY_DATA", target.join("var/lib/rectify"))
            .arg("restore")
            .arg(&newest),
    )?;
    let listed = accounts(target, ids)?;
    ensure!(
        listed.contains("before-backup") && !listed.contains("after-backup"),
        "after restoring {}, the accounts are not the backup's:\n{listed}\n{restore}",
        newest.display()
    );
    let aside = fs::read_dir(target.join("var/lib/rectify"))?
        .filter_map(|entry| entry.ok())
        .any(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("before-restore-")
        });
    ensure!(
        aside,
        "the restore did not keep the previous database aside"
    );
    println!(
        "    rectify restore of the newest copy: its accounts are back, the old database kept aside"
    );
    Ok(())
}

/// Installing the package again keeps an administrator's edit of the conffile, and its
/// owner and mode.
fn reinstall_keeps_conffile(target: &Path, deb: &Path, ids: Ids) -> Result<()> {
    let config = target.join("etc/rectify/rectify.toml");
    let edit = "\n# edited by the administrator\nmax_connections = 3000\n";
    let mut text = fs::read_to_string(&config)?;
    text.push_str(edit);
    fs::write(&config, &text)?;
    dpkg(target, None, &["--install".as_ref(), deb.as_os_str()])?;
    let after = fs::read_to_string(&config)?;
    ensure!(
        after.contains(edit),
        "reinstalling the package lost the edit of {}",
        config.display()
    );
    let meta = fs::metadata(&config)?;
    ensure!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777) == (0, ids.gid, 0o640),
        "after a reinstall the conffile is not root:rectify 0640"
    );
    println!("    a reinstall keeps the edited /etc/rectify/rectify.toml (root:rectify 0640)");
    Ok(())
}

/// Purging removes the package and its conffile, keeps the data, and says so.
fn purge_keeps_data(target: &Path) -> Result<()> {
    let said = dpkg(target, None, &["--purge".as_ref(), "rectify".as_ref()])?;
    ensure!(
        !target.join("usr/bin/rectify").exists()
            && !target.join("etc/rectify/rectify.toml").exists(),
        "the purge left the binary or the conffile"
    );
    ensure!(
        target.join("var/lib/rectify/rectify.db").is_file()
            && target.join("var/backups/rectify").is_dir(),
        "the purge deleted the data or the backups"
    );
    ensure!(
        said.contains("kept /var/lib/rectify"),
        "the purge does not say that it kept the data:\n{said}"
    );
    println!(
        "    a purge removes the package and its conffile, keeps /var/lib/rectify and the backups, and says so"
    );
    Ok(())
}

/// A directory of links to every command on the PATH except `left_out`, to use as PATH.
fn path_without(dir: &Path, left_out: &str) -> Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    for from in std::env::split_paths(&path) {
        let Ok(entries) = fs::read_dir(&from) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let link = dir.join(&name);
            if name != left_out && !link.exists() && entry.path().is_file() {
                std::os::unix::fs::symlink(entry.path(), link)?;
            }
        }
    }
    ensure!(
        !dir.join(left_out).exists(),
        "{left_out} is still on the PATH"
    );
    Ok(dir.to_owned())
}

/// The tarball's binary, started from the unpacked directory, answers /healthz.
fn serve_tarball(tarball: &Path, top: &str, work: &Path) -> Result<()> {
    let unpacked = work.join("tarball");
    fs::create_dir_all(&unpacked)?;
    command_output(
        Command::new("tar")
            .arg("--extract")
            .arg("--file")
            .arg(tarball)
            .arg("--directory")
            .arg(&unpacked),
    )?;
    let dir = unpacked.join(top);
    for (file, mode) in [
        ("rectify", 0o755),
        ("rectify-backup", 0o755),
        ("rectify.toml", 0o644),
        ("rectify.sample.toml", 0o644),
        ("systemd/rectify.service", 0o644),
        ("systemd/rectify-backup.service", 0o644),
        ("systemd/rectify-backup-daily.timer", 0o644),
        ("README.md", 0o644),
        ("deploy.md", 0o644),
        ("THIRD-PARTY-LICENSES.txt", 0o644),
    ] {
        let meta =
            fs::metadata(dir.join(file)).with_context(|| format!("the tarball has no {file}"))?;
        ensure!(
            meta.mode() & 0o7777 == mode,
            "{file} in the tarball has mode {:o}, not {mode:o}",
            meta.mode() & 0o7777
        );
    }
    let port = free_port()?;
    let mut serve = Command::new(dir.join(PACKAGED.bin));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RECTIFY_") {
            serve.env_remove(key);
        }
    }
    serve
        .current_dir(&dir)
        .args(["serve", "--config", "rectify.sample.toml", "--data", "data"])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null());
    let server = Server::start(serve, port, &work.join("serve-tarball.log"))?;
    println!(
        "    ./{top}/rectify serve, started in the unpacked directory, answers http://127.0.0.1:{port}/healthz"
    );
    server.stop()?;
    ensure!(
        dir.join("data/rectify.db").is_file(),
        "the tarball's server kept no database in ./data"
    );
    Ok(())
}

fn shared_libraries(binary: &Path) -> Result<()> {
    let out = command_output(Command::new("ldd").arg(binary))?;
    for line in out.lines() {
        println!("    {}", line.trim());
        let library = line.split_whitespace().next().unwrap_or_default();
        ensure!(
            SHARED_LIBRARIES.contains(&library),
            "the binary now needs {library}: say so in docs/deploy.md and add it to \
             SHARED_LIBRARIES in xtask/src/packaging.rs"
        );
    }
    Ok(())
}

/// A server process, its output in a log file.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts it and waits until `GET /healthz` answers `ok` (30 s at most).
    fn start(mut cmd: Command, port: u16, log: &Path) -> Result<Server> {
        let file = fs::File::create(log)?;
        cmd.stdout(file.try_clone()?).stderr(file);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        let mut server = Server {
            child,
            log: log.to_owned(),
        };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before answering /healthz:\n{}",
                    server.output()
                );
            }
            match healthz(port) {
                Ok(()) => return Ok(server),
                Err(err) if started.elapsed() > Duration::from_secs(30) => {
                    let _ = server.child.kill();
                    bail!(
                        "no answer from http://127.0.0.1:{port}/healthz in 30 s ({err:#}):\n{}",
                        server.output()
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then it must exit successfully within 15 s.
    fn stop(mut self) -> Result<()> {
        command_output(
            Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string()),
        )?;
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                ensure!(
                    status.success(),
                    "the server exited with {status} on SIGTERM:\n{}",
                    self.output()
                );
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(15) {
                let _ = self.child.kill();
                bail!(
                    "the server did not stop within 15 s of SIGTERM:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `GET /healthz` over plain HTTP/1.1: a 200 whose body is `ok`.
fn healthz(port: u16) -> Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    ensure!(
        response.starts_with("HTTP/1.1 200") && response.trim_end().ends_with("ok"),
        "/healthz answered: {response}"
    );
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs a command and returns its standard output; fails with its output when it fails.
fn command_output(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !output.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
