// Package deploy holds checks of the container deployment files at the
// repository root, and the Mosquitto settings docker-compose.yml mounts
// (mosquitto.conf).
//
// Dockerfile and docker-compose.yml cannot be exercised where no Docker
// engine runs, so the tests parse them instead and check what a typo would
// silently break: every service a process needs is there, every
// environment variable is one infra/config reads, every binary a service
// runs is built and copied into the image, and every process has a health
// check and waits for what it depends on (deploy_test.go); one image is
// built once and run by every fleetpulse service, a Mosquitto broker serves
// the MQTT bridge, only the two APIs are published and on loopback,
// PostgreSQL starts with the laptop settings beside the production ones, and
// secrets come from the env file (compose_test.go); the build context holds
// what `go build` reads and nothing else, by Docker's own matcher, and no
// binary is committed (dockerignore_test.go).
//
// The monitoring files under deploy/ are checked here too: the Prometheus
// alert rules with promtool (checked, and unit-tested by
// deploy/prometheus/rules_test.yml) and the Grafana dashboard's structure
// (metrics_test.go). ReadDashboard gives other tests the dashboard's
// expressions and series: infra/faulttest runs them against a real
// Prometheus scraping the real services.
package deploy
