//! The whole pipeline on the test video, every service a process on the real stack
//! ([`sightline_testkit::pipeline`]): two of the video's three people are on a watchlist, a rule
//! alerts on it by webhook, mail and live feed. Everything runs with the shipped settings (early and
//! improved track reports on).
//!
//! Each listed person raises exactly one webhook, one mail and one live-feed message, received
//! while they are still in view (before the last frame their track was seen in); the stranger raises
//! none; and the dashboard's counts, the CSV and the PDF count exactly the people of the video's
//! ground truth, however many reports their tracks sent.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use sightline_schemas::v1::{DetectionEvent, ObjectKind};
use sightline_testkit::alerts::subscribe_live;
use sightline_testkit::mail::mails_to;
use sightline_testkit::pipeline::{ANALYST, HOOK, PipelineOptions, VideoPipeline, call};
use sightline_testkit::stack::{self, eventually, http_exchange, http_exchange_with};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Listed people and their enrolment photos; the video's third person, `astronaut`, is a stranger.
const LISTED: [(&str, &str); 2] = [("obama", "obama2.jpg"), ("biden", "biden.jpg")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_people_in_the_video_are_alerted_while_in_view_and_counted_once() -> anyhow::Result<()> {
    let models = sightline_vision::detect::ModelFiles { dir: std::env::var("SIGHTLINE_MODELS_DIR")?.into() };
    let mail_to = format!("door-{}@example.com", uuid::Uuid::new_v4().simple());
    let mut pipeline = VideoPipeline::start(PipelineOptions {
        name: "pipeline",
        listed: LISTED.to_vec(),
        cooldown_secs: 300,
        mail_to: Some(mail_to.clone()),
        warehouse: true,
    })
    .await?;
    let live = subscribe_live(pipeline.notifier_port, ANALYST).await?;
    pipeline.start_ingest(&[]).await?;
    let camera = pipeline.add_camera("Door")?;

    // Follow the track reports until the video's first pass ended, then retire the camera (the
    // server would play the video again to the reconnecting stream).
    let mut config = stack::kafka().client_config();
    config.set("group.id", format!("{}-reports", pipeline.iso.group)).set("auto.offset.reset", "earliest");
    let reports: StreamConsumer = config.create()?;
    reports.subscribe(&[pipeline.detections.as_str()])?;
    let mut tracks: BTreeMap<String, Vec<DetectionEvent>> = BTreeMap::new();
    let ended_faces = |tracks: &BTreeMap<String, Vec<DetectionEvent>>| {
        tracks.values().filter(|r| r[0].kind == ObjectKind::Face as i32 && r.iter().any(|e| e.track_ended)).count()
    };
    let people = pipeline.truth.people.len();
    while ended_faces(&tracks) < people {
        let message = tokio::time::timeout(Duration::from_secs(90), reports.recv())
            .await
            .map_err(|_| anyhow::anyhow!("the video's faces did not all end: {tracks:?}"))??;
        let report = DetectionEvent::decode(message.payload().unwrap_or_default())?;
        tracks.entry(report.track_id.clone()).or_default().push(report);
    }
    pipeline.remove_camera(&camera)?;
    let pass_start = tracks.values().map(|r| r[0].first_seen_ms).min().unwrap_or_default();
    let pass_end = tracks.values().flat_map(|r| r.iter().map(|e| e.last_seen_ms)).max().unwrap_or_default();
    let face_reports: usize = tracks.values().filter(|r| r[0].kind == ObjectKind::Face as i32).map(Vec::len).sum();
    assert!(face_reports > people, "tracks are reported early and at their end: {face_reports} reports");

    // Exactly one webhook per listed person, received while they were still in view.
    let receiver = pipeline.receiver.clone();
    eventually(Duration::from_secs(30), "a webhook per listed person", || async {
        Ok((receiver.hooks(HOOK).len() >= LISTED.len()).then_some(()))
    })
    .await?;
    let mails = eventually(Duration::from_secs(30), "a mail per listed person", || async {
        Ok(Some(mails_to(&mail_to)?).filter(|m| m.len() >= LISTED.len()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let hooks = receiver.hooks(HOOK);
    assert_eq!(hooks.len(), LISTED.len(), "one webhook per listed person: {hooks:?}");
    let mut alerted = BTreeSet::new();
    for hook in &hooks {
        assert!(hook.signature_valid, "{hook:?}");
        let name = hook.body["person"]["display_name"].as_str().unwrap_or_default().to_owned();
        let track = hook.body["track_id"].as_str().unwrap_or_default();
        let reports = tracks.get(track).ok_or_else(|| anyhow::anyhow!("alert for an unknown track: {hook:?}"))?;
        let (first_seen, last_seen) =
            (reports[0].first_seen_ms, reports.iter().map(|r| r.last_seen_ms).max().unwrap_or_default());
        println!(
            "{name}: webhook {} ms after the face was first seen, {} ms before it was last seen",
            hook.received_ms - first_seen,
            last_seen - hook.received_ms
        );
        assert!(hook.received_ms < last_seen, "{name}'s alert came after they were last seen: {hook:?}");
        alerted.insert(name);
    }
    let listed: BTreeSet<String> = LISTED.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(alerted, listed, "the listed people, and not the stranger, raise alerts");
    assert_eq!(mails_to(&mail_to)?.len(), LISTED.len(), "one mail per listed person: {mails:?}");
    let feed = live.lock().unwrap().clone();
    let names: BTreeSet<String> =
        feed.iter().filter_map(|d| d["person"]["display_name"].as_str().map(str::to_owned)).collect();
    assert_eq!((feed.len(), names), (LISTED.len(), listed), "one live-feed message per listed person");

    // Counts are of people: the pass's face tracks, once each, in the dashboard's stream counts,
    // the CSV and the PDF.
    let query = pipeline.query_port.expect("the warehouse runs");
    let range = format!("from={}&to={}", pass_start - 1_000, pass_end + 1_000);
    let camera_row = |body: &serde_json::Value| {
        body["streams"].as_array().and_then(|s| s.iter().find(|s| s["stream_id"] == camera.as_str()).cloned())
    };
    eventually(Duration::from_secs(60), "the tracks landed", || async {
        let (status, body) = call(query, "GET", &format!("/v1/stats/streams?{range}"), ANALYST, None)?;
        Ok(camera_row(&body).filter(|r| status == 200 && r["faces"].as_u64() >= Some(people as u64)))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, body) = call(query, "GET", &format!("/v1/stats/streams?{range}"), ANALYST, None)?;
    let row = camera_row(&body).expect("the camera's row");
    // On a miscount, each face track as landed: when it was seen, for how many frames, and who it
    // matched, to tell a split track (two tracks of one person) from a false face.
    let face_tracks = || -> String {
        let path = format!("/v1/events?{range}&kind=face&limit=100");
        let Ok((_, events)) = call(query, "GET", &path, ANALYST, None) else { return "(events unavailable)".into() };
        let mut tracks: Vec<String> = events["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .map(|e| {
                        let person = e["matches"][0]["person_display_name"].as_str().unwrap_or("-");
                        format!(
                            "{} first {} last {} frames {} person {person}",
                            e["track_id"], e["first_seen_ms"], e["last_seen_ms"], e["frame_count"]
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        tracks.sort();
        tracks.dedup();
        tracks.join("; ")
    };
    if row["faces"].as_u64() != Some(people as u64) {
        panic!("the dashboard counts people: {row}; face tracks: {}", face_tracks());
    }
    assert_eq!(row["matched"].as_u64(), Some(LISTED.len() as u64), "{row}");
    let csv = http_exchange(
        query,
        "GET",
        &format!("/v1/reports/events.csv?{range}&stream={camera}&kind=face"),
        Some(ANALYST),
        "",
        &[],
    )?;
    let csv = String::from_utf8_lossy(&csv.body).into_owned();
    assert_eq!(csv.lines().count(), 1 + people, "a header and one row per person: {csv}");
    let pdf = http_exchange(
        query,
        "GET",
        &format!("/v1/reports/summary.pdf?{range}&stream={camera}"),
        Some(ANALYST),
        "",
        &[],
    )?;
    assert_eq!(pdf.status, 200);
    let contents = sightline_exporter::read_pdf(&pdf.body).map_err(anyhow::Error::msg)?;
    let needle = format!("Seen on these streams: {people} faces");
    assert!(contents.text.contains(&needle), "{needle:?} missing from the PDF: {}", contents.text);
    // A PDF of one listed person: its filters by name, and that person alone among the persons seen.
    let obama = hooks.iter().find(|h| h.body["person"]["display_name"] == "obama").expect("obama's alert");
    let (person, list) = (obama.body["person"]["id"].as_str(), obama.body["list"]["id"].as_str());
    let (person, list) = (person.unwrap_or_default(), list.unwrap_or_default());
    let path = format!("/v1/reports/summary.pdf?{range}&list={list}&person={person}");
    let pdf = http_exchange(query, "GET", &path, Some(ANALYST), "", &[])?;
    assert_eq!(pdf.status, 200);
    let text = sightline_exporter::read_pdf(&pdf.body).map_err(anyhow::Error::msg)?.text;
    assert!(text.contains("list = Listed, person = obama"), "the filters by name: {text}");
    assert!(text.contains("obama") && !text.contains("biden"), "obama only: {text}");

    // Every face track has a clip, the same in all its reports. The listed person's clip, read
    // through the query API (with its own time in `X-Clip-Start-Ms`), covers their time in the video
    // by its ground truth, and at the best shot's moment shows a face where the event's box is.
    for reports in tracks.values().filter(|r| r[0].kind == ObjectKind::Face as i32) {
        let key = &reports[reports.len() - 1].clip_key;
        assert!(key.starts_with("clips/"), "a face track without a clip: {:?}", reports[0].track_id);
        assert!(reports.iter().all(|r| &r.clip_key == key && r.clip_start_ms > 0), "one clip per track");
    }
    let obama_track = obama.body["track_id"].as_str().unwrap_or_default();
    let best = tracks[obama_track].iter().max_by_key(|r| r.report_sequence).expect("reports").clone();
    // The warehouse knows the report by its enriched event's id.
    let event = sightline_enrich::pipeline::enriched_event_id(&best.event_id);
    let clip = eventually(Duration::from_secs(30), "obama's clip", || async {
        let clip = http_exchange(query, "GET", &format!("/v1/events/{event}/clip"), Some(ANALYST), "", &[])?;
        Ok((clip.status == 200).then_some(clip))
    })
    .await?;
    assert_eq!(clip.header("content-type"), Some("video/mp4"));
    let start_ms: i64 = clip.header("x-clip-start-ms").unwrap_or_default().parse()?;
    assert_eq!(start_ms, best.clip_start_ms);
    // A HEAD says its length and start without the video; a range is the same bytes as the whole's.
    let clip_path = format!("/v1/events/{event}/clip");
    let head = http_exchange(query, "HEAD", &clip_path, Some(ANALYST), "", &[])?;
    let length = clip.body.len().to_string();
    assert_eq!((head.status, head.header("content-length"), head.body.len()), (200, Some(length.as_str()), 0));
    assert_eq!(head.header("x-clip-start-ms"), clip.header("x-clip-start-ms"));
    let (from, to) = (clip.body.len() / 3, clip.body.len() * 2 / 3);
    let bearer = format!("Bearer {ANALYST}");
    let range = format!("bytes={from}-{to}");
    let part = http_exchange_with(query, "GET", &clip_path, &[("Authorization", &bearer), ("Range", &range)], "", &[])?;
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), Some(format!("bytes {from}-{to}/{length}").as_str()));
    assert!(part.body == clip.body[from..=to], "the range's bytes are the whole clip's");
    let path = std::env::temp_dir().join(format!("{}-clip.mp4", pipeline.iso.group));
    std::fs::write(&path, &clip.body)?;
    let best_shot_at = best.capture_time_ms - start_ms;
    let (frames, pictures) =
        sightline_ingest::testmedia::decode_mp4(&path, &[best_shot_at]).map_err(anyhow::Error::msg)?;
    let _ = std::fs::remove_file(&path);
    let play_ms = pipeline.plays().first().copied().expect("the server logged its play");
    let truth = pipeline.truth.people.iter().find(|p| p.person == "obama").expect("obama in the ground truth");
    let (shown_from, shown_to) = (frames[0].pts_ms + start_ms, frames[frames.len() - 1].pts_ms + start_ms);
    // Capture times are the frames' arrival (within the stream's latency) of the play's timeline.
    assert!(
        shown_from <= play_ms + truth.enter_ms && shown_to >= play_ms + truth.leave_ms,
        "the clip ({shown_from}..{shown_to}) covers obama's time ({}..{})",
        play_ms + truth.enter_ms,
        play_ms + truth.leave_ms
    );
    let (_, picture) = &pictures[0];
    let environment = sightline_vision::detect::runtime(&models.runtime_library())?;
    let mut detector =
        sightline_vision::detect::FaceDetector::new(&environment, &models.face_model(), Default::default())?;
    let scale = picture.width as f32 / best.frame_width as f32;
    let bbox = best.bbox.expect("a box");
    let faces = detector.detect(picture)?;
    let overlap =
        faces.iter().map(|f| iou(&f.bbox, bbox.x * scale, bbox.y * scale, bbox.width * scale, bbox.height * scale));
    let overlap = overlap.fold(0.0f32, f32::max);
    assert!(overlap > 0.5, "a face where the best shot's box is in the clip at {best_shot_at} ms: {faces:?}, {bbox:?}");
    // The clip's box path has the track's box in each analysed frame: at the best shot's moment, the
    // event's box.
    let (status, path) = call(query, "GET", &format!("/v1/events/{event}/clip/boxes"), ANALYST, None)?;
    assert_eq!(status, 200, "{path}");
    let boxes = path["boxes"].as_array().expect("boxes");
    assert!(boxes.len() as u32 >= best.frame_count * 9 / 10, "{} boxes for {} frames", boxes.len(), best.frame_count);
    let at_best = boxes
        .iter()
        .filter_map(|b| Some((b[0].as_f64()?, [b[1].as_f64()?, b[2].as_f64()?, b[3].as_f64()?, b[4].as_f64()?])))
        .min_by_key(|(t, _)| (t - best_shot_at as f64).abs() as i64)
        .expect("a box");
    let (w, h) = (best.frame_width as f64, best.frame_height as f64);
    let event_box = [bbox.x as f64 / w, bbox.y as f64 / h, bbox.width as f64 / w, bbox.height as f64 / h];
    assert!((at_best.0 - best_shot_at as f64).abs() <= 1.0, "a box at the best shot's moment: {at_best:?}");
    assert!(
        at_best.1.iter().zip(event_box).all(|(a, b)| (a - b).abs() < 0.01),
        "the path's box {at_best:?} is the event's {event_box:?}"
    );
    pipeline.remove().await
}

/// Intersection over union of `a` and the box at (`x`, `y`) of `w` x `h`.
fn iou(a: &sightline_vision::frame::BoxF, x: f32, y: f32, w: f32, h: f32) -> f32 {
    let (left, top) = (a.x.max(x), a.y.max(y));
    let (right, bottom) = ((a.x + a.width).min(x + w), (a.y + a.height).min(y + h));
    let inter = (right - left).max(0.0) * (bottom - top).max(0.0);
    inter / (a.width * a.height + w * h - inter).max(f32::EPSILON)
}
