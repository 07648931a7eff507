//! The object store module (`common::objects`) on the local stack's Garage: objects are stored, read,
//! listed and deleted by prefix (how retention expires them); while the store is paused for 20 s,
//! its check says it is unavailable, writes wait and are retried, and none is lost.

// Test code: a failed expectation is a failed test (the workspace lints refuse these elsewhere).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use sightline_common::config::Deployment;
use sightline_common::objects::{ObjectError, ObjectStore, ObjectStoreSettings};
use std::time::{Duration, Instant};

/// The local stack's store, with the shipped settings.
fn store() -> anyhow::Result<ObjectStore> {
    let mut settings = ObjectStoreSettings::default();
    if let Ok(endpoint) = std::env::var("SIGHTLINE_S3_ENDPOINT") {
        settings.endpoint = endpoint;
    }
    Ok(ObjectStore::new(&settings, Deployment::Development)?)
}

/// Sends `signal` to the local stack's Garage.
fn signal_garage(signal: &str) -> anyhow::Result<()> {
    let pid_file = std::env::var("SIGHTLINE_GARAGE_PID_FILE")?;
    let pid = std::fs::read_to_string(&pid_file)?;
    let status = std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.trim()).status()?;
    anyhow::ensure!(status.success(), "kill -{signal} {pid}");
    Ok(())
}

/// Resumes Garage when dropped, whatever happened meanwhile.
struct Paused;

impl Paused {
    fn garage() -> anyhow::Result<Self> {
        signal_garage("STOP")?;
        Ok(Self)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = signal_garage("CONT");
    }
}

// One test: the pause must not meet another test's reads.
#[tokio::test]
async fn objects_are_kept_through_a_store_paused_for_20_s() -> anyhow::Result<()> {
    let store = store()?;
    store.check().await?;
    let prefix = format!("test/objects-{}/", uuid::Uuid::new_v4().simple());

    // Stored, read back, listed and deleted by prefix.
    let bytes = |i: u8| vec![i; 1000 + usize::from(i)];
    for (key, i) in [("a/1", 1), ("a/2", 2), ("b/1", 3)] {
        store.put(&format!("{prefix}{key}"), bytes(i), "application/octet-stream").await?;
    }
    assert_eq!(store.get(&format!("{prefix}a/2")).await?, Some(bytes(2)));
    assert_eq!(store.get(&format!("{prefix}a/3")).await?, None, "a key never stored");
    let mut listed = store.list(&prefix).await?;
    listed.sort();
    assert_eq!(listed, ["a/1", "a/2", "b/1"].map(|k| format!("{prefix}{k}")));
    assert_eq!(store.delete_prefix(&format!("{prefix}a/")).await?, 2);
    assert_eq!(store.get(&format!("{prefix}a/1")).await?, None);
    assert_eq!(store.list(&prefix).await?, [format!("{prefix}b/1")]);

    // Paused for 20 s: the check says so, writes issued meanwhile wait and land once it is back.
    let paused = Paused::garage()?;
    let started = Instant::now();
    let writes: Vec<_> = (0..5u8)
        .map(|i| {
            let (store, key) = (store.clone(), format!("{prefix}during/{i}"));
            tokio::spawn(async move { store.put(&key, bytes(10 + i), "image/jpeg").await })
        })
        .collect();
    let checked = store.check().await;
    assert!(matches!(checked, Err(ObjectError::Unavailable(_))), "the check while paused: {checked:?}");
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(started.elapsed())).await;
    drop(paused);
    for write in writes {
        write.await??;
    }
    assert!(started.elapsed() >= Duration::from_secs(20), "the writes waited for the store");
    for i in 0..5u8 {
        assert_eq!(store.get(&format!("{prefix}during/{i}")).await?, Some(bytes(10 + i)), "write {i} kept");
    }
    store.check().await?;
    assert_eq!(store.delete_prefix(&prefix).await?, 6);
    assert!(store.list(&prefix).await?.is_empty());
    Ok(())
}
