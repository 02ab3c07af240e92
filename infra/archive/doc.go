// Package archive moves old telemetry of the event log into Parquet files
// and reads it back. An Archiver takes sealed stretches of the log (older
// than a horizon, already applied by every checkpointed reader), writes
// each as one zstd-compressed Parquet file per UTC day of recording
// (year=/month=/day= keys) through a Bucket, reads the file back and
// checks it event by event, writes its manifest beside it, and only then
// lets the event store record the file and delete its events in one
// transaction. A Reader serves the archived events to the event store
// (eventstore.Archive), which merges them with the live log in log order.
//
// One row per station measurement or vehicle event: analysts read the
// files with DuckDB, Spark or Trino (docs/archive.md has the schema).
package archive
