//! Photos that cost more to decode than they weigh, against the real query service with the face
//! models: a 16-bit RGBA PNG of 6300x6300 pixels weighs a few hundred KB and is within the pixel cap,
//! but decodes to 317 MB and 119 MB more as RGB. Four searches with it at once are refused from the
//! image's header (422, saying what to send instead) and leave the service's memory flat; a search
//! with a real photo still answers.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use sightline_common::auth::Role;
use sightline_testkit::stack::{self, Isolation, PeakMemory, ServiceProcess, TestDatabase, http_exchange, rss_mb};
use std::time::Duration;

const ANALYST: &str = "analyst-secret";

/// How much the query service's resident memory may grow while the four wide photos are refused:
/// their encoded bytes and the requests' buffers. Decoding one would take over 400 MB.
const GROWTH_LIMIT_MB: u64 = 64;

/// A 16-bit RGBA PNG of `side` x `side` black pixels, written row by row (through a file: the
/// stream writer owns what it writes to).
fn wide_png(side: u32) -> Vec<u8> {
    let path = stack::data_dir().join(format!("wide-{}-{side}.png", std::process::id()));
    let mut encoder = png::Encoder::new(std::fs::File::create(&path).unwrap(), side, side);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Sixteen);
    let mut writer = encoder.write_header().unwrap().into_stream_writer().unwrap();
    let row = vec![0u8; side as usize * 8];
    for _ in 0..side {
        std::io::Write::write_all(&mut writer, &row).unwrap();
    }
    writer.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_photos_are_refused_before_they_are_decoded() -> anyhow::Result<()> {
    let models = std::env::var("SIGHTLINE_MODELS_DIR")?;
    let iso = Isolation::new("photos", 1).await?;
    let db = TestDatabase::create("test_photos").await?;
    sightline_common::auth::register(&db.pool, "analyst", ANALYST, Role::Analyst).await?;
    let clickhouse = stack::clickhouse(&iso.database);
    sightline_common::warehouse::migrate(&clickhouse).await?;
    let port = stack::free_port()?;
    let mut settings = stack::api_settings(port, &db.url, &clickhouse);
    settings.extend([("MODELS_DIR", models.clone())]);
    let query = ServiceProcess::start("sightline-query", "QUERY", "METRICS_ADDR", &[], &settings, &iso.group)?;
    query.wait_ready(Duration::from_secs(60), "the query service to be ready").await?;
    let search = move |photo: Vec<u8>, kind: &'static str| {
        tokio::task::spawn_blocking(move || {
            http_exchange(port, "POST", "/v1/search/faces?from=0&to=3600000", Some(ANALYST), kind, &photo)
        })
    };
    // Warm up: one real search, so the models' memory is in the baseline.
    let obama = std::fs::read(std::path::Path::new(&models).join("images/obama.jpg"))?;
    assert_eq!(search(obama.clone(), "image/jpeg").await??.status, 200);

    let wide = wide_png(6300);
    println!("the wide PNG weighs {} KB", wide.len() / 1024);
    let before = rss_mb(query.pid());
    let watch = PeakMemory::watch(query.pid());
    let answers = futures::future::join_all((0..4).map(|_| search(wide.clone(), "image/png"))).await;
    let peak = watch.stop();
    println!("query service memory: {before} MiB before four wide photos, {peak} MiB at most while they were sent");
    for answer in answers {
        let answer = answer??;
        let body = String::from_utf8_lossy(&answer.body);
        assert_eq!(answer.status, 422, "{body}");
        assert!(body.contains("6300x6300") && body.contains("8-bit"), "{body}");
    }
    assert!(peak.saturating_sub(before) <= GROWTH_LIMIT_MB, "memory grew from {before} to {peak} MiB");
    assert_eq!(search(obama, "image/jpeg").await??.status, 200, "a real photo is still searched");
    drop(query);
    db.remove().await?;
    Ok(())
}
