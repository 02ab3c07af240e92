-- +goose Up
-- Item keys (see 00008) by the time they were recorded instead of the UTC
-- day, so that partitions can be narrower than a day: a de-duplication
-- horizon of minutes (FLEETPULSE_DEDUP_HORIZON) is then dropped while the
-- system runs instead of a day later. The event store makes and drops the
-- partitions (telemetry_item_keys_<from>_<to>, UTC, YYYYMMDDHHMM), their
-- width derived from the horizon (eventstore.ItemKeyPartitionWidth).
--
-- A partition key cannot be changed in place, and copying a week of keys
-- (billions of rows at full rate) would hold up an upgrade, so the keys
-- recorded before this migration stay where they are: the event store
-- keeps searching telemetry_item_ids as long as it has a day partition,
-- and drops its days once they are past the horizon, as before. New keys
-- go here only. An event store of an older version still running after
-- the upgrade keeps recording into telemetry_item_ids, which is searched,
-- but does not search this table: a repeat it receives of an item a newer
-- one recorded would be stored twice, so replace all of them together.
CREATE TABLE telemetry_item_keys (
    item_key    uuid NOT NULL,
    recorded_at timestamptz NOT NULL
) PARTITION BY RANGE (recorded_at);
CREATE INDEX telemetry_item_keys_key_idx ON telemetry_item_keys (item_key);

-- +goose Down
-- Keys recorded since the upgrade are lost: an item sent again after a
-- downgrade would be stored twice.
DROP TABLE telemetry_item_keys;
