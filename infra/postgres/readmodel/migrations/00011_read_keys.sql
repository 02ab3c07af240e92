-- +goose Up
-- Read API keys, projected from the read-key streams (readkey-<id>): the
-- read API looks a presented key up by its id and compares the hash. The
-- key itself is stored nowhere.
CREATE TABLE rm_read_keys (
    key_id     text PRIMARY KEY,
    name       text NOT NULL,
    devices    text[],               -- null: every device
    key_hash   bytea NOT NULL,       -- SHA-256 of the whole key
    created_at timestamptz NOT NULL,
    revoked_at timestamptz           -- null while the key works
);

-- +goose Down
DROP TABLE rm_read_keys;
