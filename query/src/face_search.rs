//! Search by face: the query descriptor's sign sketch and the pre-filter's bounds
//! (`face_candidates.sql`, `face_similarities.sql` and `0007_face_search.sql` explain the two steps).
//!
//! A sign of a descriptor dimension differs between two unit vectors at angle `a` with probability
//! `a / pi` (for directions spread evenly), so the number of differing signs among 192 is close to
//! `192 * acos(similarity) / pi`. The pre-filter keeps faces within three standard deviations above
//! that number at the threshold, and at most [`candidates`] of the nearest: a face at the threshold
//! is kept with probability about 0.999, a face well above it almost surely, and strangers (about
//! half the signs differ) mostly not. The kept faces are then compared exactly.

use std::f64::consts::PI;

/// Dimensions the sketch covers (the descriptor model's; more are ignored, fewer leave zeros).
pub const SKETCH_BITS: u32 = 192;

/// The sketch of `descriptor`: bit `i` of word `i / 64` is set when dimension `i` is positive, as
/// `0007_face_search.sql` computes it for stored faces.
pub fn sketch(descriptor: &[f32]) -> [u64; 3] {
    let mut words = [0u64; 3];
    for (i, value) in descriptor.iter().take(SKETCH_BITS as usize).enumerate() {
        if *value > 0.0 {
            words[i / 64] |= 1 << (i % 64);
        }
    }
    words
}

/// Differing signs between two sketches.
pub fn distance(a: &[u64; 3], b: &[u64; 3]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Most differing signs a face may have to be compared exactly, for `threshold`: the expected number
/// at the threshold's angle plus three standard deviations (binomial).
pub fn max_distance(threshold: f32) -> u32 {
    let p = f64::from(threshold.clamp(-1.0, 1.0)).acos() / PI;
    let n = f64::from(SKETCH_BITS);
    let bound = n * p + 3.0 * (n * p * (1.0 - p)).sqrt();
    (bound.ceil() as u32).min(SKETCH_BITS)
}

/// Faces compared exactly for a search returning at most `limit` tracks: the nearest by sketch, ten
/// per track asked for (a track reports its face several times, and the sketch's order is only close
/// to the exact one), at least 1,000 and at most 10,000. Each costs a granule read (32 descriptors),
/// about 0.5 ms when not cached.
pub fn candidates(limit: u32) -> u32 {
    limit.saturating_mul(10).clamp(1_000, 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(values: impl Iterator<Item = f32>) -> Vec<f32> {
        let v: Vec<f32> = values.collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }

    #[test]
    fn sketches_set_one_bit_per_positive_dimension() {
        let mut descriptor = vec![-1.0f32; 192];
        descriptor[0] = 1.0;
        descriptor[63] = 0.5;
        descriptor[64] = 0.1;
        descriptor[191] = 2.0;
        assert_eq!(sketch(&descriptor), [1 | 1 << 63, 1, 1 << 63]);
        assert_eq!(distance(&sketch(&descriptor), &[0, 0, 0]), 4);
        assert_eq!(sketch(&[0.0; 3]), [0, 0, 0]);
    }

    #[test]
    fn the_bound_keeps_faces_at_the_threshold_and_drops_strangers() {
        assert_eq!(max_distance(1.0), 0);
        assert_eq!(max_distance(0.5), 84); // 64 expected at 60 degrees, plus 3 x 6.5
        assert!(max_distance(0.3) < SKETCH_BITS);
        // Pseudo-random directions (a fixed LCG): a face mixed towards the query at similarity about
        // 0.6 stays within the bound for 0.5; unrelated faces are mostly beyond it.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let query = unit((0..192).map(|_| next()));
        let (mut near_kept, mut strangers_kept) = (0, 0);
        for _ in 0..200 {
            let noise = unit((0..192).map(|_| next()));
            let near = unit(query.iter().zip(&noise).map(|(q, n)| 0.75 * q + 0.66 * n));
            near_kept += u32::from(distance(&sketch(&query), &sketch(&near)) <= max_distance(0.5));
            strangers_kept += u32::from(distance(&sketch(&query), &sketch(&noise)) <= max_distance(0.5));
        }
        assert_eq!(near_kept, 200);
        assert!(strangers_kept < 20, "{strangers_kept} of 200 strangers within the bound");
    }

    #[test]
    fn candidates_grow_with_the_tracks_asked_for() {
        assert_eq!(candidates(1), 1_000);
        assert_eq!(candidates(100), 1_000);
        assert_eq!(candidates(500), 5_000);
        assert_eq!(candidates(1_000), 10_000);
    }
}
