//! `make bench-match`: watchlist search and descriptor extraction against their peers, in one run.
//!
//! 1. **Search**: 1:N over `BENCH_DESCRIPTORS` (default 1M) random L2-normalised 192-d descriptors,
//!    `BENCH_QUERIES` (default 200) queries one at a time (a face arrives, it is identified), top 10,
//!    with `BENCH_THREADS` (default 2) threads: Sightline's exact index against FAISS `IndexFlatIP`
//!    (PyPI `faiss-cpu`, run by `enrich/bench/faiss_peer.py` on the very same data, which this
//!    benchmark writes to a scratch file). Prints `match_vs_faiss=` (FAISS time over ours; goal >= 1)
//!    and the same for the whole batch of queries in one call (`match_vs_faiss_batch=`), plus the
//!    index's memory.
//! 2. **Extraction**: faces/s of `FaceDescriptor::describe` (input tensor, run, L2 normalisation) on
//!    aligned faces, against raw ONNX Runtime running the same model on prepared tensors with the
//!    same threads and batch size. Prints `extract_vs_raw_model=` (goal >= 0.9).
//!
//! Environment: `SIGHTLINE_MODELS_DIR` and `SIGHTLINE_VENV` (set by `make bench-match`).

use anyhow::{Context, anyhow, ensure};
use ort::value::Tensor;
use sightline_enrich::index::{FlatIndex, VectorIndex};
use sightline_vision::align::align_face;
use sightline_vision::descriptor::{DESCRIPTOR_DIM, DescriptorSettings, FaceDescriptor};
use sightline_vision::detect::{self, FaceDetector, FaceDetectorSettings, ModelFiles};
use sightline_vision::frame::RgbFrame;
use std::io::Write;
use std::time::Instant;

const TOP_K: usize = 10;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Deterministic L2-normalised random vectors (xorshift64*, uniform in [-1, 1) before normalising).
fn random_unit_vectors(count: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.max(1);
    let mut values = Vec::with_capacity(count * dim);
    for _ in 0..count {
        let start = values.len();
        for _ in 0..dim {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
            values.push(bits as f32 / (1u64 << 23) as f32 - 1.0);
        }
        let norm = values[start..].iter().map(|v| v * v).sum::<f32>().sqrt();
        values[start..].iter_mut().for_each(|v| *v /= norm);
    }
    values
}

fn write_f32(path: &std::path::Path, values: &[f32]) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for v in values {
        file.write_all(&v.to_le_bytes())?;
    }
    file.flush()?;
    Ok(())
}

/// The rows of the `k` best scores, best first.
fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..scores.len()).collect();
    let k = k.min(rows.len());
    if k == 0 {
        return Vec::new();
    }
    rows.select_nth_unstable_by(k - 1, |&a, &b| scores[b].total_cmp(&scores[a]));
    rows.truncate(k);
    rows.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    rows
}

fn search_bench(threads: usize) -> anyhow::Result<()> {
    let count: usize = env_or("BENCH_DESCRIPTORS", 1_000_000);
    let queries_count: usize = env_or("BENCH_QUERIES", 200);
    let base = random_unit_vectors(count, DESCRIPTOR_DIM, 7);
    let queries = random_unit_vectors(queries_count, DESCRIPTOR_DIM, 11);
    let dir = std::env::temp_dir().join(format!("sightline-bench-match-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (base_path, queries_path) = (dir.join("base.f32"), dir.join("queries.f32"));
    write_f32(&base_path, &base)?;
    write_f32(&queries_path, &queries)?;

    let mut index = FlatIndex::new(DESCRIPTOR_DIM, threads);
    for row in base.chunks_exact(DESCRIPTOR_DIM) {
        index.push(row);
    }
    index.shrink_to_fit();
    drop(base);
    let mut scores = Vec::new();
    index.scores(&queries[..DESCRIPTOR_DIM], &mut scores); // warm-up
    let started = Instant::now();
    let mut ours_top1 = Vec::with_capacity(queries_count);
    for query in queries.chunks_exact(DESCRIPTOR_DIM) {
        index.scores(query, &mut scores);
        ours_top1.push(top_k(&scores, TOP_K)[0]);
    }
    let ours_ms = started.elapsed().as_secs_f64() * 1000.0 / queries_count as f64;

    // The whole batch at once (as enrich's batches could be): blocked scan, then top 10 per query.
    let started = Instant::now();
    let mut batch_scores = Vec::new();
    index.scores_many(&queries, DESCRIPTOR_DIM, &mut batch_scores);
    let rows = index.len();
    let mut column = vec![0.0f32; rows];
    let mut batch_top1 = Vec::with_capacity(queries_count);
    for q in 0..queries_count {
        for (row, score) in column.iter_mut().enumerate() {
            *score = batch_scores[row * queries_count + q];
        }
        batch_top1.push(top_k(&column, TOP_K)[0]);
    }
    let ours_batch_ms = started.elapsed().as_secs_f64() * 1000.0 / queries_count as f64;
    drop(batch_scores);
    ensure!(batch_top1 == ours_top1, "batched and single searches disagree");

    let python =
        format!("{}/bin/python", std::env::var("SIGHTLINE_VENV").context("SIGHTLINE_VENV (make bench-match sets it)")?);
    let peer = std::process::Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/faiss_peer.py"))
        .args([&base_path, &queries_path].map(|p| p.display().to_string()))
        .args([DESCRIPTOR_DIM, TOP_K, threads].map(|n| n.to_string()))
        .output()?;
    let _ = std::fs::remove_dir_all(&dir);
    ensure!(peer.status.success(), "faiss peer failed: {}", String::from_utf8_lossy(&peer.stderr));
    let report: serde_json::Value = serde_json::from_slice(&peer.stdout)?;
    let faiss_ms = report["single_query_ms"].as_f64().ok_or_else(|| anyhow!("no single_query_ms: {report}"))?;
    let faiss_batch_ms = report["batch_query_ms"].as_f64().unwrap_or(f64::NAN);
    let faiss_top1: Vec<usize> = report["top1"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_u64()).map(|v| v as usize).collect())
        .unwrap_or_default();
    let agree = ours_top1.iter().zip(&faiss_top1).filter(|(a, b)| a == b).count();
    ensure!(agree * 100 >= queries_count * 99, "the two searches disagree on the best match: {agree}/{queries_count}");

    println!("descriptors={count} dim={DESCRIPTOR_DIM} queries={queries_count} top_k={TOP_K} threads={threads}");
    println!("index_memory_mb={:.0}", index.memory_bytes() as f64 / 1_048_576.0);
    println!(
        "match_single_query_ms={ours_ms:.2} faiss_single_query_ms={faiss_ms:.2} (same best match for {agree}/{queries_count})"
    );
    println!("match_vs_faiss={:.2}", faiss_ms / ours_ms);
    println!(
        "match_batch_query_ms={ours_batch_ms:.2} faiss_batch_query_ms={faiss_batch_ms:.2} (all queries in one call)"
    );
    println!("match_vs_faiss_batch={:.2}", faiss_batch_ms / ours_batch_ms);
    Ok(())
}

fn extraction_bench(threads: usize) -> anyhow::Result<()> {
    let files = ModelFiles {
        dir: std::env::var("SIGHTLINE_MODELS_DIR").context("SIGHTLINE_MODELS_DIR (run `make models`)")?.into(),
    };
    let environment = detect::runtime(&files.runtime_library())?;
    let mut detector = FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default())?;
    let mut aligned = Vec::new();
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png"] {
        let photo = RgbFrame::open(&files.dir.join("images").join(name)).map_err(|e| anyhow!(e))?;
        let face = detector.detect(&photo)?.into_iter().next().ok_or_else(|| anyhow!("no face in {name}"))?;
        aligned.push(align_face(&photo, &face.landmarks).ok_or_else(|| anyhow!("{name} does not align"))?);
    }
    let faces: Vec<&RgbFrame> = aligned.iter().cycle().take(320).collect();
    let batch = 16;
    let settings = DescriptorSettings { threads, max_batch: batch };
    let mut describer = FaceDescriptor::new(&environment, &files.descriptor_model(), settings)?;
    let mut raw = detect::session(&environment, &files.descriptor_model(), threads)?;
    let tensors: Vec<_> = faces.chunks(batch).map(FaceDescriptor::input_tensor).collect();
    describer.describe(&faces[..batch])?; // warm-up
    raw.run(ort::inputs!["input" => Tensor::from_array(tensors[0].clone())?])?;

    let started = Instant::now();
    let described = describer.describe(&faces)?;
    let ours = faces.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for tensor in &tensors {
        let outputs = raw.run(ort::inputs!["input" => Tensor::from_array(tensor.clone())?])?;
        std::hint::black_box(outputs["embeddings"].try_extract_tensor::<f32>()?.1.len());
    }
    let raw_rate = faces.len() as f64 / started.elapsed().as_secs_f64();
    ensure!(described.len() == faces.len());
    println!("extract_faces_per_s={ours:.1} raw_model_faces_per_s={raw_rate:.1} (batch {batch}, {threads} threads)");
    println!("extract_vs_raw_model={:.2}", ours / raw_rate);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let threads: usize = env_or("BENCH_THREADS", 2);
    search_bench(threads)?;
    extraction_bench(threads)
}
