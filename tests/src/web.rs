//! The web app's entry point for tests: every service's REST API on one PostgreSQL database and one
//! isolation ([`ApiServices`]), behind the project's nginx configuration ([`Proxy`],
//! `infra/nginx/sightline.conf.in` rendered by `infra/nginx/render`), spoken to over HTTP as a
//! browser does: cookies, CSRF header, one origin ([`Browser`]).

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::stack::{
    self, HttpResponse, Isolation, ServiceProcess, TestDatabase, data_dir, eventually, http_exchange_with, repo_root,
};

/// The five services' APIs, started for one test, with the writer between the events topic and the
/// warehouse, so the whole pipeline runs; stopped when dropped. Ingest may read local files (the test
/// video, analysed once, gives counts a ground truth).
pub struct ApiServices {
    /// Port of ingest's API (streams).
    pub ingest: u16,
    /// Port of enrich's API (watchlists).
    pub enrich: u16,
    /// Port of the query API (events, stats, reports, search, accounts).
    pub query: u16,
    /// Port of the notifier's API (rules, alerts, live feed).
    pub notifier: u16,
    /// Port of the scheduler's API (schedules).
    pub scheduler: u16,
    processes: Vec<ServiceProcess>,
}

impl ApiServices {
    /// Starts every service's API on `db`, reading and writing `iso`'s topics and warehouse
    /// database, and waits until each answers.
    pub async fn start(iso: &Isolation, db: &TestDatabase) -> anyhow::Result<Self> {
        let models = std::env::var("SIGHTLINE_MODELS_DIR").context("SIGHTLINE_MODELS_DIR (run `make models`)")?;
        let clickhouse = stack::clickhouse(&iso.database);
        sightline_common::warehouse::migrate(&clickhouse).await?;
        // The topics between the services (the isolation made its events and dead-letter topics).
        let specs = ["detections", "alerts"].map(|what| sightline_common::kafka::TopicSpec {
            name: format!("{}.{what}", iso.topic),
            partitions: 1,
            replication: 1,
            retention_ms: -1,
        });
        sightline_common::kafka::ensure_topics(&stack::kafka(), &specs).await?;
        let kafka = stack::kafka().brokers;
        let log = |service: &str| format!("{}-{service}", iso.group);
        let [ingest, enrich, query, notifier, scheduler] = [(); 5].map(|_| stack::free_port());
        let (ingest, enrich, query, notifier, scheduler) = (ingest?, enrich?, query?, notifier?, scheduler?);
        let address = |port: u16| format!("127.0.0.1:{port}");
        let [endpoint, prefix] = stack::object_settings(&clickhouse.database);
        let warehouse = [
            ("CLICKHOUSE__URL", clickhouse.url.clone()),
            ("CLICKHOUSE__DATABASE", clickhouse.database.clone()),
            endpoint.clone(),
            prefix.clone(),
        ];
        let mut processes = vec![
            ServiceProcess::start(
                "sightline-ingest",
                "INGEST",
                "METRICS_ADDR",
                &[],
                &[
                    ("HTTP_ADDR", address(ingest)),
                    ("POSTGRES_URL", db.url.clone()),
                    ("KAFKA__BROKERS", kafka.clone()),
                    ("TOPIC", format!("{}.detections", iso.topic)),
                    ("MODELS_DIR", models.clone()),
                    // The test video is analysed as a file, once, so counts have a ground truth.
                    ("SOURCES__ALLOW_LOCAL_FILES", "true".to_owned()),
                    endpoint.clone(),
                    prefix.clone(),
                ],
                &log("ingest"),
            )?,
            ServiceProcess::start(
                "sightline-enrich",
                "ENRICH",
                "METRICS_ADDR",
                &[],
                &[
                    ("HTTP_ADDR", address(enrich)),
                    ("POSTGRES_URL", db.url.clone()),
                    ("KAFKA__BROKERS", kafka.clone()),
                    ("INPUT_TOPIC", format!("{}.detections", iso.topic)),
                    ("OUTPUT_TOPIC", iso.topic.clone()),
                    ("DLQ_TOPIC", iso.dlq_topic.clone()),
                    ("GROUP_ID", format!("{}-enrich", iso.group)),
                    ("MODELS_DIR", models.clone()),
                    endpoint,
                    prefix,
                ],
                &log("enrich"),
            )?,
        ];
        // The track keys that open the events' sealed fields are in the services' database.
        processes.push(ServiceProcess::writer(iso, &clickhouse, &[], &[("POSTGRES_URL", &db.url)])?);
        let mut query_settings =
            vec![("HTTP_ADDR", address(query)), ("POSTGRES_URL", db.url.clone()), ("MODELS_DIR", models.clone())];
        query_settings.extend(warehouse.iter().cloned());
        processes.push(ServiceProcess::start(
            "sightline-query",
            "QUERY",
            "METRICS_ADDR",
            &[],
            &query_settings,
            &log("query"),
        )?);
        let mut scheduler_settings = vec![("HTTP_ADDR", address(scheduler)), ("POSTGRES_URL", db.url.clone())];
        scheduler_settings.extend(warehouse.iter().cloned());
        scheduler_settings.extend(stack::smtp_sink()?);
        processes.push(ServiceProcess::start(
            "sightline-scheduler",
            "SCHEDULER",
            "METRICS_ADDR",
            &[],
            &scheduler_settings,
            &log("scheduler"),
        )?);
        let alerts_topic = format!("{}.alerts", iso.topic);
        let group = format!("{}-notifier", iso.group);
        processes.push(ServiceProcess::notifier(iso, &alerts_topic, &db.url, &group, notifier, &log("notifier"))?);
        let services = Self { ingest, enrich, query, notifier, scheduler, processes };
        for port in [ingest, enrich, query, notifier, scheduler] {
            wait_for_port(port).await?;
        }
        Ok(services)
    }

    /// Whether every service still runs.
    pub fn all_running(&mut self) -> bool {
        self.processes.iter_mut().all(ServiceProcess::is_running)
    }
}

/// Waits until something accepts connections on `port` (at most 60 s).
pub async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    eventually(Duration::from_secs(60), &format!("a server on port {port}"), || async move {
        Ok(std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ()))
    })
    .await
}

/// nginx with the project's configuration in front of `services`, serving `web_root`; stopped
/// (SIGQUIT, nginx's graceful stop, then SIGKILL) when dropped.
pub struct Proxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its run directory (rendered configuration, logs).
    pub run_dir: PathBuf,
    child: Child,
}

impl Proxy {
    /// Renders the configuration for `services` into `.data/run/proxy-<name>` and starts nginx.
    pub async fn start(name: &str, web_root: &Path, services: &ApiServices) -> anyhow::Result<Self> {
        let port = stack::free_port()?;
        let run_dir = data_dir().join(format!("run/proxy-{name}"));
        std::fs::create_dir_all(&run_dir)?;
        let upstream = |port: u16| format!("127.0.0.1:{port}");
        let rendered = Command::new(repo_root().join("infra/nginx/render"))
            .arg(&run_dir)
            .arg(web_root)
            .arg(upstream(port))
            .args(
                [services.ingest, services.enrich, services.query, services.notifier, services.scheduler].map(upstream),
            )
            .stderr(Stdio::inherit())
            .output()
            .context("running infra/nginx/render")?;
        anyhow::ensure!(rendered.status.success(), "infra/nginx/render failed");
        let config = run_dir.join("nginx.conf");
        std::fs::write(&config, rendered.stdout)?;
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&config)
            .arg("-p")
            .arg(&run_dir)
            .arg("-e")
            .arg(run_dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(run_dir.join("stderr.log"))?)
            .spawn()
            .context("starting nginx (infra/stack deps installs it)")?;
        let proxy = Self { port, run_dir, child };
        wait_for_port(port).await?;
        Ok(proxy)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-QUIT").arg(self.child.id().to_string()).status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser's side of the web app's origin: keeps the session cookie the server sets and sends
/// the CSRF token with every request that changes something, as the app does.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    /// The port of the origin (the proxy).
    pub port: u16,
    /// The session cookie's value, once logged in.
    pub cookie: Option<String>,
    /// The CSRF token the login answered.
    pub csrf_token: Option<String>,
}

impl Browser {
    /// A browser with no cookie yet.
    pub fn new(port: u16) -> Self {
        Self { port, ..Self::default() }
    }

    /// One request; a `Set-Cookie` for the session replaces (or, when emptied, removes) the cookie.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<HttpResponse> {
        let cookie = self.cookie.as_ref().map(|c| format!("{}={c}", sightline_common::accounts::SESSION_COOKIE));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(cookie) = &cookie {
            headers.push(("Cookie", cookie));
        }
        if let Some(csrf) = &self.csrf_token {
            headers.push(("X-CSRF-Token", csrf));
        }
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let response = http_exchange_with(self.port, method, path, &headers, "application/json", bytes.as_bytes())?;
        if let Some(set) = response.header("set-cookie") {
            let prefix = format!("{}=", sightline_common::accounts::SESSION_COOKIE);
            let value = set.strip_prefix(&prefix).and_then(|rest| rest.split(';').next()).unwrap_or("");
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        Ok(response)
    }

    /// Logs in: the answer; on success the cookie and CSRF token are kept.
    pub fn login(&mut self, username: &str, password: &str) -> anyhow::Result<HttpResponse> {
        let body = serde_json::json!({ "username": username, "password": password });
        let response = self.request("POST", "/api/v1/auth/login", Some(body))?;
        if response.status == 200 {
            let answer: serde_json::Value = serde_json::from_slice(&response.body)?;
            self.csrf_token = answer["csrf_token"].as_str().map(str::to_owned);
        }
        Ok(response)
    }
}

/// The body of `response` as JSON (an error naming the status and text when it is not).
pub fn json(response: &HttpResponse) -> anyhow::Result<serde_json::Value> {
    serde_json::from_slice(&response.body)
        .with_context(|| format!("{} {}", response.status, String::from_utf8_lossy(&response.body)))
}
