//! `make bench-alert`: how long after a watchlisted face appears in a camera's picture the alert's
//! webhook is received, through the real services (release builds) on the local stack:
//! the test video live over RTSP → ingest → enrich → notifier → a webhook receiver, all three of the
//! video's people on a watchlist, a rule without cooldown.
//!
//! A face appears at the instant the RTSP server started playing the pass (`--log-plays`) plus the
//! person's `enter_ms` in the video's ground truth; the latency runs from there to the webhook's
//! receipt. Rounds alternate ingest with early reports (the shipped `live_reports = true`) and with
//! reports only at track end, each round `BENCH_PASSES` passes of the video (default 2, 3 people
//! each), `BENCH_ROUNDS` rounds per mode (default 4). It prints each round's median, the p50 and
//! p95 over all appearances, the median ratio of track-end to early rounds, and the median time
//! spent in each stage with early reports.

// A benchmark: a failed expectation ends it with a message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use sightline_schemas::v1::EnrichedEvent;
use sightline_testkit::alerts::Hook;
use sightline_testkit::pipeline::{HOOK, PipelineOptions, VideoPipeline};
use sightline_testkit::rounds::{env_number, median, quantile, summary};
use sightline_testkit::stack;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One alert of one appearance.
#[derive(Debug, Clone)]
struct Appearance {
    /// The face's first frame, ms since the epoch.
    appeared_ms: i64,
    /// The webhook.
    hook: Hook,
}

impl Appearance {
    fn latency_ms(&self) -> f64 {
        (self.hook.received_ms - self.appeared_ms) as f64
    }
}

/// Plays the video `passes` times to a camera on ingest with `live_reports`; the appearances whose
/// alerts arrived, and how many appearances there were.
async fn round(
    pipeline: &mut VideoPipeline,
    live_reports: bool,
    passes: usize,
) -> anyhow::Result<(Vec<Appearance>, usize)> {
    let hooks_before = pipeline.receiver.hooks(HOOK).len();
    let plays_before = pipeline.plays().len();
    pipeline.start_ingest(&[("LIVE_REPORTS", live_reports.to_string())]).await?;
    let camera = pipeline.add_camera(&format!("bench-{}", uuid::Uuid::new_v4().simple()))?;
    let duration = pipeline.truth.duration_ms;
    // Until `passes` passes have been played to their end and their last alerts have had time.
    let deadline = Instant::now() + Duration::from_secs(60 + 20 * passes as u64);
    loop {
        let plays = pipeline.plays();
        if plays.len() >= plays_before + passes {
            let last = plays[plays_before + passes - 1];
            if sightline_common::clock::now_ms() > last + duration + 4_000 {
                break;
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the video was not played {passes} times: {plays:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pipeline.remove_camera(&camera)?;
    pipeline.stop_ingest();
    let plays: Vec<i64> = pipeline.plays()[plays_before..plays_before + passes].to_vec();
    let mut first_alert: HashMap<(usize, String), Appearance> = HashMap::new();
    for hook in pipeline.receiver.hooks(HOOK).into_iter().skip(hooks_before) {
        let name = hook.body["person"]["display_name"].as_str().unwrap_or_default().to_owned();
        let first_seen = hook.body["first_seen_ms"].as_i64().unwrap_or_default();
        let Some(pass) = plays.iter().rposition(|&play| play <= first_seen) else { continue };
        let Some(person) = pipeline.truth.people.iter().find(|p| p.person == name) else { continue };
        let appearance = Appearance { appeared_ms: plays[pass] + person.enter_ms, hook };
        first_alert
            .entry((pass, name))
            .and_modify(|a| {
                if appearance.hook.received_ms < a.hook.received_ms {
                    *a = appearance.clone();
                }
            })
            .or_insert(appearance);
    }
    Ok((first_alert.into_values().collect(), passes * pipeline.truth.people.len()))
}

/// Median ms per stage over `appearances`, from the enriched events that raised them.
fn stages(appearances: &[Appearance], events: &HashMap<String, EnrichedEvent>) -> Vec<(&'static str, f64)> {
    let mut by_stage: Vec<(&'static str, Vec<f64>)> = [
        "detect (appearance to the first analysed frame with the face, at 5 analysed fps)",
        "confirm (first detection to the first report produced: frames to confirm the track, analysis)",
        "enrich (Kafka hop, describe, match)",
        "raise (Kafka hop, alert stored)",
        "deliver (stored to webhook received)",
    ]
    .into_iter()
    .map(|name| (name, Vec::new()))
    .collect();
    for appearance in appearances {
        let body = &appearance.hook.body;
        let Some(event) = body["event_id"].as_str().and_then(|id| events.get(id)) else { continue };
        let Some(detection) = &event.detection else { continue };
        let raised = body["raised_ms"].as_i64().unwrap_or_default();
        let marks = [
            appearance.appeared_ms,
            detection.first_seen_ms,
            detection.processing_time_ms,
            event.enriched_time_ms,
            raised,
            appearance.hook.received_ms,
        ];
        for (stage, pair) in by_stage.iter_mut().zip(marks.windows(2)) {
            stage.1.push((pair[1] - pair[0]) as f64);
        }
    }
    by_stage.into_iter().map(|(name, values)| (name, median(&values))).collect()
}

/// Every enriched event on the pipeline's events topic, by id.
async fn enriched_events(pipeline: &VideoPipeline) -> anyhow::Result<HashMap<String, EnrichedEvent>> {
    let mut config = stack::kafka().client_config();
    config.set("group.id", format!("{}-bench-reader", pipeline.iso.group)).set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[pipeline.iso.topic.as_str()])?;
    let mut events = HashMap::new();
    while let Ok(message) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await {
        let event = EnrichedEvent::decode(message?.payload().unwrap_or_default())?;
        events.insert(event.event_id.clone(), event);
    }
    Ok(events)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rounds = env_number("BENCH_ROUNDS", 4).max(1);
    let passes = env_number("BENCH_PASSES", 2).max(1);
    let mut pipeline = VideoPipeline::start(PipelineOptions {
        name: "bench_alert",
        listed: vec![("obama", "obama2.jpg"), ("biden", "biden.jpg"), ("astronaut", "astronaut.png")],
        cooldown_secs: 0,
        mail_to: None,
        warehouse: false,
    })
    .await?;
    let (mut early, mut at_end) = (Vec::new(), Vec::new());
    let (mut early_medians, mut end_medians, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut appearances_early, mut appearances_end) = (0, 0);
    for index in 0..rounds {
        let (found, shown) = round(&mut pipeline, true, passes).await?;
        let early_median = median(&found.iter().map(Appearance::latency_ms).collect::<Vec<_>>());
        appearances_early += shown;
        early.extend(found.iter().cloned());
        let (found_end, shown_end) = round(&mut pipeline, false, passes).await?;
        let end_median = median(&found_end.iter().map(Appearance::latency_ms).collect::<Vec<_>>());
        appearances_end += shown_end;
        at_end.extend(found_end.iter().cloned());
        println!(
            "round {}: early reports median {early_median:.0} ms ({} of {shown} appearances alerted), track end \
             median {end_median:.0} ms ({} of {shown_end})",
            index + 1,
            found.len(),
            found_end.len()
        );
        early_medians.push(early_median);
        end_medians.push(end_median);
        ratios.push(end_median / early_median);
    }
    let latencies: Vec<f64> = early.iter().map(Appearance::latency_ms).collect();
    let end_latencies: Vec<f64> = at_end.iter().map(Appearance::latency_ms).collect();
    let events = enriched_events(&pipeline).await?;
    println!(
        "appearances: {} alerted of {appearances_early} with early reports, {} of {appearances_end} at track end",
        early.len(),
        at_end.len()
    );
    println!("early reports, per-round medians: {}", summary(&early_medians));
    println!("track end, per-round medians: {}", summary(&end_medians));
    println!("median time per stage with early reports:");
    for (stage, ms) in stages(&early, &events) {
        println!("  {stage}: {ms:.0} ms");
    }
    println!("track_end_latency_p50_ms={:.0}", quantile(&end_latencies, 0.5));
    println!("alert_latency_p50_ms={:.0}", quantile(&latencies, 0.5));
    println!("alert_latency_p95_ms={:.0}", quantile(&latencies, 0.95));
    println!("alert_speedup_vs_track_end={:.2} ({})", median(&ratios), summary(&ratios));
    pipeline.remove().await
}
