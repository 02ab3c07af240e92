// Package webhooktest holds the end-to-end tests of alert webhooks: the
// dispatcher, the PostgreSQL outbox and the HTTP delivery workers wired as
// the projector process wires them, against a throwaway PostgreSQL
// database and httptest receivers on loopback (allowed through the SSRF
// guard's allow list), plus the load measurement of docs/benchmarks.md.
package webhooktest
