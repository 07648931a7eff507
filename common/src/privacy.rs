//! The `[privacy]` settings section, the same in every service of a deployment (docs/privacy.md):
//! whether biometric fields are sealed on the wire, where the key-encryption key comes from, and how
//! long each class of data is kept.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Deployment;
use crate::keys::{Kek, KeyRing, KeyStore};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the protection of biometric data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacySettings {
    /// Seal face images, descriptors and identities on the wire with a key of their track (on by
    /// default; off only to measure what the protection costs, `make bench-privacy`).
    pub seal: bool,
    /// File holding the key-encryption key (64 hex digits), from the deployment's secrets. Empty:
    /// the development key, which a `production` deployment refuses.
    pub kek_file: String,
    /// How long a consumer keeps a data key it unwrapped, or the fact that a key is gone, in memory:
    /// the longest a destroyed key can still open a field in a running service.
    pub key_cache_secs: u64,
    /// How long each class of data is kept.
    pub retention: RetentionSettings,
    /// How often retention runs (one instance at a time), seconds.
    pub retention_every_secs: u64,
    /// How long a service waits after it starts before it first looks whether retention is due,
    /// seconds: a service in a restart loop does not run it over and over, and a new deployment
    /// (or a test's services, which live minutes) keeps what it was given for that long.
    pub retention_start_delay_secs: u64,
}

impl Default for PrivacySettings {
    fn default() -> Self {
        Self {
            seal: true,
            kek_file: String::new(),
            key_cache_secs: 60,
            retention: RetentionSettings::default(),
            retention_every_secs: 3_600,
            retention_start_delay_secs: 600,
        }
    }
}

/// Retention per data class, in days (docs/privacy.md, section 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Best shots, snapshots and alert scenes of faces that matched no watchlist.
    pub face_images_unmatched_days: u32,
    /// ... of faces that matched a watchlist.
    pub face_images_matched_days: u32,
    /// Descriptors of faces that matched no watchlist.
    pub descriptors_unmatched_days: u32,
    /// Descriptors of faces that matched a watchlist.
    pub descriptors_matched_days: u32,
    /// Matches: list, person, name, similarity.
    pub identities_days: u32,
    /// Times, boxes, streams and kinds of tracks, without biometrics.
    pub track_metadata_days: u32,
    /// Hourly counts and analytics.
    pub aggregates_days: u32,
    /// Alerts, their deliveries and the desk's log.
    pub alerts_days: u32,
    /// The audit log.
    pub audit_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            face_images_unmatched_days: 7,
            face_images_matched_days: 90,
            descriptors_unmatched_days: 7,
            descriptors_matched_days: 90,
            identities_days: 90,
            track_metadata_days: 400,
            aggregates_days: 1_095,
            alerts_days: 180,
            audit_days: 730,
        }
    }
}

/// Why the key-encryption key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// A production deployment must name its key.
    #[error(
        "deployment = \"production\" but privacy.kek_file is empty; mount the deployment's key-encryption key and name it"
    )]
    Missing,
    /// The file could not be read.
    #[error("reading the key-encryption key {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold 64 hex digits.
    #[error("the key-encryption key {0} must hold 64 hex digits (32 bytes)")]
    Malformed(String),
    /// The key could not be set up.
    #[error("the key-encryption key: {0}")]
    Key(#[from] crate::keys::KeyError),
}

impl PrivacySettings {
    /// The key-encryption key's 32 bytes: read from `kek_file`, or the development key (a fixed,
    /// published value: it protects nothing, and `production` refuses it).
    pub fn kek_bytes(&self, deployment: Deployment) -> Result<[u8; 32], KekError> {
        if self.kek_file.is_empty() {
            if deployment == Deployment::Production {
                return Err(KekError::Missing);
            }
            return Ok(Sha256::digest(b"sightline development key-encryption key").into());
        }
        let text = std::fs::read_to_string(&self.kek_file)
            .map_err(|source| KekError::Read { path: self.kek_file.clone(), source })?;
        parse_hex_key(text.trim()).ok_or_else(|| KekError::Malformed(self.kek_file.clone()))
    }
}

impl PrivacySettings {
    /// The track keys in `pool`, wrapped by the deployment's key-encryption key.
    pub fn key_store(&self, deployment: Deployment, pool: PgPool) -> Result<Arc<KeyStore>, KekError> {
        let kek = Kek::new(&self.kek_bytes(deployment)?)?;
        Ok(Arc::new(KeyStore::new(pool, kek)))
    }

    /// A consumer's ring of keys over `store`, keeping them `key_cache_secs`.
    pub fn key_ring(&self, store: Arc<KeyStore>) -> KeyRing {
        KeyRing::new(store, Duration::from_secs(self.key_cache_secs))
    }
}

/// 64 hex digits as 32 bytes.
fn parse_hex_key(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_comes_from_the_deployments_file_and_production_refuses_none() {
        let settings = PrivacySettings::default();
        assert!(settings.kek_bytes(Deployment::Development).is_ok());
        assert!(matches!(settings.kek_bytes(Deployment::Production), Err(KekError::Missing)));
        let dir = std::env::temp_dir().join(format!("sightline-kek-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("kek");
        std::fs::write(&file, format!("{}\n", "0f".repeat(32))).expect("write");
        let settings = PrivacySettings { kek_file: file.display().to_string(), ..Default::default() };
        assert_eq!(settings.kek_bytes(Deployment::Production).expect("key"), [0x0f; 32]);
        std::fs::write(&file, "not a key").expect("write");
        assert!(matches!(settings.kek_bytes(Deployment::Production), Err(KekError::Malformed(_))));
        let _ = std::fs::remove_dir_all(dir);
    }
}
