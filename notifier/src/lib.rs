//! The Sightline notifier: real-time watchlist alerts.
//!
//! It reads `sightline.events.v1` in its own consumer group and, for face reports that match a
//! watchlist, raises alerts by the rules operators manage over its REST API. One stage per module,
//! wired in `main.rs`:
//! - [`rules`]: the rules (PostgreSQL), validated, kept current in memory; [`targets`]: which webhook
//!   targets may be called;
//! - [`raise`]: the consumer stage; at most one alert per rule and track, none inside a rule's
//!   cooldown, stored with its deliveries before anything is sent (so crashes, restarts and replays
//!   neither lose nor repeat an alert);
//! - [`scene`]: each new alert's scene, the camera's frame with the person outlined;
//! - [`deliver`]: the delivery loop over the outbox, through the [`channels`] (webhook, email,
//!   Kafka), recording every attempt and retrying with the shared backoff; [`live`]: the live feed;
//! - [`api`]: rules and the live feed; [`desk`]: alerts paged and filtered, with their deliveries,
//!   attempts and the steps the person on duty takes (acknowledge, resolve, retry); [`metrics`].

pub mod alert;
pub mod api;
pub mod channels;
pub mod deliver;
pub mod desk;
pub mod images;
pub mod live;
pub mod metrics;
pub mod raise;
pub mod rules;
pub mod scene;
pub mod settings;
pub mod targets;
