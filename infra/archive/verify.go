package archive

import (
	"context"
	"fmt"
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
	start := int64(0)
	for _, rg := range f.RowGroups() {
		n := rg.NumRows()
		if n < 0 || start+n > int64(len(rows)) {
			return fmt.Errorf("more rows than the %d written", len(rows))
		}
		part := rows[start : start+n]
		chunks := rg.ColumnChunks()
		for i, name := range cols {
			switch name {
			case "readings.key_value.value":
				// Checked with the keys.
			case "readings.key_value.key":
				keys, values := chunks[i], chunks[i+1]
				tasks = append(tasks, func() error { return checkReadings(keys, values, part) })
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

// checkReadings compares the readings' key and value columns with rows:
// each row's entries, in the file's order, must be its map's, each key
// once.
func checkReadings(keyChunk, valueChunk parquet.ColumnChunk, rows []row) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("readings: %v", p)
		}
	}()
	keys, err := readMapKeys(keyChunk, len(rows))
	if err != nil {
		return fmt.Errorf("readings keys: %w", err)
	}
	seen := map[string]bool{}
	for i := range rows {
		if len(keys[i]) != len(rows[i].Readings) {
			return fmt.Errorf("readings of row %d (item %s): %d read back, %d written", i, rows[i].ItemID, len(keys[i]), len(rows[i].Readings))
		}
		clear(seen)
		for _, k := range keys[i] {
			if seen[k] {
				return fmt.Errorf("readings of row %d (item %s): %q twice", i, rows[i].ItemID, k)
			}
			seen[k] = true
		}
	}
	i, j := -1, 0
	err = eachValue(valueChunk, func(v parquet.Value) error {
		if v.RepetitionLevel() == 0 {
			if i >= 0 && j != len(keys[i]) {
				return fmt.Errorf("readings of row %d: %d values for %d names", i, j, len(keys[i]))
			}
			i, j = i+1, 0
			if i >= len(rows) {
				return errTooManyValues
			}
		}
		if v.IsNull() && j >= len(keys[i]) {
			return nil // no readings
		}
		if j >= len(keys[i]) {
			return fmt.Errorf("readings of row %d: more values than names", i)
		}
		w, ok := rows[i].Readings[keys[i][j]]
		if !ok || v.IsNull() || math.Float64bits(v.Double()) != math.Float64bits(w) {
			return fmt.Errorf("readings[%s] of row %d (item %s) read back as %v", keys[i][j], i, rows[i].ItemID, v)
		}
		j++
		return nil
	})
	if err == nil && i != len(rows)-1 {
		err = fmt.Errorf("readings of %d rows for %d rows", i+1, len(rows))
	}
	if err == nil && i >= 0 && j != len(keys[i]) {
		err = fmt.Errorf("readings of row %d: %d values for %d names", i, j, len(keys[i]))
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
