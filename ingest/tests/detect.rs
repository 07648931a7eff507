//! The face and person detectors on real photos (prepared by `infra/models`; `make test` sets
//! `SIGHTLINE_MODELS_DIR`). Expected boxes come from looking at the images, and models.md records
//! the astronaut face at x177 y58 w94 h119.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{face_detector, load, person_detector};
use sightline_ingest::detect::{FaceDetector, PersonDetector};
use sightline_ingest::frame::BoxF;

fn detectors() -> (FaceDetector, PersonDetector) {
    (face_detector(), person_detector())
}

#[test]
fn the_astronaut_has_one_face_with_landmarks_inside_one_person() {
    let (mut faces, mut people) = detectors();
    let frame = load("astronaut.png");
    let found = faces.detect(&frame).expect("face detection runs");
    assert_eq!(found.len(), 1, "{found:?}");
    let face = &found[0];
    assert!(face.score > 0.95, "score {}", face.score);
    let expected = BoxF { x: 177.0, y: 58.0, width: 94.0, height: 119.0 };
    assert!(face.bbox.iou(&expected) > 0.7, "box {:?}", face.bbox);
    let [left_eye, right_eye, nose, left_mouth, right_mouth] = face.landmarks;
    for (x, y) in face.landmarks {
        assert!(face.bbox.contains(x, y), "landmark ({x},{y}) outside {:?}", face.bbox);
    }
    assert!(left_eye.0 < right_eye.0 && left_mouth.0 < right_mouth.0, "left/right order {:?}", face.landmarks);
    assert!(left_eye.1 < nose.1 && right_eye.1 < nose.1, "eyes above the nose {:?}", face.landmarks);
    assert!(nose.1 < left_mouth.1 && nose.1 < right_mouth.1, "nose above the mouth {:?}", face.landmarks);

    let bodies = people.detect(&frame).expect("person detection runs");
    assert!(!bodies.is_empty() && bodies[0].score > 0.9, "{bodies:?}");
    let (cx, cy) = (face.bbox.x + face.bbox.width / 2.0, face.bbox.y + face.bbox.height / 2.0);
    assert!(bodies.iter().any(|b| b.bbox.contains(cx, cy)), "the face lies in a person's box: {bodies:?}");
}

#[test]
fn faces_are_found_in_portraits_and_not_in_scenes_without_people() {
    let (mut faces, mut people) = detectors();
    for portrait in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] {
        let found = faces.detect(&load(portrait)).expect("runs");
        assert_eq!(found.len(), 1, "{portrait}: {found:?}");
        assert!(found[0].score > 0.9, "{portrait}: {}", found[0].score);
    }
    for scene in ["coffee.png", "chelsea.png"] {
        let frame = load(scene);
        let found = faces.detect(&frame).expect("runs");
        assert!(found.is_empty(), "no face in {scene}: {found:?}");
        assert!(people.detect(&frame).expect("runs").is_empty(), "no person in {scene}");
    }
}

#[test]
fn the_cameraman_is_a_person() {
    let (_, mut people) = detectors();
    let frame = load("camera.png");
    let bodies = people.detect(&frame).expect("runs");
    assert!(!bodies.is_empty(), "a person in camera.png");
    let body = &bodies[0];
    assert!(body.bbox.height > frame.height as f32 * 0.5, "a full-body box: {body:?}");
}
