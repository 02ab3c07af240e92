package archive

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

// logBuilder makes log events as the event store records them, with
// consecutive positions.
type logBuilder struct {
	t        testing.TB
	position uint64
	versions map[string]int64
	events   []domain.RecordedEvent
}

func newLogBuilder(t testing.TB) *logBuilder {
	return &logBuilder{t: t, position: 100, versions: map[string]int64{}}
}

func (b *logBuilder) add(stream string, e domain.Event, at time.Time) {
	b.t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		b.t.Fatal(err)
	}
	b.position++
	b.versions[stream]++
	b.events = append(b.events, domain.RecordedEvent{ID: uuid.NewString(), StreamID: stream, StreamVersion: b.versions[stream],
		Type: e.EventType(), Data: data, Position: domain.Position{Commit: 1000 + b.position/3, Prepare: b.position},
		RecordedAt: at.Truncate(time.Microsecond)})
}

// stations records one pm25 reading a minute per station for days, in
// batches of 60.
func (b *logBuilder) stationHistory(stations, days int, start time.Time) {
	per := days * 24 * 60
	for s := range stations {
		id := fmt.Sprintf("st-%03d", s)
		var ms []domain.Measurement
		for i := range per {
			at := start.Add(time.Duration(i) * time.Minute)
			ms = append(ms, domain.Measurement{ID: id + "-" + strconv.Itoa(i), Type: "pm25", Value: float64(i%97) / 10, MeasuredAt: at})
			if len(ms) == 60 || i == per-1 {
				b.add(domain.TelemetryStream(id), domain.RecordMeasurements(id, ms), at.Add(time.Second))
				ms = nil
			}
		}
	}
}
