package archive

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/fleetpulse/fleetpulse/domain"
)

// SchemaVersion is the version of the row layout below that this code
// writes and the only one it reads. A file's footer carries its version
// (key fleetpulse.schema_version); a file of another version is refused
// with ErrUnknownSchemaVersion rather than read wrongly.
const SchemaVersion = 1

// ErrUnknownSchemaVersion means an archive file was written in a layout
// this code does not know (by newer code, or not by fleetpulse).
var ErrUnknownSchemaVersion = errors.New("archive file has an unknown schema version")

// ErrCorrupt means an archive file does not hold what its manifest says.
var ErrCorrupt = errors.New("archive file is corrupt")

// Footer keys of an archive file.
const (
	metaSchemaVersion = "fleetpulse.schema_version"
	metaFirst         = "fleetpulse.first_position"
	metaLast          = "fleetpulse.last_position"
	metaEvents        = "fleetpulse.events"
	metaItems         = "fleetpulse.items"
)

// Row kinds.
const (
	kindMeasurement  = "measurement"
	kindVehicleEvent = "vehicle_event"
)

// row is one station measurement or one vehicle event, with the log event
// that recorded it. Rows are sorted by kind, device, type and time, which
// puts each series' values and times next to each other (they compress to
// a few bytes); the log order is restored from log_commit, log_position
// and item_index.
type row struct {
	Kind     string    `parquet:"kind,dict"`
	DeviceID string    `parquet:"device_id,dict"`
	Type     string    `parquet:"type,dict"` // measurement type or vehicle event type
	At       time.Time `parquet:"measured_at,timestamp(nanosecond),delta"`
	ItemID   string    `parquet:"item_id,delta"` // measurement id or eid
	// Value is a measurement's value (null for a vehicle event).
	Value *float64 `parquet:"value,optional,dict"`
	// Readings, Lat, Lon and Data are a vehicle event's (null for a
	// measurement); Data is its free-form JSON object.
	Readings map[string]float64 `parquet:"readings,optional" parquet-key:",dict" parquet-value:",dict"`
	Lat      *float64           `parquet:"lat,optional,split"`
	Lon      *float64           `parquet:"lon,optional,split"`
	Data     *string            `parquet:"data,optional"`

	EventID       string    `parquet:"event_id,dict"`
	EventType     string    `parquet:"event_type,dict"`
	StreamID      string    `parquet:"stream_id,dict"`
	StreamVersion int64     `parquet:"stream_version,delta"`
	LogCommit     int64     `parquet:"log_commit,delta"`
	LogPosition   int64     `parquet:"log_position,delta"`
	ItemIndex     int32     `parquet:"item_index,delta"`
	RecordedAt    time.Time `parquet:"recorded_at,timestamp(microsecond),delta"`
}

// fileSummary is what an encoded file holds.
type fileSummary struct {
	First, Last   domain.Position
	Events, Items int64
	RecordedFrom  time.Time
	RecordedUntil time.Time
}

// rowsOf turns telemetry events into rows. Other events are refused: the
// archive holds telemetry only.
func rowsOf(events []domain.RecordedEvent) ([]row, fileSummary, error) {
	rows, n, sum, err := fileRows(events, math.MaxInt)
	if err == nil && n < len(events) {
		err = fmt.Errorf("archive: %d of %d events fit a file", n, len(events))
	}
	return rows, sum, err
}

// fileRows turns the first events into rows: those recorded on the first
// one's UTC day, while the rows stay within maxItems (one event at least),
// and returns how many events it took, sorted (sortRows). Other events
// than telemetry are refused: the archive holds telemetry only.
func fileRows(events []domain.RecordedEvent, maxItems int) ([]row, int, fileSummary, error) {
	var (
		rows  []row
		sum   fileSummary
		taken int
	)
	var day time.Time
	if len(events) > 0 {
		day = dayOf(events[0].RecordedAt)
	}
	for i, r := range events {
		if i > 0 && !dayOf(r.RecordedAt).Equal(day) {
			break
		}
		before := len(rows)
		e, err := domain.DecodeEvent(r.Type, r.Data)
		if err != nil {
			return nil, 0, sum, fmt.Errorf("archive event %s: %w", r.ID, err)
		}
		if rows, err = appendRows(rows, r, domain.Upcast(e)); err != nil {
			return nil, 0, sum, err
		}
		if i > 0 && len(rows) > maxItems {
			rows = rows[:before]
			break
		}
		taken = i + 1
		if i == 0 || r.RecordedAt.Before(sum.RecordedFrom) {
			sum.RecordedFrom = r.RecordedAt
		}
		if r.RecordedAt.After(sum.RecordedUntil) {
			sum.RecordedUntil = r.RecordedAt
		}
	}
	if taken > 0 {
		sum.First, sum.Last = events[0].Position, events[taken-1].Position
	}
	sum.Events, sum.Items = int64(taken), int64(len(rows))
	return sortRows(rows), taken, sum, nil
}

// itemCount is the number of rows of e, upcast.
func itemCount(e domain.Event) int {
	switch b := e.(type) {
	case domain.MeasurementsRecorded:
		return len(b.Measurements)
	case domain.VehicleEventsRecorded:
		return len(b.Events)
	}
	return 0
}

// appendRows appends the rows of r, whose data decoded and upcast is e.
// Other events than telemetry are refused.
func appendRows(rows []row, r domain.RecordedEvent, e domain.Event) ([]row, error) {
	base := row{EventID: r.ID, EventType: r.Type, StreamID: r.StreamID, StreamVersion: r.StreamVersion,
		LogCommit: int64(r.Position.Commit), LogPosition: int64(r.Position.Prepare), RecordedAt: r.RecordedAt.UTC()}
	switch b := e.(type) {
	case domain.MeasurementsRecorded:
		// One allocation for the values of the event's rows.
		values := make([]float64, len(b.Measurements))
		for j, m := range b.Measurements {
			x := base
			values[j] = m.Value
			x.Kind, x.DeviceID, x.Type, x.At, x.ItemID, x.Value, x.ItemIndex = kindMeasurement, b.StationID, m.Type, m.MeasuredAt.UTC(), m.ID, &values[j], int32(j)
			rows = append(rows, x)
		}
	case domain.VehicleEventsRecorded:
		for j, v := range b.Events {
			x := base
			x.Kind, x.DeviceID, x.Type, x.At, x.ItemID, x.Readings, x.ItemIndex = kindVehicleEvent, b.VID, v.Type, v.OccurredAt.UTC(), v.EID, v.Readings, int32(j)
			if v.Location != nil {
				lat, lon := v.Location.Lat, v.Location.Lon
				x.Lat, x.Lon = &lat, &lon
			}
			if len(v.Data) > 0 {
				d := string(v.Data)
				x.Data = &d
			}
			rows = append(rows, x)
		}
	default:
		return nil, fmt.Errorf("archive event %s: %s is not telemetry", r.ID, r.Type)
	}
	return rows, nil
}

// sortRows returns rows in file order: by kind, device, type, time, then
// log position and item.
func sortRows(rows []row) []row { return sortSegments([][]row{rows}, len(rows)) }

// sortSegments returns the n rows of segs in one slice, in file order
// (sortRows). It sorts small keys that point at the rows rather than the
// rows (a row is ~250 bytes, and comparing three strings per step was a
// fifth of a run's CPU), each (kind, device, type) series numbered in its
// order first, and copies each row once, from where it was decoded.
func sortSegments(segs [][]row, n int) []row {
	type series struct{ kind, device, typ string }
	ids := map[series]int32{}
	each := func(fn func(r *row, s series, changed bool)) {
		var last series
		first := true
		for _, seg := range segs {
			for i := range seg {
				r := &seg[i]
				s := series{r.Kind, r.DeviceID, r.Type}
				// Rows of one event are mostly of one series.
				fn(r, s, first || s != last)
				last, first = s, false
			}
		}
	}
	each(func(_ *row, s series, changed bool) {
		if changed {
			ids[s] = 0
		}
	})
	names := slices.SortedFunc(maps.Keys(ids), func(a, b series) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.device, b.device), cmp.Compare(a.typ, b.typ))
	})
	for i, s := range names {
		ids[s] = int32(i)
	}
	type key struct {
		series, item int32
		at           int64
		commit, pos  int64
		r            *row
	}
	keys := make([]key, 0, n)
	var id int32
	each(func(r *row, s series, changed bool) {
		if changed {
			id = ids[s]
		}
		keys = append(keys, key{series: id, item: r.ItemIndex, at: r.At.UnixNano(), commit: r.LogCommit, pos: r.LogPosition, r: r})
	})
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.series, b.series), cmp.Compare(a.at, b.at), cmp.Compare(a.commit, b.commit),
			cmp.Compare(a.pos, b.pos), cmp.Compare(a.item, b.item))
	})
	sorted := make([]row, len(keys))
	for j, k := range keys {
		sorted[j] = *k.r
	}
	return sorted
}

// encodeFile writes telemetry events as one Parquet file.
func encodeFile(events []domain.RecordedEvent) ([]byte, fileSummary, error) {
	rows, sum, err := rowsOf(events)
	if err != nil {
		return nil, sum, err
	}
	return encodeRows(rows, sum)
}

// encodeRows writes rows as one Parquet file.
func encodeRows(rows []row, sum fileSummary) ([]byte, fileSummary, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.KeyValueMetadata(metaSchemaVersion, strconv.Itoa(SchemaVersion)),
		parquet.KeyValueMetadata(metaFirst, sum.First.String()),
		parquet.KeyValueMetadata(metaLast, sum.Last.String()),
		parquet.KeyValueMetadata(metaEvents, strconv.FormatInt(sum.Events, 10)),
		parquet.KeyValueMetadata(metaItems, strconv.FormatInt(sum.Items, 10)),
	)
	if _, err := w.Write(rows); err != nil {
		return nil, sum, fmt.Errorf("encode archive file: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, sum, fmt.Errorf("encode archive file: %w", err)
	}
	return buf.Bytes(), sum, nil
}

// decodeFile reads an archive file back into the log events it holds, in
// log order. A file of another schema version is refused.
func decodeFile(name string, data []byte) ([]domain.RecordedEvent, error) {
	rows, err := decodeRows(name, data)
	if err != nil {
		return nil, err
	}
	events, err := eventsOf(rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return events, nil
}

// decodeRows reads an archive file's rows, in file order. A file of
// another schema version is refused. A file the Parquet library cannot
// make sense of is ErrCorrupt, even where the library panics on it: the
// bytes come from a bucket, not from this process.
func decodeRows(name string, data []byte) (rows []row, err error) {
	defer func() {
		if p := recover(); p != nil {
			rows, err = nil, fmt.Errorf("%s: %w: %v", name, ErrCorrupt, p)
		}
	}()
	f, err := openFile(name, data)
	if err != nil {
		return nil, err
	}
	if rows, err = readColumns(f); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrCorrupt, err)
	}
	return rows, nil
}

// openFile opens an archive file and checks its footer's schema version.
func openFile(name string, data []byte) (f *parquet.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("%s: %w: %v", name, ErrCorrupt, p)
		}
	}()
	f, err = parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, ErrCorrupt, err)
	}
	v, ok := f.Lookup(metaSchemaVersion)
	if !ok {
		return nil, fmt.Errorf("%s has no %s in its footer (not written by fleetpulse?): %w", name, metaSchemaVersion, ErrUnknownSchemaVersion)
	}
	if v != strconv.Itoa(SchemaVersion) {
		return nil, fmt.Errorf("%s is of schema version %s, this fleetpulse reads version %d only (read it with a newer fleetpulse): %w",
			name, v, SchemaVersion, ErrUnknownSchemaVersion)
	}
	return f, nil
}

// eventsOf rebuilds the log events of rows: the rows of each log position
// in item order make its event. The events are made on every core, in runs
// of whole events (encoding each one's data is most of the work).
func eventsOf(rows []row) ([]domain.RecordedEvent, error) {
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.LogCommit, b.LogCommit), cmp.Compare(a.LogPosition, b.LogPosition), cmp.Compare(a.ItemIndex, b.ItemIndex))
	})
	parts := min(runtime.GOMAXPROCS(0), max(1, len(rows)/minEventsRun))
	runs := make([][]domain.RecordedEvent, parts)
	var g errgroup.Group
	for start, k := 0, 0; start < len(rows); k++ {
		end := min(len(rows), start+(len(rows)+parts-1)/parts)
		// A run ends where an event does.
		for end < len(rows) && rows[end].LogCommit == rows[end-1].LogCommit && rows[end].LogPosition == rows[end-1].LogPosition {
			end++
		}
		part := rows[start:end]
		g.Go(func() (err error) {
			runs[k], err = eventsOfRun(part)
			return err
		})
		start = end
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.Concat(runs...), nil
}

// minEventsRun is the fewest rows eventsOf gives a goroutine of its own.
const minEventsRun = 4096

// eventsOfRun rebuilds the events of rows sorted by log position, whole
// events only.
func eventsOfRun(rows []row) ([]domain.RecordedEvent, error) {
	var events []domain.RecordedEvent
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && rows[end].LogCommit == rows[start].LogCommit && rows[end].LogPosition == rows[start].LogPosition {
			end++
		}
		e, err := eventOf(rows[start:end])
		if err != nil {
			return nil, err
		}
		events = append(events, e)
		start = end
	}
	return events, nil
}

func eventOf(items []row) (domain.RecordedEvent, error) {
	h := items[0]
	rec := domain.RecordedEvent{ID: h.EventID, StreamID: h.StreamID, StreamVersion: h.StreamVersion, Type: h.EventType,
		Position: domain.Position{Commit: uint64(h.LogCommit), Prepare: uint64(h.LogPosition)}, RecordedAt: h.RecordedAt}
	var e domain.Event
	switch h.EventType {
	case domain.TypeMeasurementsRecorded, domain.TypeMeasurementRecorded:
		ms := make([]domain.Measurement, len(items))
		for i, it := range items {
			if it.Value == nil {
				return rec, fmt.Errorf("%w: measurement %s has no value", ErrCorrupt, it.ItemID)
			}
			ms[i] = domain.Measurement{ID: it.ItemID, Type: it.Type, Value: *it.Value, MeasuredAt: it.At}
		}
		if h.EventType == domain.TypeMeasurementRecorded && len(ms) == 1 {
			e = ms[0].Recorded(h.DeviceID)
		} else {
			e = domain.MeasurementsRecorded{StationID: h.DeviceID, Measurements: ms}
		}
	case domain.TypeVehicleEventsRecorded, domain.TypeVehicleEventRecorded:
		vs := make([]domain.VehicleEvent, len(items))
		for i, it := range items {
			v := domain.VehicleEvent{EID: it.ItemID, Type: it.Type, OccurredAt: it.At, Readings: it.Readings}
			if len(v.Readings) == 0 {
				v.Readings = nil
			}
			if it.Lat != nil && it.Lon != nil {
				v.Location = &domain.Location{Lat: *it.Lat, Lon: *it.Lon}
			}
			if it.Data != nil {
				v.Data = json.RawMessage(*it.Data)
			}
			vs[i] = v
		}
		if h.EventType == domain.TypeVehicleEventRecorded && len(vs) == 1 {
			e = vs[0].Recorded(h.DeviceID)
		} else {
			e = domain.VehicleEventsRecorded{VID: h.DeviceID, Events: vs}
		}
	default:
		return rec, fmt.Errorf("%w: event %s of type %q", ErrCorrupt, h.EventID, h.EventType)
	}
	data, err := domain.MarshalEvent(e)
	if err != nil {
		return rec, fmt.Errorf("encode event %s: %w", h.EventID, err)
	}
	rec.Data, rec.Decoded = data, e
	return rec, nil
}
