//! `sightline-testmedia`: writes the standard test video (people entering, moving and leaving at known
//! times, heads cut from the photos `infra/models` prepares) and its ground truth, for the demo and
//! for trying the service by hand.
//!
//! `sightline-testmedia --models-dir DIR --out DIR` writes `people.mp4` (H.264, 1280x720, 15 fps, 8 s;
//! `--seconds` for a longer one, the cast coming back every 8 s) and `people.truth.json` (per frame,
//! each visible face's box in pixels).

use anyhow::{Context, anyhow};
use clap::Parser;
use sightline_ingest::detect::{self, FaceDetector, FaceDetectorSettings, ModelFiles};
use sightline_ingest::testmedia::{STANDARD_VIDEO, VideoSpec, encode, ground_truth, repeated_cast, standard_cast};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "sightline-testmedia", about = "Write the test video of people and its ground truth")]
struct Cli {
    /// Directory prepared by `infra/models` (`make models` prints it).
    #[arg(long, env = "SIGHTLINE_MODELS_DIR")]
    models_dir: PathBuf,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Frames per second of the video.
    #[arg(long, default_value_t = STANDARD_VIDEO.fps)]
    fps: u32,
    /// Length of the video, seconds: the standard cast comes back every 8 s.
    #[arg(long, default_value_t = STANDARD_VIDEO.duration_ms / 1000)]
    seconds: i64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let files = ModelFiles { dir: cli.models_dir };
    let environment = detect::runtime(&files.runtime_library())?;
    let mut detector = FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default())?;
    let spec = VideoSpec { fps: cli.fps, duration_ms: cli.seconds.max(1) * 1000, ..STANDARD_VIDEO };
    let cast = standard_cast(&mut detector, &files.dir.join("images")).map_err(|e| anyhow!(e))?;
    let cast = repeated_cast(&cast, spec.duration_ms);
    std::fs::create_dir_all(&cli.out).with_context(|| format!("creating {}", cli.out.display()))?;
    let video = cli.out.join("people.mp4");
    encode(&spec, &cast, &video).map_err(|e| anyhow!(e)).with_context(|| format!("encoding {}", video.display()))?;
    let truth = cli.out.join("people.truth.json");
    std::fs::write(&truth, serde_json::to_vec_pretty(&ground_truth(&spec, &cast))?)
        .with_context(|| format!("writing {}", truth.display()))?;
    println!("{}\n{}", video.display(), truth.display());
    Ok(())
}
