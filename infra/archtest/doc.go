// Package archtest checks that imports point the way the design says:
// domain knows nothing, commands and projections know only domain, the
// read API never reaches the command side, an event store or a database
// driver (its PostgreSQL adapter depends on it, not the other way), and
// adapters under infra/ never import each other: they share plumbing and
// meet through the core's ports in the wiring (infra/service).
package archtest
