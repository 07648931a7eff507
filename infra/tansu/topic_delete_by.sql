-- Sightline's fix of tansu-storage 0.6.0's src/sql/topic_delete_by.sql (see infra/tansu/README.md).
-- Deletes the one topic named $2 in the cluster named $1. Upstream's statement selected the topic's
-- cluster and deleted every topic of that cluster.

delete from topic
where topic.id in (
    select t.id
    from cluster c
    join topic t on t.cluster = c.id
    where c.name = $1
    and t.name = $2
);
