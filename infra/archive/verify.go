package archive

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/fleetpulse/fleetpulse/domain"
)

// verify reads the file back from the bucket and checks that it holds
// exactly the rows written: its size and checksum, its schema version,
// then every value of every column against the rows written, one column
// at a time and without building rows (a column's values are compared as
// they are decoded). spread runs the column checks, on more than one
// goroutine where it can. (The rows are the events' items one for one:
// rowsOf and eventsOf are each other's inverse, which the package's tests
// check.)
func (a *Archiver) verify(ctx context.Context, r domain.ArchivedRange, written []row, spread func([]func() error) error) error {
	data, err := readFile(ctx, a.bucket, r)
	if err != nil {
		return fmt.Errorf("archive: verify: %w", err)
	}
	f, err := openFile(r.File, data)
	if err != nil {
		return fmt.Errorf("archive: verify: %w", err)
	}
	if err := checkColumns(f, written, spread); err != nil {
		return fmt.Errorf("archive: verify %s: %w: %w", r.File, ErrCorrupt, err)
	}
	return nil
}

// fileColumns are the leaf columns of a file of this schema version.
var fileColumns = func() []string {
	var names []string
	for _, path := range parquet.SchemaOf(row{}).Columns() {
		names = append(names, strings.Join(path, "."))
	}
	return names
}()

// checkColumns checks f's columns against rows.
func checkColumns(f *parquet.File, rows []row, spread func([]func() error) error) error {
	var cols []string
	for _, path := range f.Schema().Columns() {
		cols = append(cols, strings.Join(path, "."))
	}
	if !slices.Equal(cols, fileColumns) {
		return fmt.Errorf("columns %v, want %v", cols, fileColumns)
	}
	var tasks []func() error
	names := readingNames(rows)
	start := int64(0)
	for _, rg := range f.RowGroups() {
		n := rg.NumRows()
		if n < 0 || start+n > int64(len(rows)) {
			return fmt.Errorf("more rows than the %d written", len(rows))
		}
		part, partNames := rows[start:start+n], names[start:start+n]
		chunks := rg.ColumnChunks()
		for i, name := range cols {
			switch name {
			case "readings.key_value.key":
				chunk := chunks[i]
				tasks = append(tasks, func() error { return checkReadingNames(chunk, part, partNames) })
			case "readings.key_value.value":
				chunk := chunks[i]
				tasks = append(tasks, func() error { return checkReadingValues(chunk, part, partNames) })
			default:
				chunk := chunks[i]
				tasks = append(tasks, func() error { return checkFlat(chunk, name, part) })
			}
		}
		start += n
	}
	if start != int64(len(rows)) {
		return fmt.Errorf("%d rows read back, %d written", start, len(rows))
	}
	return spread(tasks)
}

// checkFlat compares one top-level column with rows.
func checkFlat(chunk parquet.ColumnChunk, name string, rows []row) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("column %s: %v", name, p)
		}
	}()
	str := func(v parquet.Value, s string) bool { return !v.IsNull() && string(v.ByteArray()) == s }
	float := func(v parquet.Value, f *float64) bool {
		return v.IsNull() == (f == nil) && (f == nil || math.Float64bits(v.Double()) == math.Float64bits(*f))
	}
	var same func(r *row, v parquet.Value) bool
	switch name {
	case "kind":
		same = func(r *row, v parquet.Value) bool { return str(v, r.Kind) }
	case "device_id":
		same = func(r *row, v parquet.Value) bool { return str(v, r.DeviceID) }
	case "type":
		same = func(r *row, v parquet.Value) bool { return str(v, r.Type) }
	case "measured_at":
		same = func(r *row, v parquet.Value) bool { return !v.IsNull() && time.Unix(0, v.Int64()).Equal(r.At) }
	case "item_id":
		same = func(r *row, v parquet.Value) bool { return str(v, r.ItemID) }
	case "value":
		same = func(r *row, v parquet.Value) bool { return float(v, r.Value) }
	case "lat":
		same = func(r *row, v parquet.Value) bool { return float(v, r.Lat) }
	case "lon":
		same = func(r *row, v parquet.Value) bool { return float(v, r.Lon) }
	case "data":
		same = func(r *row, v parquet.Value) bool {
			return v.IsNull() == (r.Data == nil) && (r.Data == nil || string(v.ByteArray()) == *r.Data)
		}
	case "event_id":
		same = func(r *row, v parquet.Value) bool { return str(v, r.EventID) }
	case "event_type":
		same = func(r *row, v parquet.Value) bool { return str(v, r.EventType) }
	case "stream_id":
		same = func(r *row, v parquet.Value) bool { return str(v, r.StreamID) }
	case "stream_version":
		same = func(r *row, v parquet.Value) bool { return !v.IsNull() && v.Int64() == r.StreamVersion }
	case "log_commit":
		same = func(r *row, v parquet.Value) bool { return !v.IsNull() && v.Int64() == r.LogCommit }
	case "log_position":
		same = func(r *row, v parquet.Value) bool { return !v.IsNull() && v.Int64() == r.LogPosition }
	case "item_index":
		same = func(r *row, v parquet.Value) bool { return !v.IsNull() && v.Int32() == r.ItemIndex }
	case "recorded_at":
		same = func(r *row, v parquet.Value) bool {
			return !v.IsNull() && time.UnixMicro(v.Int64()).Equal(r.RecordedAt)
		}
	default:
		return fmt.Errorf("unknown column %s", name)
	}
	i := 0
	err = eachValue(chunk, func(v parquet.Value) error {
		if i >= len(rows) {
			return fmt.Errorf("column %s: %w", name, errTooManyValues)
		}
		if !same(&rows[i], v) {
			return fmt.Errorf("column %s of row %d (item %s of event %s) read back as %v", name, i, rows[i].ItemID, rows[i].EventID, v)
		}
		i++
		return nil
	})
	if err == nil && i != len(rows) {
		err = fmt.Errorf("column %s: %d values for %d rows", name, i, len(rows))
	}
	return err
}

// readingNames returns each row's reading names in the order a file holds
// them (parquet-go writes a map's entries by key), nil for a row without
// readings. Rows with the same names share one slice: a series' rows
// mostly have the same ones, which then cost a lookup each, not a sort.
func readingNames(rows []row) [][]string {
	names := make([][]string, len(rows))
	var last []string
	for i := range rows {
		m := rows[i].Readings
		if len(m) == 0 {
			continue
		}
		if !sameNames(last, m) {
			last = slices.Sorted(maps.Keys(m))
		}
		names[i] = last
	}
	return names
}

// sameNames says whether names, which are distinct, are m's keys.
func sameNames(names []string, m map[string]float64) bool {
	if len(names) != len(m) {
		return false
	}
	for _, k := range names {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

// checkReadingNames compares the readings' key column with rows: each
// row's keys, in order, must be names[i], and a row without readings must
// have a null of its kind (no map, or an empty one).
func checkReadingNames(chunk parquet.ColumnChunk, rows []row, names [][]string) (err error) {
	return checkReadingColumn(chunk, "names", rows, names, func(i, j int, v parquet.Value) bool {
		return string(v.ByteArray()) == names[i][j]
	})
}

// checkReadingValues compares the readings' value column with rows: the
// j-th value of row i must be its reading names[i][j].
func checkReadingValues(chunk parquet.ColumnChunk, rows []row, names [][]string) (err error) {
	return checkReadingColumn(chunk, "values", rows, names, func(i, j int, v parquet.Value) bool {
		w, ok := rows[i].Readings[names[i][j]]
		return ok && math.Float64bits(v.Double()) == math.Float64bits(w)
	})
}

// checkReadingColumn walks one of the readings' columns: a row begins at
// repetition level 0 and has len(names[i]) entries, each at definition
// level 2 and same as written; a row without readings has one null, at
// definition level 0 for no map and 1 for an empty one.
func checkReadingColumn(chunk parquet.ColumnChunk, what string, rows []row, names [][]string, same func(i, j int, v parquet.Value) bool) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("readings %s: %v", what, p)
		}
	}()
	i, j := -1, 0
	rowEnd := func() error {
		if i >= 0 && j != max(1, len(names[i])) {
			return fmt.Errorf("readings %s of row %d (item %s): %d read back, %d written", what, i, rows[i].ItemID, j, len(names[i]))
		}
		return nil
	}
	err = eachValue(chunk, func(v parquet.Value) error {
		if v.RepetitionLevel() == 0 {
			if err := rowEnd(); err != nil {
				return err
			}
			i, j = i+1, 0
			if i >= len(rows) {
				return errTooManyValues
			}
		}
		if len(names[i]) == 0 {
			want := 0
			if rows[i].Readings != nil {
				want = 1
			}
			if j > 0 || !v.IsNull() || v.DefinitionLevel() != want {
				return fmt.Errorf("readings %s of row %d (item %s) read back as %v, written none", what, i, rows[i].ItemID, v)
			}
			j++
			return nil
		}
		if j >= len(names[i]) || v.IsNull() || v.DefinitionLevel() != 2 || !same(i, j, v) {
			return fmt.Errorf("readings %s of row %d (item %s): entry %d read back as %v", what, i, rows[i].ItemID, j, v)
		}
		j++
		return nil
	})
	if err == nil {
		err = rowEnd()
	}
	if err == nil && i != len(rows)-1 {
		err = fmt.Errorf("readings %s of %d rows for %d rows", what, i+1, len(rows))
	}
	return err
}

// serially runs tasks one after the other: spread without helpers.
func serially(tasks []func() error) error {
	for _, t := range tasks {
		if err := t(); err != nil {
			return err
		}
	}
	return nil
}

// spreader returns a spread that runs tasks on the calling goroutine and
// on as many more as there are free tokens, without waiting for one: a
// run's idle workers lend their cores to a file's verification, within
// Config.Workers. It returns the error of the first failing task.
func spreader(tokens chan struct{}) func([]func() error) error {
	return func(tasks []func() error) error {
		errs := make([]error, len(tasks))
		var next atomic.Int64
		run := func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(tasks) {
					return
				}
				errs[i] = tasks[i]()
			}
		}
		var wg sync.WaitGroup
	helpers:
		for range len(tasks) - 1 {
			select {
			case tokens <- struct{}{}:
				wg.Go(func() {
					defer func() { <-tokens }()
					run()
				})
			default:
				break helpers
			}
		}
		run()
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
}
