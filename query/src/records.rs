//! Records of processing (docs/privacy.md, section 4): what Sightline keeps about people, where, for
//! how long and who can read it, generated from the deployment's `[privacy]` settings as a Markdown
//! document an operator hands to a data-protection officer (GDPR article 30). The document states
//! the settings in force when it was made; the parts only the operator knows (controller, purpose,
//! legal basis, sites) are left as fields to fill in.

use crate::api::PrivacyView;
use std::fmt::Write as _;

/// Who reads faces, names and matches.
const PEOPLE_READERS: &str = "analysts, operators, admins";
/// Who reads counts only.
const EVERY_ROLE: &str = "every role (viewers included)";

/// One class of data.
struct Class {
    name: &'static str,
    what: &'static str,
    stores: &'static str,
    period: String,
    readers: &'static str,
}

fn days(days: u32) -> String {
    match days {
        1 => "1 day".to_owned(),
        d => format!("{d} days"),
    }
}

fn classes(view: &PrivacyView) -> Vec<Class> {
    let r = &view.retention;
    vec![
        Class {
            name: "Face images",
            what: "best shots of faces, alert scenes, watchlist enrolment pictures",
            stores: "the object store (best shots sealed, alert scenes, enrolment pictures), their \
                     keys in ClickHouse `best_shot_jpegs` and PostgreSQL alerts and `person_descriptors`; \
                     Kafka detections (sealed)",
            period: format!(
                "{} if the face matched no watchlist, {} if it matched; enrolments until the person \
                 is removed or erased",
                days(r.face_images_unmatched_days),
                days(r.face_images_matched_days)
            ),
            readers: PEOPLE_READERS,
        },
        Class {
            name: "Face descriptors",
            what: "templates computed from faces (vectors), their search sketches",
            stores: "ClickHouse `events`, `face_descriptors`, `face_sketches`; PostgreSQL \
                     `person_descriptors` (enrolment); Kafka events (sealed)",
            period: format!(
                "{} if the face matched no watchlist, {} if it matched",
                days(r.descriptors_unmatched_days),
                days(r.descriptors_matched_days)
            ),
            readers: "no one directly; used by the face search (analysts, operators, admins)",
        },
        Class {
            name: "Identities",
            what: "watchlist matches: list, person, name, external id, similarity",
            stores: "ClickHouse `matches`, `tracks`, `identified_tracks`; PostgreSQL alerts; Kafka events \
                     and alerts (sealed)",
            period: days(r.identities_days),
            readers: PEOPLE_READERS,
        },
        Class {
            name: "Track metadata",
            what: "when and where a person or a face was seen (times, boxes, streams), without biometrics",
            stores: "ClickHouse `events`, `tracks`, `event_keys`; Kafka detections and events",
            period: days(r.track_metadata_days),
            readers: PEOPLE_READERS,
        },
        Class {
            name: "Aggregates",
            what: "hourly counts of people and faces per stream, analytics",
            stores: "ClickHouse `track_hour_sets`",
            period: days(r.aggregates_days),
            readers: EVERY_ROLE,
        },
        Class {
            name: "Alerts",
            what: "watchlist alerts with their deliveries (webhook, e-mail, live feed) and the desk's log",
            stores: "PostgreSQL `alerts`, `alert_deliveries`, the desk's log",
            period: days(r.alerts_days),
            readers: PEOPLE_READERS,
        },
        Class {
            name: "Audit records",
            what: "who looked at or changed biometric data: image views, face searches, exports, \
                   scheduled mails, watchlist changes, erasures, retention runs",
            stores: "PostgreSQL `audit_log` (append-only)",
            period: days(r.audit_days),
            readers: "admins",
        },
    ]
}

/// The records of processing for `view`, made at `generated` (an RFC 3339 time).
pub fn records_of_processing(view: &PrivacyView, generated: &str) -> String {
    let mut doc = String::new();
    let _ = writeln!(doc, "# Records of processing: Sightline\n");
    let _ = writeln!(doc, "Generated {generated} from the deployment's `[privacy]` settings.\n");
    let _ = writeln!(doc, "## To be completed by the controller\n");
    for field in [
        "Controller and contact",
        "Data-protection officer",
        "Purposes of the processing",
        "Legal basis (and the exception under article 9 for biometric data)",
        "Sites and cameras covered",
        "Categories of data subjects (visitors, staff, listed persons)",
        "Recipients outside the organisation (webhooks, e-mail, Kafka consumers)",
    ] {
        let _ = writeln!(doc, "- **{field}:** ");
    }
    let _ = writeln!(doc, "\n## Categories of data, stores and time limits\n");
    let _ = writeln!(doc, "| Data | What | Where it is kept | Kept for | Who can read it |");
    let _ = writeln!(doc, "|---|---|---|---|---|");
    for class in classes(view) {
        let _ = writeln!(
            doc,
            "| {} | {} | {} | {} | {} |",
            class.name, class.what, class.stores, class.period, class.readers
        );
    }
    let _ = writeln!(doc, "\n## Technical and organisational measures\n");
    let sealing = if view.seal {
        "Face images, descriptors and identities travel sealed on the Kafka topics (AES-256-GCM), with a \
         key per track and class held in PostgreSQL"
    } else {
        "**Sealing is off**: face images, descriptors and identities travel in clear on the Kafka topics"
    };
    let key = if view.key_source == "deployment" {
        "wrapped by a key-encryption key from the deployment's secrets"
    } else {
        "**wrapped by the published development key, which protects nothing**"
    };
    let _ = writeln!(doc, "- {sealing}; track keys are {key}.");
    let _ = writeln!(
        doc,
        "- Expiry and erasure destroy a track's keys, so every copy on the topics, the dead-letter \
         topic and any replay becomes unreadable; the clear copies in ClickHouse and PostgreSQL are \
         deleted. A running service may hold a key for up to {} s after it is destroyed.",
        view.key_cache_secs
    );
    let _ =
        writeln!(doc, "- Retention runs every hour; admins can run it at once and see each run on the Privacy screen.");
    let _ = writeln!(
        doc,
        "- Erasure of a person (by watchlist entry, photo or tracks) is done by admins, with a preview, a \
         stated reason and a receipt in the audit log."
    );
    let _ = writeln!(
        doc,
        "- Roles: viewers see counts, and camera frames only with every face blurred (on the streams set \
         to show them); analysts and operators see people; admins also read the \
         audit log and erase. Every look at a face image, face search, export and scheduled mail is \
         recorded in the audit log, which the services can only append to."
    );
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(seal: bool, key_source: &str) -> PrivacyView {
        PrivacyView {
            seal,
            key_source: key_source.into(),
            key_cache_secs: 60,
            retention: sightline_common::privacy::RetentionSettings::default(),
        }
    }

    #[test]
    fn the_document_states_the_periods_in_force() {
        let mut settings = view(true, "deployment");
        settings.retention.face_images_unmatched_days = 3;
        settings.retention.audit_days = 1;
        let doc = records_of_processing(&settings, "2026-12-07T00:00:00Z");
        assert!(doc.contains("| Face images |"), "{doc}");
        assert!(doc.contains("3 days if the face matched no watchlist, 90 days if it matched"), "{doc}");
        assert!(doc.contains("| Audit records |") && doc.contains("| 1 day | admins |"), "{doc}");
        assert!(doc.contains("travel sealed") && !doc.contains("protects nothing"), "{doc}");
    }

    #[test]
    fn weak_protection_is_said_in_bold() {
        let doc = records_of_processing(&view(false, "development"), "2026-12-07T00:00:00Z");
        assert!(doc.contains("**Sealing is off**"), "{doc}");
        assert!(doc.contains("**wrapped by the published development key"), "{doc}");
    }
}
