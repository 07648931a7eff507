//! Generates the Protobuf types (prost) and embeds the ordered SQL migrations.
//!
//! Needs `protoc` (Debian package `protobuf-compiler`; `infra/stack deps` installs it) or `PROTOC`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);

    let proto = manifest_dir.join("proto/sightline/v1/events.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    let mut config = prost_build::Config::new();
    config.file_descriptor_set_path(out_dir.join("sightline_v1_descriptor.bin"));
    config
        .compile_protos(&[&proto], &[manifest_dir.join("proto")])
        .map_err(|e| format!("compiling {}: {e} (is protoc installed? run `infra/stack deps`)", proto.display()))?;

    let mut generated = String::new();
    for (kind, dir) in [("CLICKHOUSE", "clickhouse"), ("POSTGRES", "postgres")] {
        embed_migrations(&mut generated, kind, &manifest_dir.join(dir))?;
    }
    std::fs::write(out_dir.join("migrations.rs"), generated)?;
    Ok(())
}

/// Writes `pub static {kind}_MIGRATIONS: &[Migration]` listing `NNNN_name.sql` files in version order.
fn embed_migrations(out: &mut String, kind: &str, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<(u32, String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let (version, name) = stem
            .split_once('_')
            .ok_or_else(|| format!("{}: migration files are named NNNN_name.sql", path.display()))?;
        let version: u32 =
            version.parse().map_err(|_| format!("{}: migration files are named NNNN_name.sql", path.display()))?;
        files.push((version, name.to_owned(), path));
    }
    files.sort_by_key(|(version, _, _)| *version);
    for pair in files.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(format!("two {kind} migrations share version {}", pair[0].0).into());
        }
    }
    writeln!(out, "/// {kind} migrations, in the order they must be applied.")?;
    writeln!(out, "pub static {kind}_MIGRATIONS: &[Migration] = &[")?;
    for (version, name, path) in files {
        writeln!(
            out,
            "    Migration {{ version: {version}, name: {name:?}, sql: include_str!({path:?}) }},",
            path = path.display().to_string()
        )?;
    }
    writeln!(out, "];")?;
    Ok(())
}
