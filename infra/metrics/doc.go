// Package metrics holds the Prometheus series fleetpulse's processes expose
// beyond one adapter's own: event-store appends through any store
// (InstrumentAppends), a pgx pool's statistics (NewPoolCollector), how far
// each projection's checkpoint is behind the head of the event log
// (NewProjectionCollector), and the fleet's silent devices
// (NewDeviceCollector). Series measured inside an adapter live beside it:
// group commit in infra/postgres/eventstore, the command bus in infra/bus,
// the MQTT bridge in infra/mqttbridge, the alert evaluator in
// infra/alerting, HTTP requests in infra/httpx.
//
// Every process registers them on its own registry (httpx.NewRegistry);
// nothing here touches Prometheus's global one. Names follow Prometheus's
// conventions: the unit in the name, _total on counters, histograms for
// latencies. deploy/grafana/fleetpulse.json and
// deploy/prometheus/rules.yml are built on them.
//
// Read-cache hits are not here yet: the read API's cache is being added
// separately, and its hit and miss counters belong beside it.
package metrics
