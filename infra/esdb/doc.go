// Package esdb is the EventStoreDB event store: it implements the write
// side's commands.EventStore and the projections' EventLog and Waiter on
// EventStoreDB through EventStore-Client-Go/v4, with Head and a readiness
// Ping, as the production alternative to the PostgreSQL store in
// infra/postgres/eventstore.
//
// # Streams, versions and the log
//
// Stream versions are EventStoreDB stream revisions (the first event is 0).
// The global log is $all: domain.Position holds its commit and prepare
// positions, and ReadAfter returns the events after a position in $all
// order with system events (types starting with "$") left out. A reader of
// $all never sees a later position become visible before an earlier one,
// so the skip problem the PostgreSQL store solves with transaction ids does
// not arise here.
//
// # Idempotency: what is guaranteed, and its limits
//
// EventStoreDB deduplicates event ids only when the same append is retried
// identically; it does not report duplicates. To report them as the
// PostgreSQL store does (AppendResult.Duplicates, not stored again), the
// store keeps, per stream, the stream's revision and the ids of its latest
// events (at least the dedup window, default 256, and at least the whole
// last batch), filled by reading the stream's tail when the stream is not
// known yet. An append drops ids found there (and repeats within the batch)
// and writes the rest with the exact revision it checked against, even when
// the caller asked for any version: if another writer got in between, the
// append fails, the tail is read again and the append retried, so two
// concurrent writers of one stream cannot both store the same id.
//
// The guarantee: an id is never stored twice in one stream when its earlier
// copy is among the stream's latest max(window, batch size) events, which
// covers a device or a bus retrying its last batch. Not covered: an id that
// comes back after more than that many newer events in the stream; an id
// already stored in a different stream (PostgreSQL rejects those, this
// store does not look); and an any-version append that keeps losing the
// race for its stream after several retries, which is then written
// without the revision check. Such a rare duplicate is absorbed downstream:
// the read models are keyed by measurement / event id, so a second copy
// overwrites the first instead of counting twice.
//
// Telemetry batches (AppendTelemetry) are one event of the device's items
// not found among the stream's latest; the event's user metadata lists
// its items' keys (domain.TelemetryItemKey), which the tail read collects
// beside event ids, so an item id is found whichever batch stored it, and
// an item of the first log format (an event whose id is its key) too. The
// window then counts item keys: raise it (WithDedupWindow) to the items a
// device may repeat, where the PostgreSQL store keeps keys for a horizon of
// days. FindTelemetryItem reads the device's stream, newest first.
//
// Batches larger than EventStoreDB's maximum append size are written in
// several appends, each at the exact revision the previous one left; such a
// batch is therefore not atomic. If it fails half way, a retry of the same
// batch finds the written part as duplicates and stores only the rest.
//
// # Client pitfalls handled here
//
//   - An esdb.Client whose first connection fails (the server is not up
//     yet) is closed for good. The store creates its client lazily, on first
//     use, and replaces it when it reports closed or unavailable; a replaced
//     client is closed only after its last running call returns.
//   - Subscriptions never resubscribe by themselves: Wait's subscription is
//     restarted with backoff after a drop, and a polling interval covers
//     the gaps.
//   - ExpectedRevision defaults to Any: every append passes one explicitly.
//   - SubscribeToAll starts at the end unless told otherwise: the start is
//     set explicitly.
package esdb
