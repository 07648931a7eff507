//! `sightline-admin`: one-off administration of a Sightline deployment.
//!
//! - `topics`: creates the configured topics (partitions, replication, retention) that are missing;
//! - `topics delete NAME`: deletes one topic, unless the broker is one that would delete them all
//!   (`topic_deletion`, see `infra/tansu/README.md`);
//! - `migrate clickhouse`: applies the warehouse DDL migrations;
//! - `migrate postgres`: applies the relational migrations;
//! - `token create --name NAME --role ROLE [--expires-in-days N]`: issues an API token and prints it
//!   (only its hash is stored); `token list`; `token revoke ID`;
//! - `user create --username NAME --role ROLE`, `user password NAME`: a web app account, the password
//!   read from standard input (one line); `user list`; `user disable NAME`, `user enable NAME`;
//! - `tail detections|events`: prints the newest events of a topic, decoded, one line each;
//! - `group skip --group G --topic T --partition P --offset O --reason TEXT`: moves a consumer group
//!   past one record the broker accepts but cannot serve (its readiness names the partition and
//!   offset), after recording the skip as a dead letter (reason `skipped`) on `--dlq-topic`. Stop
//!   the group's members first.
//!
//! Settings come from `--config` (default `infra/config/admin.toml`) overlaid by `SIGHTLINE_ADMIN__*`
//! environment variables.

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use sightline_common::auth::Role;
use sightline_common::kafka::{KafkaSettings, TopicDeletion, TopicSpec};
use sightline_common::warehouse::ClickHouseSettings;
use std::path::PathBuf;

mod tail;
use tail::TailTopic;

#[derive(Parser)]
#[command(name = "sightline-admin", about = "Administration of a Sightline deployment")]
struct Cli {
    /// Settings file (TOML).
    #[arg(long, env = "SIGHTLINE_ADMIN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the configured topics that are missing, or delete one.
    Topics {
        #[command(subcommand)]
        action: Option<TopicsAction>,
    },
    /// Apply pending migrations.
    Migrate {
        #[command(subcommand)]
        target: MigrateTarget,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Manage the web app's user accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Consumer groups.
    Group {
        #[command(subcommand)]
        action: GroupAction,
    },
    /// Print the events of a topic, decoded, one line each.
    Tail {
        /// Which topic.
        #[arg(value_enum)]
        topic: TailTopic,
        /// Stop after this many events.
        #[arg(long, default_value_t = 20)]
        count: usize,
        /// Stop when no event arrives for this many seconds.
        #[arg(long, default_value_t = 5)]
        idle_seconds: u64,
        /// Read from the start of the topic instead of waiting for new events.
        #[arg(long)]
        from_beginning: bool,
        /// Only the events of this stream id.
        #[arg(long)]
        stream: Option<String>,
        /// Stop after this many reports that end a track (a track is reported while it lasts, then
        /// once when it ends).
        #[arg(long)]
        until_ended: Option<usize>,
    },
}

#[derive(Subcommand)]
enum GroupAction {
    /// Move a group past one record it cannot read, recording the skip as a dead letter. The group's
    /// members must be stopped; the group must be at exactly that offset.
    Skip {
        /// The consumer group (a service's `group_id`).
        #[arg(long)]
        group: String,
        /// The topic it reads.
        #[arg(long)]
        topic: String,
        /// The partition that does not move.
        #[arg(long)]
        partition: i32,
        /// The offset it is stuck at (as its service's /readyz says).
        #[arg(long)]
        offset: i64,
        /// Where the record of the skip goes.
        #[arg(long, default_value = "sightline.dlq.v1")]
        dlq_topic: String,
        /// Why, for the record (e.g. the ticket).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum TopicsAction {
    /// Create the configured topics that are missing (the default).
    Create,
    /// Delete one topic with all its records (refused where the broker would delete more; see
    /// `topic_deletion`).
    Delete {
        /// The topic.
        name: String,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Issue a new token and print it.
    Create {
        /// Who or what the token is for.
        #[arg(long)]
        name: String,
        /// admin, operator, analyst or viewer.
        #[arg(long)]
        role: Role,
        /// Days until the token expires (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List the tokens (never their secrets): id, state, role, name, expiry.
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id (`token list`).
        id: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user; the password is read from standard input.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// admin, operator, analyst or viewer.
        #[arg(long)]
        role: Role,
    },
    /// Set a user's password (read from standard input); ends their sessions.
    Password {
        /// Login name.
        username: String,
    },
    /// List the users.
    List,
    /// Disable a user: they cannot log in and their sessions end.
    Disable {
        /// Login name.
        username: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        username: String,
    },
}

#[derive(Subcommand)]
enum MigrateTarget {
    /// ClickHouse warehouse DDL.
    Clickhouse,
    /// PostgreSQL schema.
    Postgres,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct AdminSettings {
    kafka: KafkaSettings,
    clickhouse: ClickHouseSettings,
    /// PostgreSQL connection URL.
    postgres_url: String,
    topics: Vec<TopicSpec>,
    /// Whether `topics delete` may run on this broker (`auto`: refused on tansu's published build).
    topic_deletion: TopicDeletion,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            clickhouse: ClickHouseSettings::default(),
            postgres_url: "postgres://sightline:sightline@localhost:5432/sightline".into(),
            topics: Vec::new(),
            topic_deletion: TopicDeletion::Auto,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sightline_common::telemetry::init();
    let cli = Cli::parse();
    let settings: AdminSettings = sightline_common::config::load("admin", cli.config.as_deref())?;
    match cli.command {
        Command::Topics { action: Some(TopicsAction::Delete { name }) } => {
            sightline_common::kafka::delete_topic(&settings.kafka, &name, settings.topic_deletion)
                .await
                .with_context(|| format!("deleting topic {name} on {}", settings.kafka.brokers))?;
            println!("topic {name} deleted");
        }
        Command::Topics { action: None | Some(TopicsAction::Create) } => {
            anyhow::ensure!(!settings.topics.is_empty(), "no [[topics]] configured");
            sightline_common::kafka::ensure_topics(&settings.kafka, &settings.topics)
                .await
                .with_context(|| format!("creating topics on {}", settings.kafka.brokers))?;
            for topic in &settings.topics {
                println!("topic {} ({} partitions, retention.ms {})", topic.name, topic.partitions, topic.retention_ms);
            }
        }
        Command::Migrate { target: MigrateTarget::Clickhouse } => {
            let applied = sightline_common::warehouse::migrate(&settings.clickhouse)
                .await
                .with_context(|| format!("migrating clickhouse at {}", settings.clickhouse.url))?;
            println!("clickhouse {}: applied {applied:?}", settings.clickhouse.database);
        }
        Command::Migrate { target: MigrateTarget::Postgres } => {
            sightline_common::relational::migrate(&settings.postgres_url).await.context("migrating postgres")?;
            println!("postgres: migrations up to date");
        }
        Command::Token { action } => {
            let pool = sightline_common::relational::migrate(&settings.postgres_url).await.context("postgres")?;
            token_command(&pool, action).await?;
        }
        Command::User { action } => {
            let pool = sightline_common::relational::migrate(&settings.postgres_url).await.context("postgres")?;
            user_command(&pool, action).await?;
        }
        Command::Group { action: GroupAction::Skip { group, topic, partition, offset, dlq_topic, reason } } => {
            let by = std::env::var("USER").unwrap_or_else(|_| "an operator".into());
            let source = sightline_common::kafka::SourcePosition { topic: &topic, partition, offset };
            sightline_common::kafka::skip_record(&settings.kafka, &group, source, &dlq_topic, &reason, &by)
                .await
                .with_context(|| format!("skipping {topic}[{partition}]@{offset} for group {group}"))?;
            println!("group {group} moved past {topic}[{partition}]@{offset}; the skip is recorded on {dlq_topic}");
        }
        Command::Tail { topic, count, idle_seconds, from_beginning, stream, until_ended } => {
            let idle = std::time::Duration::from_secs(idle_seconds);
            let options = tail::TailOptions { count, idle, from_beginning, stream, until_ended };
            tail::run(&settings.kafka, topic, options).await?;
        }
    }
    Ok(())
}

async fn token_command(pool: &sqlx::PgPool, action: TokenAction) -> anyhow::Result<()> {
    use sightline_common::auth;
    match action {
        TokenAction::Create { name, role, expires_in_days } => {
            let expires_ms =
                expires_in_days.map(|days| sightline_common::clock::now_ms() + i64::from(days) * 86_400_000);
            let issued = auth::issue(pool, &name, role, expires_ms).await.context("storing the token")?;
            println!("{}", issued.token);
        }
        TokenAction::List => {
            for token in auth::list_tokens(pool).await.context("listing tokens")? {
                let expires = token.expires_ms.map_or_else(|| "never".to_owned(), sightline_common::clock::format_time);
                println!("{}  {:<7}  {:<8}  expires {expires}  {}", token.id, token.state, token.role, token.name);
            }
        }
        TokenAction::Revoke { id } => {
            anyhow::ensure!(auth::revoke(pool, id).await.context("revoking")?, "no token {id}");
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// A password read from standard input (its first line, without the line break).
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn user_id(pool: &sqlx::PgPool, username: &str) -> anyhow::Result<uuid::Uuid> {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await?
        .with_context(|| format!("no user {username:?}"))
}

async fn user_command(pool: &sqlx::PgPool, action: UserAction) -> anyhow::Result<()> {
    use sightline_common::accounts::{self, UserChange};
    match action {
        UserAction::Create { username, role } => {
            let password = password_from_stdin()?;
            let id = accounts::create_user(pool, &username, &password, role).await?;
            println!("user {username} ({}) created: {id}", role.as_str());
        }
        UserAction::Password { username } => {
            let password = password_from_stdin()?;
            let change = UserChange { password: Some(password), ..Default::default() };
            accounts::update_user(pool, user_id(pool, &username).await?, change).await?;
            println!("password of {username} changed; their sessions ended");
        }
        UserAction::List => {
            for user in accounts::list_users(pool).await? {
                let state = if user.disabled { "disabled" } else { "active" };
                println!(
                    "{}  {:<8}  {:<8}  sessions {}  {}",
                    user.id, state, user.role, user.active_sessions, user.username
                );
            }
        }
        UserAction::Disable { username } => set_disabled(pool, &username, true).await?,
        UserAction::Enable { username } => set_disabled(pool, &username, false).await?,
    }
    Ok(())
}

async fn set_disabled(pool: &sqlx::PgPool, username: &str, disabled: bool) -> anyhow::Result<()> {
    use sightline_common::accounts::{self, UserChange};
    let change = UserChange { disabled: Some(disabled), ..Default::default() };
    accounts::update_user(pool, user_id(pool, username).await?, change).await?;
    println!("user {username} {}", if disabled { "disabled" } else { "enabled" });
    Ok(())
}
