// Package commands holds fleetpulse's write side: one command type and one
// handler per use case, each in a file named after it (register_station.go,
// record_measurements.go, ...). Application lists every handler, so the
// whole write surface is visible in application.go. A handler checks its
// caller, loads what its decision needs (the short device stream, never
// telemetry history), lets the domain decide, and appends the resulting
// events to the event store.
//
// The rules every handler keeps:
//   - Only an operator may run a command, except that a device may record
//     its own telemetry. A caller without a valid token is unauthenticated;
//     a valid device token anywhere else is forbidden (caller.go).
//   - Device streams change with optimistic concurrency: a stale expected
//     version is a conflict, and a registration never overwrites an existing
//     id of either kind (lifecycle.go).
//   - A telemetry batch is checked as a whole before anything is stored, and
//     each item is stored under an event id derived from its device and client
//     id, so a repeated item is a duplicate, counted and not stored again
//     (telemetry.go).
//
// The twins (station and vehicle registration, update, decommission and
// telemetry) share one function each and differ only in the domain decision
// they call. The ports the package needs from an event store are in
// eventstore.go; infra/memstore is an in-memory one the tests of these rules
// run against.
package commands
