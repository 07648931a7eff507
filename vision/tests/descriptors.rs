//! Real photos through detection, alignment and MobileFaceNet: photos of the same person are close,
//! photos of different people are not.
//!
//! Thresholds, and why: models.md measured 0.77–0.79 between three photos of one person and at most
//! 0.23 between different people; the test asks for >= 0.6 and <= 0.4, leaving room for the aligned
//! crops' resampling without letting a broken alignment (which drops same-person similarity towards
//! the different-people range) pass.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use sightline_vision::align::{align_face, eye_distance};
use sightline_vision::descriptor::{DESCRIPTOR_DIM, DescriptorSettings, FaceDescriptor, similarity};
use sightline_vision::detect::{self, FaceDetector, FaceDetectorSettings, ModelFiles};
use sightline_vision::frame::RgbFrame;

fn files() -> ModelFiles {
    let dir = std::env::var("SIGHTLINE_MODELS_DIR").expect("SIGHTLINE_MODELS_DIR (run `make models`)");
    ModelFiles { dir: dir.into() }
}

/// The aligned face of each photo (each must have exactly one confident face).
fn aligned_faces(photos: &[&str]) -> Vec<RgbFrame> {
    let files = files();
    let environment = detect::runtime(&files.runtime_library()).expect("onnx runtime");
    let mut detector =
        FaceDetector::new(&environment, &files.face_model(), FaceDetectorSettings::default()).expect("face model");
    photos
        .iter()
        .map(|name| {
            let photo = RgbFrame::open(&files.dir.join("images").join(name)).expect("photo");
            let faces = detector.detect(&photo).expect("detects");
            assert_eq!(faces.len(), 1, "{name}: {faces:?}");
            assert!(eye_distance(&faces[0].landmarks) > 20.0, "{name}: a face large enough to describe");
            align_face(&photo, &faces[0].landmarks).expect("aligns")
        })
        .collect()
}

#[test]
fn the_same_person_is_close_and_different_people_are_not() {
    let names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png"];
    let faces = aligned_faces(&names);
    let files = files();
    let environment = detect::runtime(&files.runtime_library()).expect("onnx runtime");
    let mut describer = FaceDescriptor::new(
        &environment,
        &files.descriptor_model(),
        DescriptorSettings { threads: 2, max_batch: 2 }, // several batches, one of them partial
    )
    .expect("descriptor model");
    let refs: Vec<&RgbFrame> = faces.iter().collect();
    let descriptors = describer.describe(&refs).expect("describes");
    assert_eq!(descriptors.len(), names.len());
    for d in &descriptors {
        assert_eq!(d.len(), DESCRIPTOR_DIM);
        assert!((similarity(d, d) - 1.0).abs() < 1e-4, "L2-normalised");
    }
    // One face alone gives the same descriptor as in a batch.
    let alone = describer.describe(&refs[3..4]).expect("describes");
    assert!(similarity(&alone[0], &descriptors[3]) > 0.999);

    for i in 0..names.len() {
        for j in i + 1..names.len() {
            let s = similarity(&descriptors[i], &descriptors[j]);
            let same = names[i].starts_with("obama") && names[j].starts_with("obama");
            println!("{} vs {}: {s:.3}", names[i], names[j]);
            if same {
                assert!(s >= 0.6, "{} vs {}: {s:.3}, same person", names[i], names[j]);
            } else {
                assert!(s <= 0.4, "{} vs {}: {s:.3}, different people", names[i], names[j]);
            }
        }
    }
    assert!(describer.describe(&[&RgbFrame::new(50, 50, vec![0; 50 * 50 * 3]).expect("frame")]).is_err());
}
