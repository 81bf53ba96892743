//! The PostgreSQL server the tests make their databases on (`RECTIFY_TEST_DATABASE_URL`).
//!
//! In order: the variable when it is set; else the local server at 127.0.0.1:5432 when one
//! answers (machines of this kind run one, and so does CI: trust auth, user `postgres`);
//! else a private, throwaway cluster under `target/pg`, made with `initdb` and started with
//! `pg_ctl` on a free loopback port (Debian's `postgresql` is installed first when it is
//! missing and we are root), stopped again after the tests. Each step says what it did.
//! The tests themselves only read the variable (`rectify_server::storage::scratch`).

use crate::tools::{apt_install, is_root};
use crate::{run_cmd, step};
use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The variable the tests read (`rectify_server::storage::scratch::TEST_DATABASE_ENV`).
pub const TEST_DATABASE_ENV: &str = "RECTIFY_TEST_DATABASE_URL";

/// The local server of this kind of machine (`storage::scratch::LOCAL_TEST_SERVER`).
const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server the tests use, and the private cluster to stop afterwards, if one was started.
pub struct TestDatabase {
    pub url: String,
    private: Option<PrivateCluster>,
}

impl TestDatabase {
    /// Stops the private cluster, if this started one.
    pub fn stop(self) {
        if let Some(cluster) = self.private {
            cluster.stop();
        }
    }
}

fn answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

/// Finds (or starts) the server for the tests; `private` skips the first two choices.
pub fn ensure(root: &Path, private: bool) -> Result<TestDatabase> {
    if !private {
        if let Ok(url) = std::env::var(TEST_DATABASE_ENV)
            && !url.is_empty()
        {
            println!("    PostgreSQL for the tests: {TEST_DATABASE_ENV} as set");
            return Ok(TestDatabase { url, private: None });
        }
        if answers(5432) {
            println!("    PostgreSQL for the tests: the local server, {LOCAL}");
            return Ok(TestDatabase {
                url: LOCAL.to_owned(),
                private: None,
            });
        }
    }
    let cluster = PrivateCluster::start(root)?;
    Ok(TestDatabase {
        url: cluster.url(),
        private: Some(cluster),
    })
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and `pg_ctl`.
fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// A cluster of our own in `target/pg`: data in `data/`, its log in `log`, its port in `port`.
struct PrivateCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// As root the server runs as the `postgres` user (it refuses to run as root).
    as_postgres: bool,
}

impl PrivateCluster {
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `bin/<tool>`, run as the `postgres` user when we are root.
    fn tool(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    fn start(root: &Path) -> Result<PrivateCluster> {
        let bin = match server_binaries() {
            Some(bin) => bin,
            None if is_root() && Command::new("apt-get").arg("--version").output().is_ok() => {
                step("installing PostgreSQL for the tests: apt-get install postgresql");
                apt_install(&["postgresql"])?;
                server_binaries().context(
                    "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb is there",
                )?
            }
            None => bail!(
                "the tests need PostgreSQL: nothing answers at 127.0.0.1:5432, \
                 {TEST_DATABASE_ENV} is not set, and no initdb was found under \
                 /usr/lib/postgresql/*/bin to start a private server. Install PostgreSQL \
                 (Debian: `sudo apt-get install postgresql`) or set \
                 {TEST_DATABASE_ENV}=postgres://USER@HOST:PORT/DATABASE"
            ),
        };
        let dir = root.join("target/pg");
        let data = dir.join("data");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let as_postgres = is_root();
        if as_postgres {
            // The server may not run as root: the cluster belongs to `postgres`.
            run_cmd(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir),
            )
            .context("the private PostgreSQL cluster runs as the user postgres")?;
        }
        let port = free_port()?;
        let cluster = PrivateCluster {
            bin,
            dir,
            port,
            as_postgres,
        };
        // A cluster left running by an interrupted run goes first.
        if data.join("postmaster.pid").exists() {
            let _ = cluster
                .tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "stop"])
                .output();
        }
        if !data.join("PG_VERSION").exists() {
            step(&format!(
                "making a private PostgreSQL cluster for the tests in {} (initdb)",
                data.display()
            ));
            run_cmd(cluster.tool("initdb").arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]))?;
        }
        step(&format!(
            "starting the private PostgreSQL cluster on 127.0.0.1:{port} (pg_ctl; log in {})",
            cluster.dir.join("log").display()
        ));
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k '{}' -c fsync=off",
            cluster.dir.display()
        );
        run_cmd(
            cluster
                .tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(cluster.dir.join("log"))
                .args(["-o", &options, "-w", "start"]),
        )?;
        std::fs::write(cluster.dir.join("port"), port.to_string())?;
        println!("    PostgreSQL for the tests: {}", cluster.url());
        Ok(cluster)
    }

    fn stop(self) {
        step("stopping the private PostgreSQL cluster (pg_ctl stop)");
        let stopped = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .status();
        if !stopped.is_ok_and(|status| status.success()) {
            eprintln!(
                "    warning: the private PostgreSQL cluster in {} did not stop; stop it with pg_ctl",
                self.dir.display()
            );
        }
    }
}

/// Stops the private cluster in `target/pg` if one runs (`cargo xtask postgres --stop`).
pub fn stop_private(root: &Path) -> Result<()> {
    let dir = root.join("target/pg");
    if !dir.join("data/postmaster.pid").exists() {
        println!(
            "    no private PostgreSQL cluster runs in {}",
            dir.display()
        );
        return Ok(());
    }
    let bin = server_binaries().context("no /usr/lib/postgresql/*/bin/pg_ctl to stop it with")?;
    PrivateCluster {
        bin,
        dir,
        port: 0,
        as_postgres: is_root(),
    }
    .stop();
    Ok(())
}

/// A loopback port nothing listens on now.
fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}
