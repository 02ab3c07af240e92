// Package faulttest holds tests that kill and restart fleetpulse's processes
// and its database to check what fleetpulse promises: the real command-api,
// projector and read-api binaries run as subprocesses on 127.0.0.1, get
// SIGKILLed and SIGTERMed at random moments, and lose their PostgreSQL
// server mid-traffic; the tests then compare the event log and the read
// models with what every client was told. A real Prometheus also scrapes
// them (metrics_test.go): every series the Grafana dashboard reads is there,
// and a projector stalled behind a lock shows a lag that keeps growing. The
// package has no code of its own, only tests (see docs/reliability.md for
// the promises they check).
package faulttest
