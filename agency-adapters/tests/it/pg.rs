//! A throwaway PostgreSQL server for the tests: Debian's server binaries, `initdb` into a
//! temporary folder, started on a free loopback port, stopped (immediate) when dropped. When
//! the binaries are missing the test fails and says how to install them; it never skips.

use std::path::PathBuf;
use std::process::Command;

#[derive(Debug)]
pub struct Postgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    pub port: u16,
    /// Run the server binaries as the `postgres` user (they refuse to run as root).
    as_postgres: bool,
}

fn find_bin() -> PathBuf {
    if let Ok(d) = std::env::var("CUSTOS_PG_BIN") {
        return PathBuf::from(d);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|r| r.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (or CUSTOS_PG_BIN): \
             install Debian's `postgresql` package (scripts/install-deps.sh does)"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = find_bin();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let as_postgres = is_root();
        if as_postgres {
            let st = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(st.success(), "cannot give the temporary folder to the postgres user");
        }
        let pg = Postgres { _dir: dir, data, bin, port: free_port(), as_postgres };
        pg.run_bin(
            "initdb",
            &["-D", pg.data.to_str().unwrap(), "-U", "custos", "--auth=trust", "-E", "UTF8", "--no-locale", "-N"],
        );
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            pg.port,
            pg.data.display()
        );
        let log = pg.data.join("server.log");
        pg.run_bin(
            "pg_ctl",
            &["-D", pg.data.to_str().unwrap(), "-o", &opts, "-l", log.to_str().unwrap(), "-w", "start"],
        );
        pg
    }

    fn command(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run_bin(&self, name: &str, args: &[&str]) -> String {
        let o = self.command(name).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{name} {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn create_db(&self, name: &str) {
        self.run_bin("createdb", &["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "custos", name]);
    }

    pub fn url(&self, db: &str) -> String {
        format!("host=127.0.0.1 port={} user=custos dbname={db}", self.port)
    }

    /// Runs SQL with psql; returns its unaligned, tuples-only output.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let port = self.port.to_string();
        self.run_bin(
            "psql",
            &[
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "custos",
                "-d",
                db,
                "-c",
                sql,
            ],
        )
        .trim()
        .to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ =
            self.command("pg_ctl").args(["-D", self.data.to_str().unwrap_or(""), "-m", "immediate", "stop"]).output();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}
