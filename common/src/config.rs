//! Configuration from defaults, an optional TOML file and the environment, in that order of
//! precedence (the environment wins).
//!
//! Environment variables are `SIGHTLINE_<SERVICE>__<KEY>`, with `__` separating nested keys, e.g.
//! `SIGHTLINE_WRITER__KAFKA__BROKERS=127.0.0.1:9092`.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named file does not exist.
    #[error("config file {0} does not exist")]
    Missing(String),
    /// A value was malformed or of the wrong type; the message names the key and its source.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
}

/// Where a service runs: development (the local stack's defaults are fine) or production (they are
/// refused, see [`refuse_development_credentials`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deployment {
    /// The local stack: default credentials allowed.
    #[default]
    Development,
    /// Production: the service refuses to start with a development credential.
    Production,
}

/// The PostgreSQL credentials of the local stack (`sightline:sightline`), in every default URL.
pub const DEVELOPMENT_POSTGRES_CREDENTIALS: &str = "sightline:sightline@";

/// In production, refuses a PostgreSQL URL with the local stack's credentials and a ClickHouse
/// password that is empty; `postgres_url` and `clickhouse_password` are `None` where the service
/// uses neither. The error names the setting, so a forgotten environment file fails the start
/// instead of connecting with the development account.
pub fn refuse_development_credentials(
    deployment: Deployment,
    service: &str,
    postgres_url: Option<&str>,
    clickhouse_password: Option<&str>,
) -> Result<(), String> {
    if deployment != Deployment::Production {
        return Ok(());
    }
    let prefix = format!("SIGHTLINE_{}__", service.to_uppercase());
    if postgres_url.is_some_and(|url| url.contains(DEVELOPMENT_POSTGRES_CREDENTIALS) || !url.contains('@')) {
        return Err(format!(
            "deployment = \"production\" but postgres_url has the development credentials or none; set {prefix}POSTGRES_URL"
        ));
    }
    if clickhouse_password.is_some_and(str::is_empty) {
        return Err(format!(
            "deployment = \"production\" but clickhouse.password is empty; set {prefix}CLICKHOUSE__PASSWORD"
        ));
    }
    Ok(())
}

/// Loads `T`: its `Default`, overlaid by `file` (when given), overlaid by environment variables
/// starting with `SIGHTLINE_{service}__`.
pub fn load<T>(service: &str, file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::Missing(path.display().to_string()));
        }
        figment = figment.merge(Toml::file(path));
    }
    let prefix = format!("SIGHTLINE_{}__", service.to_uppercase());
    figment = figment.merge(Env::prefixed(&prefix).split("__"));
    figment.extract().map_err(|e| ConfigError::Invalid(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    struct Inner {
        brokers: String,
        partitions: u32,
    }

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    struct Sample {
        name: String,
        inner: Inner,
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure returns figment::Error by design.
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("sample.toml", "name = \"from-file\"\n[inner]\nbrokers = \"a:1\"\npartitions = 3\n")?;
            jail.set_env("SIGHTLINE_SAMPLE__INNER__BROKERS", "b:2");
            let loaded: Sample = load("sample", Some(Path::new("sample.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(loaded.name, "from-file");
            assert_eq!(loaded.inner, Inner { brokers: "b:2".into(), partitions: 3 });
            Ok(())
        });
    }

    #[test]
    fn production_refuses_development_credentials() {
        let local = "postgres://sightline:sightline@localhost:5432/sightline";
        let real = "postgres://svc:Long-Secret@db.internal:5432/sightline";
        assert_eq!(refuse_development_credentials(Deployment::Development, "query", Some(local), Some("")), Ok(()));
        let refused = refuse_development_credentials(Deployment::Production, "query", Some(local), Some("pw"));
        assert!(refused.is_err_and(|e| e.contains("SIGHTLINE_QUERY__POSTGRES_URL")));
        let refused = refuse_development_credentials(Deployment::Production, "query", Some(real), Some(""));
        assert!(refused.is_err_and(|e| e.contains("SIGHTLINE_QUERY__CLICKHOUSE__PASSWORD")));
        assert_eq!(refuse_development_credentials(Deployment::Production, "query", Some(real), Some("pw")), Ok(()));
        assert_eq!(refuse_development_credentials(Deployment::Production, "writer", None, Some("pw")), Ok(()));
    }

    #[test]
    fn missing_file_is_named() {
        let err = load::<Sample>("sample", Some(Path::new("/nonexistent/x.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.toml"));
    }
}
