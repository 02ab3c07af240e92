// Package archtest checks that imports point the way the design says:
// domain knows nothing, commands and projections know only domain, and the
// read API never reaches the command side or an event store.
package archtest
