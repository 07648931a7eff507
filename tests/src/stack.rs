//! The local stack as tests see it: endpoints from the environment (`infra/stack env`, with the same
//! defaults), per-test topics and databases so tests never share state, the service binaries as
//! real processes, and a private ClickHouse server that a test may stop and restart.

use anyhow::Context;
use sightline_common::kafka::{KafkaSettings, TopicSpec};
use sightline_common::objects::{ObjectStore, ObjectStoreSettings};
use sightline_common::warehouse::ClickHouseSettings;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The stack's data directory (`SIGHTLINE_DATA`, default `<repo>/.data`).
pub fn data_dir() -> PathBuf {
    std::env::var("SIGHTLINE_DATA").map(PathBuf::from).unwrap_or_else(|_| repo_root().join(".data"))
}

/// Kafka settings of the local stack.
pub fn kafka() -> KafkaSettings {
    KafkaSettings { brokers: env_or("SIGHTLINE_KAFKA_BROKERS", "127.0.0.1:9092"), ..Default::default() }
}

/// ClickHouse settings of the local stack, for `database`.
pub fn clickhouse(database: &str) -> ClickHouseSettings {
    ClickHouseSettings {
        url: env_or("SIGHTLINE_CLICKHOUSE_URL", "http://127.0.0.1:18123"),
        database: database.to_owned(),
        ..Default::default()
    }
}

/// The local stack's ClickHouse cluster (`SIGHTLINE_CLUSTER_NAME`, 2 shards x 2 replicas): settings
/// for `database` through server `server` (0-3; 0 and 1 are shard 1's replicas, 2 and 3 shard 2's).
pub fn cluster(database: &str, server: usize) -> ClickHouseSettings {
    ClickHouseSettings {
        url: cluster_urls().get(server).cloned().unwrap_or_default(),
        database: database.to_owned(),
        cluster: env_or("SIGHTLINE_CLUSTER_NAME", "sightline"),
        ..Default::default()
    }
}

/// The HTTP endpoints of the cluster's servers, in order.
pub fn cluster_urls() -> Vec<String> {
    let default = "http://127.0.0.1:18131,http://127.0.0.1:18132,http://127.0.0.1:18133,http://127.0.0.1:18134";
    env_or("SIGHTLINE_CLUSTER_URLS", default).split(',').map(str::to_owned).collect()
}

/// The local stack's object store (`SIGHTLINE_S3_ENDPOINT`), with keys under `<database>/`: each
/// test's objects are apart, as its warehouse database is.
pub fn objects(database: &str) -> ObjectStoreSettings {
    ObjectStoreSettings {
        endpoint: env_or("SIGHTLINE_S3_ENDPOINT", "http://127.0.0.1:3900"),
        prefix: format!("{database}/"),
        ..Default::default()
    }
}

/// [`objects`] as a store.
pub fn object_store(database: &str) -> anyhow::Result<ObjectStore> {
    Ok(ObjectStore::new(&objects(database), sightline_common::config::Deployment::Development)?)
}

/// The `OBJECTS__*` settings of a service that stores or reads images beside the warehouse
/// `database` ([`objects`]).
pub fn object_settings(database: &str) -> [(&'static str, String); 2] {
    let objects = objects(database);
    [("OBJECTS__ENDPOINT", objects.endpoint), ("OBJECTS__PREFIX", objects.prefix)]
}

/// PostgreSQL URL of the local stack.
pub fn postgres_url() -> String {
    env_or("SIGHTLINE_POSTGRES_URL", "postgres://sightline:sightline@localhost:5432/sightline")
}

/// A path to a workspace binary, built by `cargo build --bins` before the tests run.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe.parent().and_then(Path::parent).context("test binary has no target dir")?;
    let path = profile_dir.join(name);
    anyhow::ensure!(path.exists(), "{} not built; run `cargo build --bins` (make test does)", path.display());
    Ok(path)
}

/// Eight random hex digits, to keep one test's names apart from another's.
pub fn random_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// A free loopback TCP port, never one this process handed out before: a port is only taken when
/// the service it is for binds it, so two services started one after the other could otherwise be
/// handed the same port.
pub fn free_port() -> anyhow::Result<u16> {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut handed_out = HANDED_OUT.lock().map_err(|_| anyhow::anyhow!("port registry poisoned"))?;
        if handed_out.insert(port) {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port that was not handed out already")
}

/// A fresh, migrated PostgreSQL database of the local stack for one test, named
/// `{prefix}_<random tag>`; [`TestDatabase::remove`] drops it.
pub struct TestDatabase {
    /// Database name.
    pub name: String,
    /// Its connection URL.
    pub url: String,
    /// A pool on it.
    pub pool: sqlx::PgPool,
}

impl TestDatabase {
    /// Creates and migrates the database.
    pub async fn create(prefix: &str) -> anyhow::Result<Self> {
        use sqlx::{Connection, Executor};
        let admin_url = postgres_url();
        let name = format!("{prefix}_{}", random_tag());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await?;
        let (base, _) = admin_url.rsplit_once('/').with_context(|| format!("unexpected postgres url {admin_url}"))?;
        let url = format!("{base}/{name}");
        let pool = sightline_common::relational::migrate(&url).await?;
        Ok(Self { name, url, pool })
    }

    /// Closes the pool and drops the database (disconnecting whoever is still on it). An autovacuum
    /// worker on the new database cannot be terminated by a non-superuser (`DROP ... WITH (FORCE)`
    /// then fails); it finishes within moments, so the drop is tried again for a few seconds.
    pub async fn remove(self) -> anyhow::Result<()> {
        use sqlx::{Connection, Executor};
        self.pool.close().await;
        let mut admin = sqlx::PgConnection::connect(&postgres_url()).await?;
        let drop = format!("DROP DATABASE {} WITH (FORCE)", self.name);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match admin.execute(drop.as_str()).await {
                Ok(_) => return Ok(()),
                Err(error) if Instant::now() < deadline => {
                    tracing::debug!(%error, database = %self.name, "dropping the test database; trying again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// The value of header `name` of a message (a dead letter's `dlq.reason`, ...), empty when absent.
pub fn header(message: &impl rdkafka::Message, name: &str) -> String {
    use rdkafka::message::Headers;
    message
        .headers()
        .and_then(|headers| headers.iter().find(|h| h.key == name).and_then(|h| h.value))
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_default()
}

/// Names for one test's own topics, group and database.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// Events topic.
    pub topic: String,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Writer consumer group.
    pub group: String,
    /// ClickHouse database.
    pub database: String,
}

impl Isolation {
    /// Fresh names for the test `name`; creates the topics (`partitions` each).
    pub async fn new(name: &str, partitions: i32) -> anyhow::Result<Self> {
        let tag = random_tag();
        let isolation = Self {
            topic: format!("test.{name}.{tag}.events"),
            dlq_topic: format!("test.{name}.{tag}.dlq"),
            group: format!("test-{name}-{tag}"),
            database: format!("test_{name}_{tag}"),
        };
        let topics = [&isolation.topic, &isolation.dlq_topic].map(|t| TopicSpec {
            name: t.clone(),
            partitions,
            replication: 1,
            retention_ms: -1,
        });
        sightline_common::kafka::ensure_topics(&kafka(), &topics).await?;
        Ok(isolation)
    }
}

/// Sends SIGTERM to `child` and waits up to `timeout` for it to exit: its exit status, or `None` if it
/// is still running (the caller decides whether to kill it).
pub fn terminate(
    child: &mut std::process::Child,
    timeout: Duration,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The settings every service with an API, a PostgreSQL database and a warehouse takes: its API on
/// `port` (loopback), `postgres_url`, and `clickhouse`'s URL and database.
pub fn api_settings(port: u16, postgres_url: &str, clickhouse: &ClickHouseSettings) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        ("HTTP_ADDR", format!("127.0.0.1:{port}")),
        ("POSTGRES_URL", postgres_url.to_owned()),
        ("CLICKHOUSE__URL", clickhouse.url.clone()),
        ("CLICKHOUSE__DATABASE", clickhouse.database.clone()),
        ("CLICKHOUSE__CLUSTER", clickhouse.cluster.clone()),
    ];
    settings.extend(object_settings(&clickhouse.database));
    settings
}

/// The `SMTP__*` settings of a service that mails to the stack's SMTP sink (`SIGHTLINE_SMTP`): a
/// relay on loopback, so plain SMTP, as the shipped `notifier.toml` and `scheduler.toml` say.
pub fn smtp_sink() -> anyhow::Result<[(&'static str, String); 3]> {
    let sink = std::env::var("SIGHTLINE_SMTP").context("SIGHTLINE_SMTP (the stack's SMTP sink)")?;
    let (host, port) = sink.rsplit_once(':').with_context(|| format!("SIGHTLINE_SMTP {sink:?} is not host:port"))?;
    Ok([("SMTP__HOST", host.to_owned()), ("SMTP__PORT", port.to_owned()), ("SMTP__SECURITY", "plain".to_owned())])
}

/// A running service process, killed when dropped.
pub struct ServiceProcess {
    child: Child,
    /// Port of its operational HTTP endpoints.
    pub http_port: u16,
}

impl ServiceProcess {
    /// Starts `sightline-query` on the PostgreSQL database `postgres_url` (accounts, tokens) and
    /// `clickhouse`, and waits until it is ready; returns it and its API port.
    pub async fn query_api(
        postgres_url: &str,
        clickhouse: &ClickHouseSettings,
        log_name: &str,
    ) -> anyhow::Result<(Self, u16)> {
        let port = free_port()?;
        let settings = api_settings(port, postgres_url, clickhouse);
        let query = Self::start("sightline-query", "QUERY", "METRICS_ADDR", &[], &settings, log_name)?;
        query.wait_ready(Duration::from_secs(30), "the query service to be ready").await?;
        Ok((query, port))
    }

    /// Starts the writer for `isolation`, against `clickhouse`, with extra `SIGHTLINE_WRITER__*`
    /// settings (`("BATCH_MAX_EVENTS", "100")`, ...).
    pub fn writer(
        isolation: &Isolation,
        clickhouse: &ClickHouseSettings,
        args: &[&str],
        settings: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut all: Vec<(&str, String)> = vec![
            ("KAFKA__BROKERS", kafka().brokers),
            ("CLICKHOUSE__URL", clickhouse.url.clone()),
            ("CLICKHOUSE__DATABASE", clickhouse.database.clone()),
            ("CLICKHOUSE__CLUSTER", clickhouse.cluster.clone()),
            ("TOPIC", isolation.topic.clone()),
            ("DLQ_TOPIC", isolation.dlq_topic.clone()),
            ("GROUP_ID", isolation.group.clone()),
        ];
        all.extend(object_settings(&clickhouse.database));
        all.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
        Self::start("sightline-writer", "WRITER", "HTTP_ADDR", args, &all, &isolation.group)
    }

    /// Starts the notifier reading `isolation`'s events topic as `group`, producing to `alerts_topic`,
    /// on the PostgreSQL database `postgres_url`, its API on `api_port`, mailing through the stack's
    /// SMTP server. The operator allows webhooks to receivers on this machine (127.0.0.1).
    pub fn notifier(
        isolation: &Isolation,
        alerts_topic: &str,
        postgres_url: &str,
        group: &str,
        api_port: u16,
        log_name: &str,
    ) -> anyhow::Result<Self> {
        let mut settings = vec![
            ("KAFKA__BROKERS", kafka().brokers),
            ("INPUT_TOPIC", isolation.topic.clone()),
            ("ALERTS_TOPIC", alerts_topic.to_owned()),
            ("DLQ_TOPIC", isolation.dlq_topic.clone()),
            ("GROUP_ID", group.to_owned()),
            ("POSTGRES_URL", postgres_url.to_owned()),
            ("HTTP_ADDR", format!("127.0.0.1:{api_port}")),
            ("WEBHOOK__ALLOW_HOSTS", "[127.0.0.1]".to_owned()),
        ];
        // Its images under the same prefix as the writer's of `isolation`'s warehouse.
        settings.extend(object_settings(&isolation.database));
        settings.extend(smtp_sink()?);
        Self::start("sightline-notifier", "NOTIFIER", "METRICS_ADDR", &[], &settings, log_name)
    }

    /// Starts the workspace binary `name` with `SIGHTLINE_<prefix>__<key>` settings, its operational
    /// endpoints on a free port given as setting `http_setting`, logging to
    /// `.data/logs/test-services/<log_name>.log`.
    pub fn start(
        name: &str,
        prefix: &str,
        http_setting: &str,
        args: &[&str],
        settings: &[(&str, String)],
        log_name: &str,
    ) -> anyhow::Result<Self> {
        let http_port = free_port()?;
        let mut command = Command::new(binary(name)?);
        command
            .args(args)
            .env(format!("SIGHTLINE_{prefix}__{http_setting}"), format!("127.0.0.1:{http_port}"))
            .env("RUST_LOG", env_or("RUST_LOG", "info,rdkafka=warn"))
            .stdin(Stdio::null());
        for (key, value) in settings {
            command.env(format!("SIGHTLINE_{prefix}__{key}"), value);
        }
        // Each service logs to its own file, so test output stays readable.
        let logs = data_dir().join("logs/test-services");
        std::fs::create_dir_all(&logs)?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(logs.join(format!("{log_name}.log")))?;
        command.stdout(log.try_clone()?).stderr(log);
        let child = command.spawn().with_context(|| format!("starting {name}"))?;
        Ok(Self { child, http_port })
    }

    /// Kills it with SIGKILL (no chance to flush or commit).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a clean exit (at most `timeout`); returns whether it exited 0.
    pub fn terminate(mut self, timeout: Duration) -> bool {
        terminate(&mut self.child, timeout).is_ok_and(|status| status.is_some_and(|s| s.success()))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for its `/readyz` to answer 200; `what` names the wait in the error.
    pub async fn wait_ready(&self, timeout: Duration, what: &str) -> anyhow::Result<()> {
        eventually(timeout, what, || async {
            Ok(self.get("/readyz").ok().filter(|(status, _)| *status == 200).map(|_| ()))
        })
        .await
    }

    /// GETs `path` on its HTTP port: (status, body).
    pub fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http_get(self.http_port, path)
    }

    /// The value of a metric from `/metrics`: of one series when `name` gives its labels as
    /// exposed (`runs_total{kind="done"}`), else the sum over its labels.
    pub fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let (_, body) = self.get("/metrics")?;
        let series = |line: &str| match name.contains('{') {
            true => line.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ')),
            false => line.split(['{', ' ']).next() == Some(name),
        };
        Ok(body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| series(l))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of process `pid`, in MiB (0 when it cannot be read).
pub fn rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// The most resident memory a process had while it was watched: sampled every 20 ms on a thread of
/// its own from [`PeakMemory::watch`] until [`PeakMemory::stop`].
pub struct PeakMemory {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    watching: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<()>,
}

impl PeakMemory {
    /// Starts watching process `pid`.
    pub fn watch(pid: u32) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let peak = std::sync::Arc::new(AtomicU64::new(rss_mb(pid)));
        let watching = std::sync::Arc::new(AtomicBool::new(true));
        let (high, on) = (peak.clone(), watching.clone());
        let sampler = std::thread::spawn(move || {
            while on.load(Ordering::SeqCst) {
                high.fetch_max(rss_mb(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self { peak, watching, sampler }
    }

    /// Stops watching: the most resident memory seen, in MiB.
    pub fn stop(self) -> u64 {
        use std::sync::atomic::Ordering;
        self.watching.store(false, Ordering::SeqCst);
        let _ = self.sampler.join();
        self.peak.load(Ordering::SeqCst)
    }
}

/// A minimal HTTP/1.1 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    http_request(port, "GET", path, None, "", &[])
}

/// One HTTP/1.1 request on loopback with `Connection: close` and an optional bearer token:
/// (status, body).
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> anyhow::Result<(u16, String)> {
    let response = http_exchange(port, method, path, token, content_type, body)?;
    Ok((response.status, String::from_utf8_lossy(&response.body).into_owned()))
}

/// One JSON request with a bearer token: (status, body as JSON, or as a JSON string when it is not
/// JSON).
pub fn call(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let (status, text) = http_request(port, method, path, Some(token), "application/json", bytes.as_bytes())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))))
}

/// An HTTP response as [`http_exchange`] reads it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// The header block, as sent.
    pub headers: String,
    /// The body's bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// One HTTP/1.1 request on loopback with `Connection: close` and an optional bearer token, reading
/// the whole response (a body sent with a length, or streamed in chunks, which it joins).
pub fn http_exchange(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> anyhow::Result<HttpResponse> {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = authorization.iter().map(|value| ("Authorization", value.as_str())).collect();
    http_exchange_with(port, method, path, &headers, content_type, body)
}

/// [`http_exchange`] with any request headers (cookies, CSRF tokens) instead of a bearer token.
pub fn http_exchange_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &[u8],
) -> anyhow::Result<HttpResponse> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let kind = if content_type.is_empty() { String::new() } else { format!("Content-Type: {content_type}\r\n") };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}{kind}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").context("no end of HTTP headers")?;
    let headers = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = headers.split(' ').nth(1).and_then(|s| s.parse().ok()).context("no HTTP status")?;
    let mut response = HttpResponse { status, headers, body: response[split + 4..].to_vec() };
    if response.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        response.body = dechunk(&response.body)?;
    }
    Ok(response)
}

/// The body of a response sent with `Transfer-Encoding: chunked` (streamed downloads), without its
/// framing; an error if it ends before its last chunk.
fn dechunk(mut framed: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = framed.windows(2).position(|w| w == b"\r\n").context("a chunk without its size line")?;
        let size_text = String::from_utf8_lossy(&framed[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("chunk size {size_text:?}"))?;
        framed = &framed[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        anyhow::ensure!(framed.len() >= size + 2, "the body ended inside a chunk (a failed download)");
        body.extend_from_slice(&framed[..size]);
        framed = &framed[size + 2..];
    }
}

/// One HTTP/1.1 connection on loopback kept open across requests, as browsers and nginx's upstream
/// `keepalive` hold them: each [`HttpConnection::exchange`] reads its whole response (a body sent
/// with a length, or in chunks, which it joins) and leaves the connection ready for the next one.
pub struct HttpConnection {
    port: u16,
    open: Option<std::io::BufReader<std::net::TcpStream>>,
}

impl HttpConnection {
    /// A connection to `port`, opened on the first request.
    pub fn new(port: u16) -> Self {
        Self { port, open: None }
    }

    /// Sends one request with an optional bearer token and an empty body; its response. A kept
    /// connection the service closed while idle (no response begun) is opened again once; any other
    /// failure is the request's.
    pub fn exchange(&mut self, method: &str, path: &str, token: Option<&str>) -> anyhow::Result<HttpResponse> {
        let reused = self.open.is_some();
        match self.try_exchange(method, path, token)? {
            Some(response) => Ok(response),
            None if reused => {
                self.open = None;
                self.try_exchange(method, path, token)?.context("the service closed a new connection")
            }
            None => anyhow::bail!("the service closed a new connection"),
        }
    }

    /// The response, or `None` when the connection was closed before a response began.
    fn try_exchange(&mut self, method: &str, path: &str, token: Option<&str>) -> anyhow::Result<Option<HttpResponse>> {
        use std::io::{BufRead, Read, Write};
        let reader = match &mut self.open {
            Some(reader) => reader,
            None => {
                let stream = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
                stream.set_read_timeout(Some(Duration::from_secs(300)))?;
                stream.set_nodelay(true)?;
                self.open.insert(std::io::BufReader::with_capacity(1 << 16, stream))
            }
        };
        let authorization = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Content-Length: 0\r\n\r\n");
        let mut headers = String::new();
        let closed = |error: &std::io::Error| {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            matches!(error.kind(), BrokenPipe | ConnectionReset | ConnectionAborted)
        };
        match reader.get_mut().write_all(request.as_bytes()).and_then(|()| reader.read_line(&mut headers)) {
            Ok(0) => return Ok(None),
            Err(error) if closed(&error) => return Ok(None),
            Err(error) => return Err(error.into()),
            Ok(_) => {}
        }
        loop {
            let start = headers.len();
            reader.read_line(&mut headers)?;
            if headers[start..].trim().is_empty() {
                break;
            }
        }
        let status = headers.split(' ').nth(1).and_then(|s| s.parse().ok()).context("no HTTP status")?;
        let mut response = HttpResponse { status, headers, body: Vec::new() };
        let closes = response.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if let Some(length) = response.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            response.body.resize(length, 0);
            reader.read_exact(&mut response.body)?;
        } else if response.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            let mut line = String::new();
            loop {
                line.clear();
                reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                    .with_context(|| format!("chunk size {line:?}"))?;
                let start = response.body.len();
                response.body.resize(start + size, 0);
                reader.read_exact(&mut response.body[start..])?;
                line.clear();
                reader.read_line(&mut line)?; // the chunk's CRLF
                if size == 0 {
                    break;
                }
            }
        } else {
            reader.read_to_end(&mut response.body)?;
            self.open = None;
        }
        if closes {
            self.open = None;
        }
        Ok(Some(response))
    }
}

/// Polls `check` every 200 ms until it returns `Some`, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(error) => last_error = Some(error),
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what} (last error: {last_error:?})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Counts as analysts see them: (visible rows, distinct event ids) with FINAL.
pub async fn event_counts(settings: &ClickHouseSettings) -> anyhow::Result<(u64, u64)> {
    Ok(settings.read_client().query(sightline_schemas::queries::EVENT_COUNTS).fetch_one::<(u64, u64)>().await?)
}

/// All visible event ids, sorted.
pub async fn event_ids(settings: &ClickHouseSettings) -> anyhow::Result<Vec<String>> {
    let mut ids: Vec<String> =
        settings.read_client().query("SELECT toString(event_id) FROM events FINAL").fetch_all::<String>().await?;
    ids.sort();
    Ok(ids)
}

/// A ClickHouse server of the test's own, rendered from `infra/clickhouse/config.xml.in`, so a test
/// can stop and restart it without disturbing others. Stopped when dropped.
pub struct PrivateClickHouse {
    dir: PathBuf,
    http_port: u16,
    child: Option<Child>,
}

impl PrivateClickHouse {
    /// Renders the config into a fresh directory under the data dir and starts the server.
    pub async fn start() -> anyhow::Result<Self> {
        let root = repo_root();
        let data = data_dir();
        let tag = random_tag();
        let dir = data.join(format!("test-clickhouse-{tag}"));
        for sub in ["log", "data", "tmp", "user_files", "format_schemas"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let (http_port, tcp_port) = (free_port()?, free_port()?);
        let template = std::fs::read_to_string(root.join("infra/clickhouse/config.xml.in"))?;
        let config = template
            .replace("@DIR@", &dir.display().to_string())
            .replace("@HTTP_PORT@", &http_port.to_string())
            .replace("@TCP_PORT@", &tcp_port.to_string());
        std::fs::write(dir.join("config.xml"), config)?;
        std::fs::copy(root.join("infra/clickhouse/users.xml"), dir.join("users.xml"))?;
        let mut server = Self { dir, http_port, child: None };
        server.resume().await?;
        Ok(server)
    }

    /// Settings pointing at this server, for `database`.
    pub fn settings(&self, database: &str) -> ClickHouseSettings {
        ClickHouseSettings {
            url: format!("http://127.0.0.1:{}", self.http_port),
            database: database.to_owned(),
            ..Default::default()
        }
    }

    /// Stops the server (SIGTERM, then waits for the process to exit).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take()
            && terminate(&mut child, Duration::from_secs(30))?.is_none()
        {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts (or restarts) the server on the same data and waits until it answers.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.join("log/stdout.log"))?;
        let child = Command::new("clickhouse-server")
            .arg(format!("--config-file={}", self.dir.join("config.xml").display()))
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .context("starting clickhouse-server")?;
        self.child = Some(child);
        let port = self.http_port;
        eventually(Duration::from_secs(60), "private clickhouse to answer", || async move {
            Ok(http_get(port, "/ping").ok().filter(|(s, b)| *s == 200 && b.starts_with("Ok")).map(|_| ()))
        })
        .await
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Events `0..count` of `generator`, landed in ClickHouse through the real pipeline tail: produced to
/// a fresh topic of test `name`, consumed by a writer process, visible in the isolation's database.
/// Returns the isolation and the events as produced.
pub async fn landed_events(
    name: &str,
    generator: &crate::loadgen::EventGenerator,
    count: u64,
) -> anyhow::Result<(Isolation, Vec<sightline_schemas::v1::EnrichedEvent>)> {
    let isolation = Isolation::new(name, 2).await?;
    let clickhouse = clickhouse(&isolation.database);
    crate::loadgen::produce(&kafka(), &isolation.topic, generator, 0, count, None).await?;
    let writer = ServiceProcess::writer(&isolation, &clickhouse, &[], &[])?;
    eventually(Duration::from_secs(120), "the events to land", || async {
        Ok((event_counts(&clickhouse).await?.0 == count).then_some(()))
    })
    .await?;
    // The writer lands a batch's events before its tracks: the batch is whole once it counts them
    // as inserted, and only then may the writer stop.
    eventually(Duration::from_secs(60), "the writer to land every table of its batches", || async {
        Ok((writer.metric("sightline_writer_inserted_total").unwrap_or(0.0) >= count as f64).then_some(()))
    })
    .await?;
    Ok((isolation, (0..count).map(|i| generator.event(i)).collect()))
}

/// Opens sealed events as an authorised downstream consumer does (docs/privacy.md): the development
/// key-encryption key and the track keys in the services' database.
pub struct KeyReader {
    ring: sightline_common::keys::KeyRing,
}

impl KeyReader {
    /// A reader of the track keys in `pool`.
    pub fn new(pool: sqlx::PgPool) -> anyhow::Result<Self> {
        let privacy = sightline_common::privacy::PrivacySettings::default();
        let store = privacy.key_store(Default::default(), pool)?;
        Ok(Self { ring: privacy.key_ring(store) })
    }

    /// `event`'s sealed fields in clear (absent where their key is destroyed).
    pub async fn open_enriched(
        &self,
        event: &mut sightline_schemas::v1::EnrichedEvent,
    ) -> anyhow::Result<sightline_common::sealing::Opening> {
        self.ring.load(sightline_common::sealing::sealed_parts(event)).await?;
        Ok(sightline_common::sealing::open_enriched(event, &self.ring)?)
    }

    /// `event`'s match in clear (absent where its key is destroyed).
    pub async fn open_alert(
        &self,
        event: &mut sightline_schemas::v1::AlertEvent,
    ) -> anyhow::Result<sightline_common::sealing::Opening> {
        self.ring.load(event.sealed.iter()).await?;
        Ok(sightline_common::sealing::open_alert(event, &self.ring)?)
    }

    /// `event`'s best shot in clear (absent where its key is destroyed).
    pub async fn open_detection(
        &self,
        event: &mut sightline_schemas::v1::DetectionEvent,
    ) -> anyhow::Result<sightline_common::sealing::Opening> {
        self.ring.load(event.sealed.iter()).await?;
        Ok(sightline_common::sealing::open_detection(event, &self.ring)?)
    }
}

/// Two or more tansu brokers of the test's own over one SQLite store (the stack's build,
/// `SIGHTLINE_TANSU_BIN`): tansu's brokers keep no state of their own, so they serve one cluster
/// (`infra/tansu/README.md`, "Several brokers"). Killed when dropped.
pub struct PrivateBrokers {
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
}

impl PrivateBrokers {
    /// Starts `count` brokers over a fresh store under the data dir and waits until each answers.
    pub async fn start(count: usize) -> anyhow::Result<Self> {
        let binary =
            std::env::var("SIGHTLINE_TANSU_BIN").context("SIGHTLINE_TANSU_BIN (infra/stack env) names the broker")?;
        let dir = data_dir().join(format!("test-brokers-{}", random_tag()));
        std::fs::create_dir_all(&dir)?;
        let mut brokers = Self { ports: Vec::new(), children: Vec::new() };
        for _ in 0..count {
            let port = free_port()?;
            let url = format!("tcp://127.0.0.1:{port}");
            let log = std::fs::File::create(dir.join(format!("tansu-{port}.log")))?;
            // tansu resolves the store's path against its working directory.
            let child = Command::new(&binary)
                .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", "sqlite://tansu.db"])
                .current_dir(&dir)
                .stdout(log.try_clone()?)
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .context("starting a tansu broker")?;
            brokers.ports.push(port);
            brokers.children.push(Some(child));
            // One at a time: the first creates the store's tables, and a second starting meanwhile
            // finds the database locked and gives up.
            eventually(Duration::from_secs(30), "a private broker to listen", || async move {
                Ok(std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ()))
            })
            .await?;
        }
        Ok(brokers)
    }

    /// Kafka settings naming every broker (clients fail over between them).
    pub fn kafka(&self) -> KafkaSettings {
        let brokers = self.ports.iter().map(|port| format!("127.0.0.1:{port}")).collect::<Vec<_>>().join(",");
        KafkaSettings { brokers, ..Default::default() }
    }

    /// The address of broker `index` alone.
    pub fn address(&self, index: usize) -> String {
        self.ports.get(index).map(|port| format!("127.0.0.1:{port}")).unwrap_or_default()
    }

    /// Kills broker `index` with SIGKILL.
    pub fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        if let Some(mut child) = self.children.get_mut(index).and_then(Option::take) {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for PrivateBrokers {
    fn drop(&mut self) {
        for index in 0..self.children.len() {
            let _ = self.kill(index);
        }
    }
}
