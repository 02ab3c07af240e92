// Package commands holds fleetpulse's write side: one command type and one
// handler per use case. A handler loads what its decision needs, lets the
// domain decide, and appends the resulting events to the event store.
package commands
