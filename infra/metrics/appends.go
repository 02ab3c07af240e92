package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// appendSeries are the series of appends to an event store.
type appendSeries struct {
	duration   *prometheus.HistogramVec
	events     *prometheus.CounterVec
	items      prometheus.Counter
	duplicates *prometheus.CounterVec
	conflicts  prometheus.Counter
	errors     *prometheus.CounterVec
}

// InstrumentAppends returns store with its appends measured on reg: latency
// by kind (append, telemetry) and outcome (ok, conflict, error), events
// and telemetry items stored, duplicates, version conflicts, and errors by
// domain code. Reads pass through, and so does commands.ItemFinder when
// store has it.
func InstrumentAppends(store commands.EventStore, reg prometheus.Registerer) commands.EventStore {
	s := &appendSeries{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fleetpulse_eventstore_append_duration_seconds", Help: "Time an append to the event store took, by kind (append, telemetry) and outcome (ok, conflict, error).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"kind", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetpulse_eventstore_appended_events_total", Help: "Events added to the log, by kind of append (a telemetry batch is one event)."},
			[]string{"kind"}),
		items: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetpulse_eventstore_appended_items_total", Help: "Telemetry items (measurements, vehicle events) stored."}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetpulse_eventstore_duplicates_total", Help: "Events or telemetry items not stored again because their id was already stored, by kind."},
			[]string{"kind"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fleetpulse_eventstore_append_conflicts_total", Help: "Appends refused because their stream was not at the expected version."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fleetpulse_eventstore_append_errors_total", Help: "Appends that failed for another reason than a version conflict, by domain error code."},
			[]string{"code"}),
	}
	reg.MustRegister(s.duration, s.events, s.items, s.duplicates, s.conflicts, s.errors)
	for _, kind := range []string{"append", "telemetry"} {
		s.events.WithLabelValues(kind)
		s.duplicates.WithLabelValues(kind)
	}
	// The server's own failures start at zero: a rate over them reads
	// "none" rather than "no data" on a healthy system.
	for _, code := range []string{domain.CodeUnavailable, domain.CodeInternal} {
		s.errors.WithLabelValues(code)
	}
	a := &appends{EventStore: store, s: s}
	if finder, ok := store.(commands.ItemFinder); ok {
		return appendsWithFinder{appends: a, ItemFinder: finder}
	}
	return a
}

type appends struct {
	commands.EventStore
	s *appendSeries
}

type appendsWithFinder struct {
	*appends
	commands.ItemFinder
}

func (a *appends) Append(ctx context.Context, stream string, expectedVersion int64, events []domain.EventData) (domain.AppendResult, error) {
	began := time.Now()
	res, err := a.EventStore.Append(ctx, stream, expectedVersion, events)
	a.s.observe("append", began, err)
	if err == nil {
		a.s.events.WithLabelValues("append").Add(float64(len(events) - len(res.Duplicates)))
		a.s.duplicates.WithLabelValues("append").Add(float64(len(res.Duplicates)))
	}
	return res, err
}

func (a *appends) AppendTelemetry(ctx context.Context, stream, eventID string, batch domain.TelemetryBatch) (domain.AppendResult, error) {
	began := time.Now()
	res, err := a.EventStore.AppendTelemetry(ctx, stream, eventID, batch)
	a.s.observe("telemetry", began, err)
	if err == nil {
		stored := len(batch.ItemIDs()) - len(res.Duplicates)
		if stored > 0 {
			a.s.events.WithLabelValues("telemetry").Inc()
		}
		a.s.items.Add(float64(stored))
		a.s.duplicates.WithLabelValues("telemetry").Add(float64(len(res.Duplicates)))
	}
	return res, err
}

func (s *appendSeries) observe(kind string, began time.Time, err error) {
	outcome := "ok"
	switch {
	case errors.Is(err, domain.ErrVersionConflict):
		outcome = "conflict"
		s.conflicts.Inc()
	case err != nil:
		outcome = "error"
		s.errors.WithLabelValues(domain.Code(err)).Inc()
	}
	s.duration.WithLabelValues(kind, outcome).Observe(time.Since(began).Seconds())
}
