package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/archive"
	"github.com/fleetpulse/fleetpulse/infra/importer"
)

// memLog is a log of telemetry events in memory for the Archiver: what it
// archives is taken out.
type memLog struct {
	events   []domain.RecordedEvent
	archived []domain.ArchivedRange
}

func (l *memLog) ArchivedRanges(context.Context) ([]domain.ArchivedRange, error) {
	return l.archived, nil
}

func (l *memLog) ArchiveCandidates(_ context.Context, before time.Time, upTo, after domain.Position, max int) ([]domain.RecordedEvent, error) {
	var out []domain.RecordedEvent
	for _, e := range l.events {
		if !after.Less(e.Position) || upTo.Less(e.Position) {
			continue
		}
		if !e.RecordedAt.Before(before) || len(out) == max {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

func (l *memLog) CommitArchive(_ context.Context, r domain.ArchivedRange, positions []int64) error {
	l.archived = append(l.archived, r)
	l.events = l.events[len(positions):]
	return nil
}

// archiveFile archives telemetry batches, recorded in this order, and
// returns the one file written.
func archiveFile(t testing.TB, batches ...domain.TelemetryBatch) []byte {
	t.Helper()
	log := &memLog{}
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for i, b := range batches {
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		log.events = append(log.events, domain.RecordedEvent{ID: uuid.NewString(), StreamID: domain.TelemetryStream(b.Device()), StreamVersion: int64(i + 1),
			Type: b.EventType(), Data: data, Position: domain.Position{Commit: uint64(100 + i), Prepare: uint64(100 + i)}, RecordedAt: at.Add(time.Duration(i) * time.Second)})
	}
	dir := t.TempDir()
	bucket, err := archive.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	last := log.events[len(log.events)-1].Position
	ar := archive.NewArchiver(log, bucket, func(context.Context) (domain.Position, error) { return last, nil },
		archive.Config{Clock: func() time.Time { return at.Add(time.Hour) }})
	rep, err := ar.Run(context.Background())
	if err != nil || rep.Files != 1 {
		t.Fatalf("archived %+v, %v; want one file", rep, err)
	}
	first := domain.Position{Commit: 100, Prepare: 100}
	data, err := bucket.ReadAll(context.Background(), archive.FileKey(at, first, last))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parquetRows(t testing.TB, data []byte) ([]importer.Row, error) {
	t.Helper()
	im := importer.New(nil, importer.Config{Archive: archive.ReadFile})
	dec, err := im.NewDecoder(importer.Parquet, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var rows []importer.Row
	for range 1_000_000 {
		row, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
	t.Fatal("the decoder does not end")
	return nil, nil
}

func TestParquetDecoder_ItemsInLogOrderWithTheirIDs(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 30, 12, 0, 0, 0, time.UTC)
	data := archiveFile(t,
		domain.RecordMeasurements("st-b", []domain.Measurement{{ID: "b1", Type: "pm25", Value: 2.5, MeasuredAt: at}, {ID: "b0", Type: "no2", Value: -1, MeasuredAt: at.Add(-time.Hour)}}),
		domain.RecordVehicleEvents("veh-1", []domain.VehicleEvent{{EID: "e1", Type: "trip_end", OccurredAt: at, Readings: map[string]float64{"odometer_km": 12},
			Location: &domain.Location{Lat: 50, Lon: 19}, Data: json.RawMessage(`{"door":"open"}`)}}),
		domain.RecordMeasurements("st-a", []domain.Measurement{{ID: "a1", Type: "pm25", Value: 7, MeasuredAt: at.Add(time.Minute)}}),
	)
	rows, err := parquetRows(t, data)
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		line             int64
		station, vehicle string
		id, typ          string
		value            float64
		at               time.Time
	}
	var got []item
	for _, r := range rows {
		if r.Event != nil {
			if r.Event.Readings["odometer_km"] != 12 || r.Event.Location == nil || string(r.Event.Data) != `{"door":"open"}` {
				t.Errorf("vehicle event %+v lost its readings, location or data", *r.Event)
			}
			got = append(got, item{r.Line, r.Station, r.VehicleID, r.Event.EID, r.Event.Type, 0, r.Event.OccurredAt})
			continue
		}
		got = append(got, item{r.Line, r.Station, r.VehicleID, r.ID, r.Type, r.Value, r.MeasuredAt})
	}
	want := []item{
		{1, "st-b", "", "b1", "pm25", 2.5, at},
		{2, "st-b", "", "b0", "no2", -1, at.Add(-time.Hour)},
		{3, "", "veh-1", "e1", "trip_end", 0, at},
		{4, "st-a", "", "a1", "pm25", 7, at.Add(time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	for i := range want {
		if g, w := got[i], want[i]; g.line != w.line || g.station != w.station || g.vehicle != w.vehicle || g.id != w.id || g.typ != w.typ || g.value != w.value || !g.at.Equal(w.at) {
			t.Errorf("row %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestParquetDecoder_RefusesWhatIsNotAnArchiveFileAndReadsAnEmptyOneAsNoRows(t *testing.T) {
	t.Parallel()
	tests := map[string][]byte{
		"CSV":       []byte("station,type,value,measured_at\n"),
		"truncated": archiveFile(t, domain.RecordMeasurements("st", []domain.Measurement{{ID: "m", Type: "pm25", Value: 1, MeasuredAt: time.Unix(0, 0)}}))[:200],
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := parquetRows(t, data); !errors.Is(err, importer.ErrBadFile) {
				t.Fatalf("error %v, want ErrBadFile", err)
			}
		})
	}
	// An empty upload is an empty import, as an empty CSV file is.
	if rows, err := parquetRows(t, nil); err != nil || len(rows) != 0 {
		t.Fatalf("empty file: %d rows, %v; want none", len(rows), err)
	}
	// Without an archive reader no Parquet is read.
	dec, err := importer.New(nil, importer.Config{}).NewDecoder(importer.Parquet, bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Next(); !errors.Is(err, importer.ErrBadFile) {
		t.Fatalf("error %v, want ErrBadFile", err)
	}
}

// FuzzParquetDecoder feeds arbitrary bytes to the Parquet decoder (an
// upload to POST /v1/imports can be any): it refuses them as a bad file or
// gives whole rows numbered from 1, never panics.
func FuzzParquetDecoder(f *testing.F) {
	at := time.Date(2026, 4, 30, 12, 0, 0, 0, time.UTC)
	file := archiveFile(f,
		domain.RecordMeasurements("st", []domain.Measurement{{ID: "m1", Type: "pm25", Value: 1.5, MeasuredAt: at}}),
		domain.RecordVehicleEvents("veh", []domain.VehicleEvent{{EID: "e1", Type: "t", OccurredAt: at, Readings: map[string]float64{"a": 1}}}))
	f.Add(file)
	f.Add(file[:len(file)/2])
	f.Add(file[len(file)/3:])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := parquetRows(t, data)
		if err != nil {
			if !errors.Is(err, importer.ErrBadFile) {
				t.Fatalf("error %v, want ErrBadFile", err)
			}
			return
		}
		for i, r := range rows {
			if r.Line != int64(i+1) || (r.Event == nil) == (r.Station == "") || (r.Event != nil && r.VehicleID == "") {
				t.Fatalf("row %d: %+v is not a numbered station measurement or vehicle event", i, r)
			}
		}
	})
}
