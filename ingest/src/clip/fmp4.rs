//! Fragmented MP4 (ISO/IEC 14496-12) of H.264 access units, as browsers play it: an *init segment*
//! (`ftyp` + `moov` with the decoder configuration and an `mvex`) and *media segments* (`moof` +
//! `mdat`), each a run of frames. The init segment followed by the media segments in order is one
//! playable file; each piece is stored as its own object as soon as it is complete (see
//! [`super::recorder`]), so a clip can be played while its track still lasts.
//!
//! No re-encoding: the frames are the source's own access units, length-prefixed (`avc` stream
//! format), and the decoder configuration is the source's `avcC` record (GStreamer's `codec_data`).

use super::EncodedFrame;

/// Media timescale: ticks per second of the video track (the MPEG 90 kHz clock).
pub const TIMESCALE: u32 = 90_000;

/// Nanoseconds to media ticks.
pub fn ticks(ns: i64) -> i64 {
    ((ns as i128 * TIMESCALE as i128) / 1_000_000_000) as i64
}

/// What a decoder needs before the first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    /// Coded width, pixels.
    pub width: u32,
    /// Coded height, pixels.
    pub height: u32,
    /// The `AVCDecoderConfigurationRecord` (SPS and PPS), as in an `avcC` box.
    pub avcc: Vec<u8>,
}

/// An ISO box: its type and body, written with its size in front.
fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(body.len() as u32 + 8).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// A full box: version and flags before the body.
fn full_box(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut inner = Vec::with_capacity(body.len() + 4);
    inner.extend_from_slice(&((u32::from(version) << 24) | (flags & 0x00ff_ffff)).to_be_bytes());
    inner.extend_from_slice(body);
    boxed(kind, &inner)
}

/// Boxes one after the other.
fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// The identity transformation matrix of `mvhd` and `tkhd`.
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

fn matrix() -> Vec<u8> {
    UNITY_MATRIX.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// The init segment for video of `config`: `ftyp` and a `moov` without samples (they come in
/// fragments). There is no edit list: time 0 is the first frame's decode time, and each frame is
/// shown at its presentation time less that (players that honour edit lists and those that do not
/// then agree). `duration_ns`, once the clip is complete, is its length (`mehd`): players then show
/// it instead of guessing from the first fragments.
pub fn init_segment(config: &VideoConfig, duration_ns: Option<i64>) -> Vec<u8> {
    let duration_ms = duration_ns.map_or(0, |ns| (ns.max(0) / 1_000_000) as u64);
    let ftyp = boxed(b"ftyp", &[&b"iso5"[..], &0u32.to_be_bytes(), b"iso5", b"iso6", b"avc1", b"mp41"].concat());
    let mut mvhd = Vec::new();
    mvhd.extend_from_slice(&[0; 8]); // creation and modification times
    mvhd.extend_from_slice(&1000u32.to_be_bytes()); // movie timescale
    mvhd.extend_from_slice(&(duration_ms.min(u64::from(u32::MAX)) as u32).to_be_bytes()); // 0: not known yet
    mvhd.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
    mvhd.extend_from_slice(&0x0100u16.to_be_bytes()); // volume 1.0
    mvhd.extend_from_slice(&[0; 10]);
    mvhd.extend_from_slice(&matrix());
    mvhd.extend_from_slice(&[0; 24]);
    mvhd.extend_from_slice(&2u32.to_be_bytes()); // next track id
    let mvhd = full_box(b"mvhd", 0, 0, &mvhd);

    let mut tkhd = Vec::new();
    tkhd.extend_from_slice(&[0; 8]);
    tkhd.extend_from_slice(&1u32.to_be_bytes()); // track id
    tkhd.extend_from_slice(&[0; 4]);
    tkhd.extend_from_slice(&(duration_ms.min(u64::from(u32::MAX)) as u32).to_be_bytes());
    tkhd.extend_from_slice(&[0; 8]);
    tkhd.extend_from_slice(&[0; 4]); // layer, alternate group
    tkhd.extend_from_slice(&[0; 4]); // volume (video: 0), reserved
    tkhd.extend_from_slice(&matrix());
    tkhd.extend_from_slice(&(config.width << 16).to_be_bytes());
    tkhd.extend_from_slice(&(config.height << 16).to_be_bytes());
    let tkhd = full_box(b"tkhd", 0, 0x3, &tkhd); // enabled, in movie

    let mut mdhd = Vec::new();
    mdhd.extend_from_slice(&[0; 8]);
    mdhd.extend_from_slice(&TIMESCALE.to_be_bytes());
    let media_duration = duration_ns.map_or(0, |ns| ticks(ns.max(0)));
    mdhd.extend_from_slice(&(media_duration.min(i64::from(u32::MAX)) as u32).to_be_bytes());
    mdhd.extend_from_slice(&0x55c4u16.to_be_bytes()); // language "und"
    mdhd.extend_from_slice(&[0; 2]);
    let mdhd = full_box(b"mdhd", 0, 0, &mdhd);
    let hdlr = full_box(b"hdlr", 0, 0, &[&[0u8; 4][..], b"vide", &[0; 12], b"VideoHandler\0"].concat());

    let vmhd = full_box(b"vmhd", 0, 1, &[0; 8]);
    let dref = full_box(b"dref", 0, 0, &[&1u32.to_be_bytes()[..], &full_box(b"url ", 0, 1, &[])].concat());
    let dinf = boxed(b"dinf", &dref);
    let mut avc1 = Vec::new();
    avc1.extend_from_slice(&[0; 6]);
    avc1.extend_from_slice(&1u16.to_be_bytes()); // data reference index
    avc1.extend_from_slice(&[0; 16]);
    avc1.extend_from_slice(&(config.width as u16).to_be_bytes());
    avc1.extend_from_slice(&(config.height as u16).to_be_bytes());
    avc1.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // 72 dpi
    avc1.extend_from_slice(&0x0048_0000u32.to_be_bytes());
    avc1.extend_from_slice(&[0; 4]);
    avc1.extend_from_slice(&1u16.to_be_bytes()); // frames per sample
    avc1.extend_from_slice(&[0; 32]); // compressor name
    avc1.extend_from_slice(&0x0018u16.to_be_bytes()); // depth
    avc1.extend_from_slice(&(-1i16).to_be_bytes());
    avc1.extend_from_slice(&boxed(b"avcC", &config.avcc));
    let stsd = full_box(b"stsd", 0, 0, &[&1u32.to_be_bytes()[..], &boxed(b"avc1", &avc1)].concat());
    let empty_table = 0u32.to_be_bytes();
    let stbl = boxed(
        b"stbl",
        &concat(&[
            stsd,
            full_box(b"stts", 0, 0, &empty_table),
            full_box(b"stsc", 0, 0, &empty_table),
            full_box(b"stsz", 0, 0, &[0u8; 8]),
            full_box(b"stco", 0, 0, &empty_table),
        ]),
    );
    let minf = boxed(b"minf", &concat(&[vmhd, dinf, stbl]));
    let mdia = boxed(b"mdia", &concat(&[mdhd, hdlr, minf]));
    let trak = boxed(b"trak", &concat(&[tkhd, mdia]));
    let trex = full_box(b"trex", 0, 0, &[1u32, 1, 0, 0, 0].iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<_>>());
    let mvex = match duration_ns {
        Some(_) => boxed(b"mvex", &concat(&[full_box(b"mehd", 1, 0, &duration_ms.to_be_bytes()), trex])),
        None => boxed(b"mvex", &trex),
    };
    concat(&[ftyp, boxed(b"moov", &concat(&[mvhd, trak, mvex]))])
}

/// Sample flags of a key frame (depends on no other) and of any other frame.
const KEY_FRAME_FLAGS: u32 = 0x0200_0000;
const DELTA_FRAME_FLAGS: u32 = 0x0101_0000;

/// A media segment (`moof` + `mdat`) of `frames`, numbered `sequence` (from 1), whose decode times
/// start at `base_dts_ns` of the clip's timeline; `durations_ns` gives each frame's duration (the
/// next frame's decode time minus its own).
pub fn media_segment(sequence: u32, base_dts_ns: i64, frames: &[EncodedFrame], durations_ns: &[i64]) -> Vec<u8> {
    let mfhd = full_box(b"mfhd", 0, 0, &sequence.to_be_bytes());
    let tfhd = full_box(b"tfhd", 0, 0x02_0000, &1u32.to_be_bytes()); // default-base-is-moof
    let tfdt = full_box(b"tfdt", 1, 0, &(ticks(base_dts_ns).max(0) as u64).to_be_bytes());
    // Durations in ticks from the decode times' ticks, so rounding never accumulates.
    let mut dts = base_dts_ns;
    let mut run = Vec::with_capacity(8 + frames.len() * 16);
    run.extend_from_slice(&(frames.len() as u32).to_be_bytes());
    let data_offset_at = run.len();
    run.extend_from_slice(&0i32.to_be_bytes());
    for (frame, &duration) in frames.iter().zip(durations_ns) {
        let duration_ticks = ticks(dts + duration) - ticks(dts);
        let offset_ticks = ticks(frame.pts_ns) - ticks(frame.dts_ns);
        dts += duration;
        run.extend_from_slice(&(duration_ticks.max(0) as u32).to_be_bytes());
        run.extend_from_slice(&(frame.data.len() as u32).to_be_bytes());
        run.extend_from_slice(&if frame.keyframe { KEY_FRAME_FLAGS } else { DELTA_FRAME_FLAGS }.to_be_bytes());
        run.extend_from_slice(&(offset_ticks as i32).to_be_bytes());
    }
    // data offset, durations, sizes, flags, composition offsets (signed, version 1)
    let trun = full_box(b"trun", 1, 0x1 | 0x100 | 0x200 | 0x400 | 0x800, &run);
    let traf = boxed(b"traf", &concat(&[tfhd, tfdt, trun]));
    let mut moof = boxed(b"moof", &concat(&[mfhd, traf]));
    // The run is the end of moof; its data offset points past moof and the mdat header.
    let data_offset = (moof.len() + 8) as i32;
    let at = moof.len() - run.len() + data_offset_at;
    moof[at..at + 4].copy_from_slice(&data_offset.to_be_bytes());
    let payload: usize = frames.iter().map(|f| f.data.len()).sum();
    let mut out = Vec::with_capacity(moof.len() + 8 + payload);
    out.extend_from_slice(&moof);
    out.extend_from_slice(&(payload as u32 + 8).to_be_bytes());
    out.extend_from_slice(b"mdat");
    for frame in frames {
        out.extend_from_slice(&frame.data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The boxes at the top level of `bytes`: (type, size).
    fn top_level(bytes: &[u8]) -> Vec<(String, usize)> {
        let mut boxes = Vec::new();
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            boxes.push((String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned(), size));
            assert!(size >= 8, "box of size {size}");
            at += size;
        }
        assert_eq!(at, bytes.len(), "the boxes fill the segment exactly");
        boxes
    }

    #[test]
    fn segments_are_well_formed_boxes() {
        let config = VideoConfig { width: 640, height: 360, avcc: vec![1, 0x64, 0, 0x1f, 0xff, 0xe0, 0] };
        let init = init_segment(&config, None);
        assert!(
            init_segment(&config, Some(6_500_000_000)).windows(4).any(|w| w == b"mehd"),
            "a complete clip's length"
        );
        assert_eq!(top_level(&init).iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["ftyp", "moov"]);
        let frame = |pts: i64, key: bool, len: usize| EncodedFrame {
            pts_ns: pts,
            dts_ns: pts,
            keyframe: key,
            data: Arc::from(vec![7u8; len]),
        };
        let frames = [frame(0, true, 100), frame(40_000_000, false, 30), frame(80_000_000, false, 20)];
        let segment = media_segment(1, 0, &frames, &[40_000_000; 3]);
        let boxes = top_level(&segment);
        assert_eq!(boxes.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["moof", "mdat"]);
        assert_eq!(boxes[1].1, 8 + 150);
        // The run's data offset points at the first sample: the end of moof plus the mdat header.
        let trun = segment.windows(4).position(|w| w == b"trun").unwrap();
        let offset = i32::from_be_bytes(segment[trun + 12..trun + 16].try_into().unwrap());
        assert_eq!(offset as usize, boxes[0].1 + 8);
        assert_eq!(&segment[offset as usize..offset as usize + 3], &[7, 7, 7]);
        assert_eq!(ticks(40_000_000), 3_600);
    }
}
