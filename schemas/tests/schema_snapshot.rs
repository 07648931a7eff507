//! Holds the v1 Protobuf schema to the committed snapshot `proto/snapshot.txt`.
//!
//! Downstream consumers decode these messages with code generated from older copies of the schema,
//! so a field may only ever be added: every snapshot line (a field's number, type and label, or an
//! enum value's number) must still hold. A field the snapshot does not know fails the test until it
//! is recorded with `UPDATE_SCHEMA_SNAPSHOT=1 cargo test -p sightline-schemas`, which only appends.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use prost::Message;
use prost_types::FileDescriptorSet;
use prost_types::field_descriptor_proto::{Label, Type};
use std::collections::BTreeSet;

const SNAPSHOT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proto/snapshot.txt");

/// One line per field and enum value, e.g. `sightline.v1.Point.x = 1 float singular`.
fn schema_lines() -> BTreeSet<String> {
    let set = FileDescriptorSet::decode(sightline_schemas::V1_DESCRIPTOR_SET).expect("descriptor set decodes");
    let mut lines = BTreeSet::new();
    for file in &set.file {
        let package = file.package();
        for message in &file.message_type {
            for field in &message.field {
                let type_name = match field.r#type() {
                    Type::Message | Type::Enum => field.type_name().trim_start_matches('.').to_owned(),
                    other => format!("{other:?}").to_lowercase(),
                };
                let label = match (field.label(), field.proto3_optional()) {
                    (Label::Repeated, _) => "repeated",
                    (_, true) => "optional",
                    _ => "singular",
                };
                lines.insert(format!(
                    "{package}.{}.{} = {} {type_name} {label}",
                    message.name(),
                    field.name(),
                    field.number()
                ));
            }
        }
        for enumeration in &file.enum_type {
            for value in &enumeration.value {
                lines.insert(format!("{package}.{}.{} = {}", enumeration.name(), value.name(), value.number()));
            }
        }
    }
    lines
}

#[test]
fn schema_only_grows() {
    let current = schema_lines();
    let snapshot_text = std::fs::read_to_string(SNAPSHOT_PATH).unwrap_or_default();
    let snapshot: BTreeSet<String> = snapshot_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();

    let broken: Vec<&String> = snapshot.difference(&current).collect();
    assert!(
        broken.is_empty(),
        "fields were removed, renumbered, renamed or retyped; consumers depend on them (reserve the \
         number and add a new field instead):\n{broken:#?}"
    );

    let added: Vec<&String> = current.difference(&snapshot).collect();
    if added.is_empty() {
        return;
    }
    if std::env::var_os("UPDATE_SCHEMA_SNAPSHOT").is_some() {
        let mut text = snapshot_text;
        for line in &added {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(SNAPSHOT_PATH, text).expect("snapshot written");
    } else {
        panic!("new fields are not in the snapshot yet; record them with UPDATE_SCHEMA_SNAPSHOT=1:\n{added:#?}");
    }
}

#[test]
fn snapshot_detects_a_renumbered_field() {
    // The check above is a set difference; make sure a renumbering really shows up as one.
    let current = schema_lines();
    let line = current.iter().find(|l| l.contains("DetectionEvent.event_id")).expect("field present");
    assert!(line.ends_with("= 2 string singular"), "{line}");
    let renumbered = line.replace("= 2 ", "= 99 ");
    assert!(!current.contains(&renumbered));
}
