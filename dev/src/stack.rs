//! The local stack: broker, ClickHouse, ingest, consumers and optionally Prometheus.
//!
//! Tests start one per test on free ports, so several suites can share a machine; `make run`
//! starts one on the documented default ports. Everything is started by this code from what
//! `dev/local/install.sh` installed, and stopped when the [`Stack`] is dropped, services
//! first (so they flush), storage last.
//!
//! When `CLICKHOUSE_URL` is set, no local engine is started: the stack uses that server (with
//! LZ4 compression, as in production) and a database of its own.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::ports::{free_port, spawn_excluding_probes};
use crate::process::{copy_command, Supervised};

/// The largest body the local stack's ingest accepts: the local broker (Tansu 0.6) never
/// serves a record over 5 MiB of key and value (it stores it, and the partition's consumer
/// stops there for good), so a larger hook gets 413 here rather than stalling its partition.
/// A real Kafka takes ingest's default of 25 MiB.
pub const LOCAL_MAX_BODY_BYTES: usize = 5_000_000;

/// How long each component may take to become ready.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// What to start, and where.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The secret GitLab must send in `X-Gitlab-Token`.
    pub token: String,
    /// Listen addresses; port 0 picks a free port.
    pub ports: Ports,
    /// Where the broker, ClickHouse and Prometheus keep their data and every log file;
    /// `None` for a temporary directory removed with the stack.
    pub data_dir: Option<PathBuf>,
    /// Where the broker keeps its storage instead of `data_dir/broker`: the benchmark puts it
    /// on a memory-backed file system (see its module documentation).
    pub broker_dir: Option<PathBuf>,
    /// The ClickHouse database of Hookline's tables.
    pub clickhouse_database: String,
    /// Whether to start Prometheus, scraping both services.
    pub with_prometheus: bool,
    /// Extra command-line arguments for ingest, after the stack's own.
    pub ingest_args: Vec<String>,
    /// Extra environment variables for ingest (e.g. `HOOKLINE_SIGNING_SECRET`).
    pub ingest_env: Vec<(String, String)>,
    /// Extra command-line arguments for the consumers, after the stack's own.
    pub consumers_args: Vec<String>,
}

/// The ports of every listener; 0 means any free port.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ports {
    pub webhooks: u16,
    pub ingest_admin: u16,
    pub consumers_admin: u16,
    pub kafka: u16,
    pub clickhouse: u16,
    pub prometheus: u16,
}

impl StackOptions {
    /// Free ports, a temporary directory and a database of its own: what a test wants.
    pub fn for_test() -> Self {
        Self {
            token: "test-secret-token".to_owned(),
            ports: Ports::default(),
            data_dir: None,
            broker_dir: None,
            clickhouse_database: format!("hookline_test_{}_{}", std::process::id(), unique()),
            with_prometheus: false,
            ingest_args: Vec::new(),
            ingest_env: Vec::new(),
            consumers_args: Vec::new(),
        }
    }
}

/// A running stack. Dropping it stops every process it started.
pub struct Stack {
    /// Where to POST GitLab hooks.
    pub webhook_url: String,
    /// The address of ingest's webhook listener, for raw TCP clients.
    pub webhook_addr: SocketAddr,
    /// Base URL of ingest's admin listener (`/metrics`, `/healthz`, `/readyz`).
    pub ingest_admin_url: String,
    /// Base URL of the consumers' admin listener.
    pub consumers_admin_url: String,
    /// Kafka `bootstrap.servers`.
    pub kafka_brokers: String,
    /// ClickHouse HTTP endpoint and the database holding the tables.
    pub clickhouse_url: String,
    pub clickhouse_database: String,
    /// Whether the ClickHouse client must disable compression (the local engine front).
    pub clickhouse_uncompressed: bool,
    pub prometheus_url: Option<String>,
    pub token: String,
    pub data_dir: PathBuf,
    // Field order is drop order: services first so they flush, storage last.
    pub ingest: Supervised,
    pub consumers: Supervised,
    pub prometheus: Option<Supervised>,
    pub clickhouse: Option<Supervised>,
    pub broker: Supervised,
    /// How the broker and ingest were started, for [`Stack::restart_broker`] and
    /// [`Stack::restart_ingest`].
    broker_command: Command,
    ingest_command: Command,
    /// How the consumers were started, without `--admin-listen` and the extra arguments, for
    /// [`Stack::restart_consumers`] and [`Stack::start_consumers_replica`].
    consumers_command: Command,
    /// How the local ClickHouse engine was started, for [`Stack::start_clickhouse`].
    clickhouse_command: Option<Command>,
    _temp: Option<tempfile::TempDir>,
}

impl Stack {
    /// Starts every component and waits until each is ready.
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        let tools = Tools::locate()?;
        let (temp, data_dir) = match &options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                (None, dir.clone())
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("hookline-stack-")
                    .tempdir()?;
                let path = temp.path().to_owned();
                (Some(temp), path)
            }
        };
        let logs = data_dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        // A chosen port is checked so that a taken one is named clearly; a free port
        // was checked when it was drawn.
        let port = |wanted: u16, what: &str, setting: &str| -> anyhow::Result<u16> {
            if wanted == 0 {
                return free_port();
            }
            ensure_free(wanted, what, setting)?;
            Ok(wanted)
        };

        // Kafka: Tansu with sqlite storage, so data and offsets survive a kill -9.
        let kafka_port = port(options.ports.kafka, "Kafka broker", "HOOKLINE_KAFKA_PORT")?;
        let broker_dir = options
            .broker_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("broker"));
        std::fs::create_dir_all(&broker_dir)?;
        let kafka_url = format!("tcp://127.0.0.1:{kafka_port}");
        let mut command = Command::new(&tools.tansu);
        command
            .current_dir(&broker_dir)
            .args(["broker", "--listener-url", &kafka_url])
            .args(["--advertised-listener-url", &kafka_url])
            .args(["--storage-engine", "sqlite://tansu.db"]);
        let broker_command = copy_command(&command);
        let mut broker =
            Supervised::spawn("Kafka broker (Tansu)", command, &logs.join("broker.log"))?;
        wait_for_tcp(&mut broker, kafka_port).await?;
        tools.index_broker_storage(&broker_dir)?;
        let kafka_brokers = format!("127.0.0.1:{kafka_port}");

        // ClickHouse: an external server, or the local engine behind its HTTP front.
        let external = std::env::var("CLICKHOUSE_URL")
            .ok()
            .filter(|u| !u.is_empty());
        let (clickhouse, clickhouse_url) = match external {
            Some(url) => (None, url),
            None => {
                let ch_port = port(
                    options.ports.clickhouse,
                    "ClickHouse",
                    "HOOKLINE_CLICKHOUSE_PORT",
                )?;
                let ch_dir = data_dir.join("clickhouse");
                std::fs::create_dir_all(&ch_dir)?;
                let mut command = Command::new(&tools.python);
                command
                    .arg(&tools.clickhouse_front)
                    .args(["--host", "127.0.0.1", "--port", &ch_port.to_string()])
                    .arg("--data-dir")
                    .arg(&ch_dir);
                let front_command = copy_command(&command);
                let mut front =
                    Supervised::spawn("ClickHouse engine", command, &logs.join("clickhouse.log"))?;
                let url = format!("http://127.0.0.1:{ch_port}");
                wait_for_http(&mut front, &format!("{url}/ping")).await?;
                (Some((front, front_command)), url)
            }
        };
        let clickhouse_uncompressed = clickhouse.is_some();
        let (clickhouse, clickhouse_command) = clickhouse.unzip();

        // Ingest.
        let webhooks = port(
            options.ports.webhooks,
            "ingest webhooks",
            "HOOKLINE_INGEST_LISTEN",
        )?;
        let ingest_admin = port(
            options.ports.ingest_admin,
            "ingest admin",
            "HOOKLINE_INGEST_ADMIN_LISTEN",
        )?;
        let mut command = Command::new(tools.binary("hookline-ingest"));
        command
            .env("HOOKLINE_GITLAB_TOKEN", &options.token)
            .args(["--listen", &format!("127.0.0.1:{webhooks}")])
            .args(["--admin-listen", &format!("127.0.0.1:{ingest_admin}")])
            .args(["--kafka-brokers", &kafka_brokers])
            .args(["--topic-partitions", "3"])
            .env("HOOKLINE_SPOOL_DIR", data_dir.join("ingest-spool"))
            // The local broker never serves a record over 5 MiB (see LOCAL_MAX_BODY_BYTES).
            .env("HOOKLINE_MAX_BODY_BYTES", LOCAL_MAX_BODY_BYTES.to_string())
            // Tansu holds every fetch this long, and from 250 ms reads the partitions twice.
            .env("HOOKLINE_DEDUP_FETCH_WAIT_MS", "240")
            .args(&options.ingest_args)
            .envs(options.ingest_env.iter().map(|(k, v)| (k, v)));
        let ingest_command = copy_command(&command);
        let mut ingest = Supervised::spawn("hookline-ingest", command, &logs.join("ingest.log"))?;
        let ingest_admin_url = format!("http://127.0.0.1:{ingest_admin}");
        wait_for_http(&mut ingest, &format!("{ingest_admin_url}/readyz")).await?;

        // Consumers.
        let consumers_admin = port(
            options.ports.consumers_admin,
            "consumers admin",
            "HOOKLINE_CONSUMERS_ADMIN_LISTEN",
        )?;
        let mut command = Command::new(tools.binary("hookline-consumers"));
        // The local broker hands a dead member's partitions to nobody once its session
        // expires (consumers/src/membership.rs): a short session and grace bring a replica
        // restarted at once back to work within seconds. Environment variables, so that a
        // test's flags take precedence.
        command
            // Tansu holds every fetch for its full wait, which adds to freshness.
            .env("HOOKLINE_KAFKA_FETCH_WAIT_MS", "100")
            .env("HOOKLINE_KAFKA_SESSION_TIMEOUT_MS", "10000")
            .env("HOOKLINE_KAFKA_UNASSIGNED_GRACE_MS", "15000")
            .arg("run")
            .args(["--kafka-brokers", &kafka_brokers])
            .args(["--topic-partitions", "3"])
            .args(["--clickhouse-url", &clickhouse_url])
            .args(["--clickhouse-database", &options.clickhouse_database])
            .args([
                "--clickhouse-compression",
                if clickhouse_uncompressed {
                    "none"
                } else {
                    "lz4"
                },
            ]);
        let consumers_command = copy_command(&command);
        command
            .args(["--admin-listen", &format!("127.0.0.1:{consumers_admin}")])
            .args(&options.consumers_args);
        let mut consumers =
            Supervised::spawn("hookline-consumers", command, &logs.join("consumers.log"))?;
        let consumers_admin_url = format!("http://127.0.0.1:{consumers_admin}");
        wait_for_http(&mut consumers, &format!("{consumers_admin_url}/readyz")).await?;

        // Prometheus, scraping both admin listeners.
        let (prometheus, prometheus_url) = if options.with_prometheus {
            let prom_port = port(
                options.ports.prometheus,
                "Prometheus",
                "HOOKLINE_PROMETHEUS_PORT",
            )?;
            let config = prometheus_config(&data_dir, prom_port, ingest_admin, consumers_admin)?;
            let mut command = Command::new("prometheus");
            command
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    data_dir.join("prometheus").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
            let mut prometheus =
                Supervised::spawn("Prometheus", command, &logs.join("prometheus.log"))?;
            let url = format!("http://127.0.0.1:{prom_port}");
            wait_for_http(&mut prometheus, &format!("{url}/-/ready")).await?;
            (Some(prometheus), Some(url))
        } else {
            (None, None)
        };

        Ok(Self {
            webhook_url: format!("http://127.0.0.1:{webhooks}/hooks"),
            webhook_addr: SocketAddr::from(([127, 0, 0, 1], webhooks)),
            ingest_admin_url,
            consumers_admin_url,
            kafka_brokers,
            clickhouse_url,
            clickhouse_database: options.clickhouse_database,
            clickhouse_uncompressed,
            prometheus_url,
            token: options.token,
            data_dir,
            ingest,
            consumers,
            prometheus,
            clickhouse,
            broker,
            broker_command,
            ingest_command,
            consumers_command,
            clickhouse_command,
            _temp: temp,
        })
    }

    /// A ClickHouse client for the stack's database.
    pub fn clickhouse_client(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(&self.clickhouse_url)
            .with_database(&self.clickhouse_database)
            .with_compression(if self.clickhouse_uncompressed {
                clickhouse::Compression::None
            } else {
                clickhouse::Compression::Lz4
            })
    }

    /// Fails with the output of any component that has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        self.broker.ensure_running()?;
        if let Some(clickhouse) = &mut self.clickhouse {
            clickhouse.ensure_running()?;
        }
        self.ingest.ensure_running()?;
        self.consumers.ensure_running()?;
        if let Some(prometheus) = &mut self.prometheus {
            prometheus.ensure_running()?;
        }
        Ok(())
    }

    /// The last lines of every component's log, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut parts = vec![&self.ingest, &self.consumers, &self.broker];
        parts.extend(self.clickhouse.as_ref());
        parts.extend(self.prometheus.as_ref());
        parts
            .iter()
            .map(|p| {
                format!(
                    "--- {} ({})\n{}",
                    p.name(),
                    p.log_path().display(),
                    p.log_tail(30)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Starts another ingest replica against the stack's broker, on free ports, with the
    /// stack's token and `args`, and waits until its `/readyz` answers 200. `name` tells its
    /// log file apart (`logs/ingest-{name}.log`).
    pub async fn start_ingest_replica(
        &self,
        name: &str,
        args: &[&str],
    ) -> anyhow::Result<IngestReplica> {
        let tools = Tools::locate()?;
        let (webhooks, admin) = (free_port()?, free_port()?);
        let mut command = Command::new(tools.binary("hookline-ingest"));
        command.env("HOOKLINE_GITLAB_TOKEN", &self.token);
        command.env("HOOKLINE_DEDUP_FETCH_WAIT_MS", "240").args([
            format!("--listen=127.0.0.1:{webhooks}"),
            format!("--admin-listen=127.0.0.1:{admin}"),
            format!("--kafka-brokers={}", self.kafka_brokers),
        ]);
        command.env(
            "HOOKLINE_SPOOL_DIR",
            self.data_dir.join(format!("ingest-{name}-spool")),
        );
        command.args(args);
        let log = self.data_dir.join(format!("logs/ingest-{name}.log"));
        let mut process = Supervised::spawn(&format!("hookline-ingest {name}"), command, &log)?;
        let admin_url = format!("http://127.0.0.1:{admin}");
        wait_for_http(&mut process, &format!("{admin_url}/readyz")).await?;
        Ok(IngestReplica {
            webhook_url: format!("http://127.0.0.1:{webhooks}/hooks"),
            admin_url,
            process,
        })
    }
}

impl Stack {
    /// Starts the broker again as it was first started (same port, same data, so what it
    /// had acknowledged is still there) after a test stopped or killed it, and waits until
    /// it accepts connections.
    pub async fn restart_broker(&mut self) -> anyhow::Result<()> {
        self.broker.stop();
        let log = self.broker.log_path().to_owned();
        let name = self.broker.name().to_owned();
        self.broker = Supervised::spawn(&name, copy_command(&self.broker_command), &log)?;
        let port = self
            .kafka_brokers
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .context("the broker address has no port")?;
        wait_for_tcp(&mut self.broker, port).await
    }

    /// Starts ingest again as it was first started (same ports, same spool directory) after
    /// a test stopped or killed it, and waits until its `/readyz` answers 200.
    pub async fn restart_ingest(&mut self) -> anyhow::Result<()> {
        self.ingest.stop();
        let log = self.ingest.log_path().to_owned();
        let name = self.ingest.name().to_owned();
        self.ingest = Supervised::spawn(&name, copy_command(&self.ingest_command), &log)?;
        let ready = format!("{}/readyz", self.ingest_admin_url);
        wait_for_http(&mut self.ingest, &ready).await
    }

    /// Whether the consumers' group (the default `hookline-consumers`) has committed every
    /// record of the hook topics (default prefix): then every batch they read is in
    /// ClickHouse, typed rows included (offsets are committed once the whole batch is written).
    pub fn consumers_caught_up(&self) -> anyhow::Result<bool> {
        let topics = hookline_schemas::record::Topics::new("gitlab.".to_owned());
        let family_topics: Vec<String> = hookline_schemas::event::Family::ALL
            .iter()
            .map(|family| topics.for_family(*family))
            .collect();
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.kafka_brokers)
            .set("group.id", "hookline-consumers")
            .set("enable.auto.commit", "false")
            .create()?;
        let timeout = Duration::from_secs(10);
        let metadata = consumer.fetch_metadata(None, timeout)?;
        let mut partitions = TopicPartitionList::new();
        let mut ends = Vec::new();
        let hook_topics = metadata
            .topics()
            .iter()
            .filter(|t| family_topics.iter().any(|name| name == t.name()));
        for topic in hook_topics {
            for partition in topic.partitions() {
                let (_, high) = consumer.fetch_watermarks(topic.name(), partition.id(), timeout)?;
                partitions.add_partition(topic.name(), partition.id());
                ends.push(((topic.name().to_owned(), partition.id()), high));
            }
        }
        let committed = consumer.committed_offsets(partitions, timeout)?;
        Ok(ends.iter().all(|((topic, partition), high)| {
            *high == 0
                || committed
                    .find_partition(topic, *partition)
                    .is_some_and(|p| p.offset() == Offset::Offset(*high))
        }))
    }

    /// A consumer in `group` (committing nothing) assigned every partition of `topic` from
    /// its beginning, to read back what was written.
    pub fn topic_reader(&self, topic: &str, group: &str) -> anyhow::Result<BaseConsumer> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.kafka_brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let mut partitions = TopicPartitionList::new();
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            partitions.add_partition_offset(topic, partition.id(), Offset::Beginning)?;
        }
        consumer.assign(&partitions)?;
        Ok(consumer)
    }
}

impl Stack {
    /// Starts the consumers again on the same admin port, with `args` in place of
    /// [`StackOptions::consumers_args`], after a test stopped or killed them (if they still
    /// run, they are stopped first), and waits until their `/readyz` answers 200.
    pub async fn restart_consumers(&mut self, args: &[&str]) -> anyhow::Result<()> {
        self.consumers.stop();
        let log = self.consumers.log_path().to_owned();
        let name = self.consumers.name().to_owned();
        let admin = self
            .consumers_admin_url
            .trim_start_matches("http://")
            .to_owned();
        let mut command = copy_command(&self.consumers_command);
        command.args(["--admin-listen", &admin]).args(args);
        self.consumers = Supervised::spawn(&name, command, &log)?;
        let ready = format!("{}/readyz", self.consumers_admin_url);
        wait_for_http(&mut self.consumers, &ready).await
    }

    /// `hookline-consumers {subcommand}` with the stack's settings (ClickHouse, Kafka, topics),
    /// for a one-off command such as `reproject`; the caller adds its arguments and runs it.
    pub fn consumers_subcommand(&self, subcommand: &str) -> Command {
        let mut command = Command::new(self.consumers_command.get_program());
        for (name, value) in self.consumers_command.get_envs() {
            if let Some(value) = value {
                command.env(name, value);
            }
        }
        command.args(self.consumers_command.get_args().map(|arg| {
            if arg == "run" {
                std::ffi::OsStr::new(subcommand)
            } else {
                arg
            }
        }));
        command
    }

    /// Starts another consumers replica in the stack's consumer group, with its admin
    /// listener on a free port and `args` after the stack's own, and waits until its
    /// `/readyz` answers 200. `name` tells its log file apart (`logs/consumers-{name}.log`).
    pub async fn start_consumers_replica(
        &self,
        name: &str,
        args: &[&str],
    ) -> anyhow::Result<ConsumersReplica> {
        let admin = free_port()?;
        let mut command = copy_command(&self.consumers_command);
        command
            .args(["--admin-listen", &format!("127.0.0.1:{admin}")])
            .args(args);
        let log = self.data_dir.join(format!("logs/consumers-{name}.log"));
        let mut process = Supervised::spawn(&format!("hookline-consumers {name}"), command, &log)?;
        let admin_url = format!("http://127.0.0.1:{admin}");
        wait_for_http(&mut process, &format!("{admin_url}/readyz")).await?;
        Ok(ConsumersReplica { admin_url, process })
    }

    /// Stops the local ClickHouse engine (SIGTERM), to test an outage. Fails when the stack
    /// uses an external server (`CLICKHOUSE_URL`).
    pub fn stop_clickhouse(&mut self) -> anyhow::Result<()> {
        self.clickhouse
            .as_mut()
            .context("the stack uses an external ClickHouse server (CLICKHOUSE_URL)")?
            .stop();
        Ok(())
    }

    /// Starts the local ClickHouse engine again as it was first started (same port, same
    /// data), and waits until it answers `/ping`.
    pub async fn start_clickhouse(&mut self) -> anyhow::Result<()> {
        let (Some(front), Some(command)) = (&mut self.clickhouse, &self.clickhouse_command) else {
            bail!("the stack uses an external ClickHouse server (CLICKHOUSE_URL)");
        };
        front.stop();
        let log = front.log_path().to_owned();
        let name = front.name().to_owned();
        *front = Supervised::spawn(&name, copy_command(command), &log)?;
        let ping = format!("{}/ping", self.clickhouse_url.trim_end_matches('/'));
        wait_for_http(front, &ping).await
    }
}

/// A consumers replica started by [`Stack::start_consumers_replica`]; dropping it stops it.
pub struct ConsumersReplica {
    /// Base URL of its admin listener (`/metrics`, `/healthz`, `/readyz`).
    pub admin_url: String,
    pub process: Supervised,
}

/// An ingest replica started by [`Stack::start_ingest_replica`]; dropping it stops it.
pub struct IngestReplica {
    /// Where to POST GitLab hooks.
    pub webhook_url: String,
    /// Base URL of its admin listener.
    pub admin_url: String,
    pub process: Supervised,
}

/// The external programs the stack runs, located once.
struct Tools {
    tansu: PathBuf,
    python: PathBuf,
    clickhouse_front: PathBuf,
    broker_storage: PathBuf,
    /// Where cargo put the Hookline binaries (the directory of this executable).
    bin_dir: PathBuf,
}

impl Tools {
    fn locate() -> anyhow::Result<Self> {
        let cache = std::env::var_os("HOOKLINE_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("hookline"))
            })
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/hookline")))
            .context("cannot find the install cache: set HOOKLINE_CACHE_DIR")?;
        let tansu =
            env_path("HOOKLINE_TANSU").unwrap_or_else(|| cache.join("tansu-0.6.0/bin/tansu"));
        let python = env_path("HOOKLINE_PYTHON").unwrap_or_else(|| cache.join("venv/bin/python"));
        for (path, what) in [
            (&tansu, "the Tansu broker"),
            (&python, "the chDB virtualenv"),
        ] {
            if !path.exists() {
                bail!(
                    "{what} is not installed at {}: run dev/local/install.sh (or `make install`)",
                    path.display()
                );
            }
        }
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let exe = std::env::current_exe()?;
        let mut bin_dir = exe
            .parent()
            .context("executable has no directory")?
            .to_owned();
        if bin_dir.ends_with("deps") {
            bin_dir.pop();
        }
        let tools = Self {
            tansu,
            python,
            clickhouse_front: repo.join("dev/local/clickhouse_http.py"),
            broker_storage: repo.join("dev/local/broker_storage.py"),
            bin_dir,
        };
        for name in ["hookline-ingest", "hookline-consumers"] {
            if !tools.binary(name).exists() {
                bail!(
                    "{} is not built: run `cargo build --bins` first",
                    tools.binary(name).display()
                );
            }
        }
        Ok(tools)
    }

    /// Adds the index the broker's sqlite storage lacks (`dev/local/broker_storage.py`
    /// says why); the broker must have created its tables.
    fn index_broker_storage(&self, broker_dir: &Path) -> anyhow::Result<()> {
        let script = &self.broker_storage;
        let mut command = Command::new(&self.python);
        command
            .arg(script)
            .arg(broker_dir.join("tansu.db"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let output = spawn_excluding_probes(|| command.spawn())
            .and_then(|child| child.wait_with_output())
            .with_context(|| format!("cannot run {}", script.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(())
    }

    fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Fails clearly when a chosen port is already taken, naming what holds it when `ss` can.
fn ensure_free(port: u16, what: &str, setting: &str) -> anyhow::Result<()> {
    TcpListener::bind(("127.0.0.1", port)).map(drop).with_context(|| {
        let holders = Command::new("ss")
            .args(["-Htanp", &format!("( sport = :{port} )")])
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default();
        format!(
            "port {port} for the {what} is taken: stop what uses it or set {setting} to another port{}",
            if holders.is_empty() { String::new() } else { format!("; its sockets:\n{holders}") }
        )
    })
}

/// Writes the Prometheus configuration for this stack: `deploy/prometheus/prometheus.yml`
/// with its scrape targets pointed at this stack's admin ports.
fn prometheus_config(
    data_dir: &Path,
    prometheus: u16,
    ingest_admin: u16,
    consumers_admin: u16,
) -> anyhow::Result<PathBuf> {
    let deploy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus");
    let template = std::fs::read_to_string(deploy.join("prometheus.yml"))
        .context("cannot read deploy/prometheus/prometheus.yml")?;
    let rules = deploy.join("rules").canonicalize()?;
    let config = template
        .replace("127.0.0.1:9090", &format!("127.0.0.1:{prometheus}"))
        .replace("127.0.0.1:9464", &format!("127.0.0.1:{ingest_admin}"))
        .replace("127.0.0.1:9465", &format!("127.0.0.1:{consumers_admin}"))
        .replace("rules/", &format!("{}/", rules.display()));
    let path = data_dir.join("prometheus.yml");
    std::fs::write(&path, config)?;
    Ok(path)
}

async fn wait_for_tcp(process: &mut Supervised, port: u16) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    poll_until(process, &format!("tcp://{addr}"), || async move {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    })
    .await
}

async fn wait_for_http(process: &mut Supervised, url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    poll_until(process, url, || {
        let request = client.get(url).send();
        async move { request.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await
}

/// Polls `ready` until it holds, failing early with the process's output if it exits.
async fn poll_until<F, Fut>(
    process: &mut Supervised,
    what: &str,
    mut ready: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        process.ensure_running()?;
        if ready().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not become ready at {what} within {START_DEADLINE:?}; its last output ({}):\n{}",
                process.name(),
                process.log_path().display(),
                process.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A number that differs between stacks started by one process.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A component of the stack, as a supervisor names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Broker,
    ClickHouse,
    Ingest,
    Consumers,
    Prometheus,
}

impl Stack {
    /// Freezes the local ClickHouse engine (SIGSTOP to its process group): it keeps its port
    /// and accepts connections but answers nothing, as a hung server does.
    pub fn pause_clickhouse(&self) -> anyhow::Result<()> {
        self.clickhouse
            .as_ref()
            .context("the stack uses an external ClickHouse server (CLICKHOUSE_URL)")?
            .signal(libc::SIGSTOP);
        Ok(())
    }

    /// Lets a frozen ClickHouse engine run again (SIGCONT to its process group).
    pub fn resume_clickhouse(&self) -> anyhow::Result<()> {
        self.clickhouse
            .as_ref()
            .context("the stack uses an external ClickHouse server (CLICKHOUSE_URL)")?
            .signal(libc::SIGCONT);
        Ok(())
    }

    /// Kills the local ClickHouse engine with SIGKILL, as a crash would.
    pub fn kill_clickhouse(&mut self) -> anyhow::Result<()> {
        self.clickhouse
            .as_mut()
            .context("the stack uses an external ClickHouse server (CLICKHOUSE_URL)")?
            .kill();
        Ok(())
    }

    /// The components that exited by themselves since they were last started, with their
    /// exit status (a component stopped or killed through its handle is not listed).
    pub fn exited_components(&mut self) -> Vec<(Component, std::process::ExitStatus)> {
        let mut exited = Vec::new();
        for component in [
            Component::Broker,
            Component::ClickHouse,
            Component::Ingest,
            Component::Consumers,
            Component::Prometheus,
        ] {
            if let Some(status) = self
                .component_mut(component)
                .and_then(Supervised::exit_status)
            {
                exited.push((component, status));
            }
        }
        exited
    }

    /// The process of `component`, when the stack runs one.
    pub fn component(&self, component: Component) -> Option<&Supervised> {
        match component {
            Component::Broker => Some(&self.broker),
            Component::ClickHouse => self.clickhouse.as_ref(),
            Component::Ingest => Some(&self.ingest),
            Component::Consumers => Some(&self.consumers),
            Component::Prometheus => self.prometheus.as_ref(),
        }
    }

    fn component_mut(&mut self, component: Component) -> Option<&mut Supervised> {
        match component {
            Component::Broker => Some(&mut self.broker),
            Component::ClickHouse => self.clickhouse.as_mut(),
            Component::Ingest => Some(&mut self.ingest),
            Component::Consumers => Some(&mut self.consumers),
            Component::Prometheus => self.prometheus.as_mut(),
        }
    }

    /// Starts `component` again exactly as it was last started (same command, ports, data
    /// and log) and waits until it is ready, as a supervisor does after it exited.
    pub async fn restart_component(&mut self, component: Component) -> anyhow::Result<()> {
        let ready = match component {
            Component::Broker => None,
            Component::ClickHouse => Some(format!(
                "{}/ping",
                self.clickhouse_url.trim_end_matches('/')
            )),
            Component::Ingest => Some(format!("{}/readyz", self.ingest_admin_url)),
            Component::Consumers => Some(format!("{}/readyz", self.consumers_admin_url)),
            Component::Prometheus => self
                .prometheus_url
                .as_ref()
                .map(|url| format!("{}/-/ready", url.trim_end_matches('/'))),
        };
        let broker_port: u16 = self
            .kafka_brokers
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .context("the broker address has no port")?;
        let process = self
            .component_mut(component)
            .with_context(|| format!("the stack runs no {component:?}"))?;
        process.respawn()?;
        match (component, ready) {
            (Component::Broker, _) => wait_for_tcp(process, broker_port).await,
            (_, Some(url)) => wait_for_http(process, &url).await,
            (_, None) => Ok(()),
        }
    }
}
