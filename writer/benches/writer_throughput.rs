//! `make bench-writer`: the writer's sustained throughput against its ceiling and a Python peer, all in
//! one run on the same pre-loaded topic (a benchmark, not a test).
//!
//! 1. **writer**: `sightline_writer::run` in-process, fresh group and database;
//! 2. **ceiling**: the slower of (a) a bare consume of the topic (no decoding, no inserting) and (b) a raw
//!    RowBinary insert of the same rows (decoded beforehand, untimed) with the writer's batch size;
//! 3. **python**: `writer/bench/python_peer.py` (confluent-kafka + clickhouse-driver, and S3 PUTs of
//!    each best shot to the same Garage, 16 at a time, before the rows that name them, as the writer
//!    does), fresh group, database and key prefix; it prints its images stored per second.
//!
//! Every rate is events per second from the first message consumed to the last event landed, so group
//! joins and start-up are not counted. All three consumers use the writer's default
//! `fetch.wait.max.ms`, so the comparison is of the code, not of broker tuning. The three run in
//! `BENCH_ROUNDS` rounds (default 5), the order reversed every other round, each with fresh groups and
//! databases; every round prints its rates and ratios, and the summary prints the medians as
//! `writer_vs_ceiling=`, `writer_vs_python=` and `ceiling_vs_python=`, then their spread.
//!
//! On the embedded broker no consumer shows its speed (the bare consume is the ceiling), so the
//! rounds also measure what each costs: the CPU time per 100,000 events of the writer and of the
//! Python peer, each from its own process's accounting (`getrusage`: this process while the writer
//! runs in it, the peer's process once it ended), printed as `writer_cpu_vs_python=` (goal: at most
//! 0.33). That figure does not depend on the broker: it says how many machines a site needs. Both
//! include their start (joining the group, connecting); neither includes Garage's or ClickHouse's
//! own CPU.
//!
//! Environment: `BENCH_EVENTS` (default 6000), `BENCH_PARTITIONS` (default 12), `BENCH_ROUNDS`, the
//! stack's `SIGHTLINE_*` endpoints, `SIGHTLINE_VENV`.
//!
//! Why ~500 events per partition: tansu 0.6's fetch slows as a partition grows (measured with the same
//! client and settings: 11,200 events/s at 500 per partition, 3,400 at 3,333), so long partitions
//! measure the broker's SQLite rather than the writer. On Apache Kafka the partition length does not
//! matter; raise `BENCH_EVENTS` there.

use anyhow::Context;
use prometheus_client::registry::Registry;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use sightline_common::http::Readiness;
use sightline_common::kafka::TopicSpec;
use sightline_common::warehouse::ClickHouseSettings;
use sightline_testkit::loadgen::{EventGenerator, LoadProfile, produce};
use sightline_testkit::rounds::{CpuOf, cpu_time, median, rate_until, summary};
use sightline_testkit::stack;
use sightline_writer::metrics::WriterMetrics;
use sightline_writer::settings::WriterSettings;
use std::time::{Duration, Instant};

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let count: u64 = std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(6_000);
    let kafka = stack::kafka();
    let run = tag();
    let topic = format!("bench.writer.{run}.events");
    let partitions: i32 = std::env::var("BENCH_PARTITIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    sightline_common::kafka::ensure_topics(
        &kafka,
        &[
            TopicSpec { name: topic.clone(), partitions, replication: 1, retention_ms: -1 },
            TopicSpec { name: format!("{topic}.dlq"), partitions: 1, replication: 1, retention_ms: -1 },
        ],
    )
    .await?;
    let generator = EventGenerator::new(LoadProfile { seed: 7, ..Default::default() });
    let started = Instant::now();
    produce(&kafka, &topic, &generator, 0, count, None).await?;
    let payload_bytes: usize = (0..100).map(|i| prost::Message::encoded_len(&generator.event(i))).sum::<usize>() / 100;
    println!(
        "pre-loaded {count} events (~{payload_bytes} bytes each, {partitions} partitions) into {topic} in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // An untimed read first: whoever reads a freshly written topic first pays for the broker's cold
    // caches, and that should be none of the measured runs.
    bench_bare_consume(&topic, count, &format!("{run}-warmup")).await?;
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    let (mut vs_ceiling, mut vs_python, mut ceiling_vs_python) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_ratios, mut writer_cpus, mut python_cpus) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let round_run = format!("{run}r{round}");
        // The order is reversed every other round, so neither side always runs right after the other.
        let ((writer_rate, writer_cpu), (ceiling, consume_rate, insert_rate), (python_rate, python_cpu)) =
            if round % 2 == 1 {
                let writer = bench_writer(&topic, count, &round_run).await?;
                let ceiling = bench_ceiling(&topic, count, &round_run).await?;
                (writer, ceiling, bench_python(&topic, count, &round_run).await?)
            } else {
                let python = bench_python(&topic, count, &round_run).await?;
                let ceiling = bench_ceiling(&topic, count, &round_run).await?;
                (bench_writer(&topic, count, &round_run).await?, ceiling, python)
            };
        let per_100k = |cpu: Duration| cpu.as_secs_f64() * 100_000.0 / count as f64;
        let (writer_cpu, python_cpu) = (per_100k(writer_cpu), per_100k(python_cpu));
        println!(
            "round {round}: writer={writer_rate:.0} bare_consume={consume_rate:.0} raw_insert={insert_rate:.0} \
             python={python_rate:.0} events/s; writer_vs_ceiling={:.2} writer_vs_python={:.2}; cpu s per 100k events: \
             writer={writer_cpu:.1} python={python_cpu:.1}",
            writer_rate / ceiling,
            writer_rate / python_rate
        );
        cpu_ratios.push(writer_cpu / python_cpu);
        writer_cpus.push(writer_cpu);
        python_cpus.push(python_cpu);
        vs_ceiling.push(writer_rate / ceiling);
        vs_python.push(writer_rate / python_rate);
        ceiling_vs_python.push(ceiling / python_rate);
    }
    println!("writer_vs_ceiling={:.2}", median(&vs_ceiling));
    println!("writer_vs_python={:.2}", median(&vs_python));
    // The most any consumer could reach against the peer on this broker: context for the line above.
    println!("ceiling_vs_python={:.2}", median(&ceiling_vs_python));
    println!("spread: writer_vs_ceiling {}", summary(&vs_ceiling));
    println!("spread: writer_vs_python {}", summary(&vs_python));
    println!(
        "writer_cpu_vs_python={:.2} (cpu s per 100,000 events: writer {:.1}, python {:.1})",
        median(&cpu_ratios),
        median(&writer_cpus),
        median(&python_cpus)
    );
    println!("spread: writer_cpu_vs_python {}", summary(&cpu_ratios));
    Ok(())
}

/// The ceiling: the slower of a bare consume and a raw insert of the same rows; (ceiling, consume
/// rate, insert rate).
async fn bench_ceiling(topic: &str, count: u64, run: &str) -> anyhow::Result<(f64, f64, f64)> {
    let (consume_rate, payloads) = bench_bare_consume(topic, count, run).await?;
    let insert_rate = bench_raw_insert(&payloads, run).await?;
    Ok((consume_rate.min(insert_rate), consume_rate, insert_rate))
}

fn fresh_database(run: &str, what: &str) -> ClickHouseSettings {
    stack::clickhouse(&format!("bench_{what}_{run}"))
}

/// The writer in-process; rate from its first consumed message to its last landed event.
/// The writer in this process: its rate and the process's CPU time while it ran.
async fn bench_writer(topic: &str, count: u64, run: &str) -> anyhow::Result<(f64, Duration)> {
    let clickhouse = fresh_database(run, "writer");
    let settings = WriterSettings {
        kafka: stack::kafka(),
        objects: stack::objects(&clickhouse.database),
        clickhouse,
        topic: topic.to_owned(),
        dlq_topic: format!("{topic}.dlq"),
        group_id: format!("bench-writer-{run}"),
        http_addr: "127.0.0.1:0".into(),
        ..Default::default()
    };
    let mut registry = Registry::default();
    let metrics = WriterMetrics::register(&mut registry);
    let (trigger, shutdown) = sightline_common::shutdown::channel();
    let cpu_before = cpu_time(CpuOf::ThisProcess);
    // The load's events are in clear: the key ring is never asked (`make bench-privacy` measures it).
    let pool = sqlx::PgPool::connect_lazy(&stack::postgres_url())?;
    let keys = settings.privacy.key_ring(settings.privacy.key_store(settings.deployment, pool)?);
    let task = tokio::spawn(sightline_writer::run(settings, keys, shutdown, metrics.clone(), Readiness::new("bench")));
    let (consumed, landed) = (|| metrics.consumer.consumed.get(), || metrics.inserted.get());
    let rate = rate_until("the writer", count, Duration::from_secs(600), consumed, landed).await?;
    trigger.trigger();
    task.await??;
    Ok((rate, cpu_time(CpuOf::ThisProcess) - cpu_before))
}

/// A bare consume: every message read, nothing decoded; returns the rate and the payloads.
async fn bench_bare_consume(topic: &str, count: u64, run: &str) -> anyhow::Result<(f64, Vec<(i32, i64, Vec<u8>)>)> {
    let mut config = stack::kafka().client_config();
    config
        .set("group.id", format!("bench-consume-{run}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", WriterSettings::default().fetch_wait_max_ms.to_string())
        .set("queued.max.messages.kbytes", "32768");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[topic])?;
    let mut payloads = Vec::with_capacity(count as usize);
    let mut first = None;
    while (payloads.len() as u64) < count {
        let message =
            tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await.context("bare consume stalled")??;
        first.get_or_insert_with(Instant::now);
        payloads.push((message.partition(), message.offset(), message.payload().unwrap_or_default().to_vec()));
    }
    let elapsed = first.context("no message")?.elapsed().as_secs_f64();
    Ok((count as f64 / elapsed, payloads))
}

/// Raw RowBinary inserts of the same rows, decoded beforehand, in batches of the writer's size.
async fn bench_raw_insert(payloads: &[(i32, i64, Vec<u8>)], run: &str) -> anyhow::Result<f64> {
    let settings = fresh_database(run, "insert");
    sightline_common::warehouse::migrate(&settings).await?;
    let batch_size = WriterSettings::default().batch_max_events;
    let mut batches = Vec::new();
    for chunk in payloads.chunks(batch_size) {
        let mut batch = sightline_writer::batch::Batch::default();
        for (partition, offset, payload) in chunk {
            let rows = sightline_writer::rows::event_rows(Some(payload), *partition, *offset, &Default::default())
                .map_err(|r| anyhow::anyhow!("{}: {}", r.reason, r.detail))?;
            batch.push(rows, *partition, *offset, payload.len());
        }
        batches.push(batch);
    }
    let client = settings.read_client();
    let started = Instant::now();
    for batch in &batches {
        sightline_writer::sink::insert_batch(&client, batch).await?;
    }
    Ok(payloads.len() as f64 / started.elapsed().as_secs_f64())
}

/// The Python peer as a subprocess; it reports its own rate.
/// The Python peer as a child process: its rate and its own CPU time.
async fn bench_python(topic: &str, count: u64, run: &str) -> anyhow::Result<(f64, Duration)> {
    let settings = fresh_database(run, "python");
    sightline_common::warehouse::migrate(&settings).await?;
    let venv =
        std::env::var("SIGHTLINE_VENV").context("SIGHTLINE_VENV is not set (run through `make bench-writer`)")?;
    let script = stack::repo_root().join("writer/bench/python_peer.py");
    let objects = stack::objects(&settings.database);
    let cpu_before = cpu_time(CpuOf::WaitedChildren);
    let output = tokio::process::Command::new(format!("{venv}/bin/python"))
        .arg(script)
        .args(["--s3-endpoint", &objects.endpoint, "--s3-bucket", &objects.bucket, "--s3-region", &objects.region])
        .args(["--s3-prefix", &objects.prefix, "--s3-access-key", &objects.access_key_id])
        .env("SIGHTLINE_S3_SECRET_ACCESS_KEY", sightline_common::objects::DEVELOPMENT_SECRET)
        .args(["--brokers", &stack::kafka().brokers, "--topic", topic, "--group", &format!("bench-python-{run}")])
        .args(["--clickhouse-port", &std::env::var("SIGHTLINE_CLICKHOUSE_TCP_PORT").unwrap_or_else(|_| "19000".into())])
        .args(["--database", &settings.database, "--count", &count.to_string()])
        .args(["--fetch-wait-max-ms", &WriterSettings::default().fetch_wait_max_ms.to_string()])
        .output()
        .await?;
    // The peer ended and was waited for: its CPU time is in this process's children's.
    let cpu = cpu_time(CpuOf::WaitedChildren) - cpu_before;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "python peer failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let rate = stdout
        .lines()
        .find_map(|l| l.strip_prefix("events_per_s="))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .context("python peer printed no rate")?;
    if let Some(puts) = stdout.lines().find_map(|l| l.strip_prefix("puts_per_s=")) {
        println!("  python peer: {} images stored per second", puts.trim());
    }
    let landed = stack::event_counts(&settings).await?.0;
    anyhow::ensure!(landed == count, "python peer landed {landed} of {count} events");
    Ok((rate, cpu))
}
