-- +goose Up
-- How many shares each partitioned projection runs as: each share's
-- projector owns the devices whose id hashes (FNV-1a) to its index modulo
-- this count, with its own checkpoint ("<projection>/share-<i>-of-<n>").
-- A projection without a row runs as one share (checkpoint "<projection>").
-- The count changes by a rebuild (fleetpulse rebuild -shares N), never by
-- starting projectors with another count.
CREATE TABLE projection_shares (
    projection text PRIMARY KEY,
    shares     integer NOT NULL CHECK (shares >= 1),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE projection_shares;
