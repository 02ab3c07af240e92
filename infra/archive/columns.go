package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
	"golang.org/x/sync/errgroup"
)

// readColumns reads a file's rows column by column, without reflection:
// several times faster than parquet.GenericReader on these rows, and what
// a rebuild from the archive spends most of its time on. Strings of the
// dictionary-encoded columns are shared between rows. The columns are read
// at once on every core: a reader waits for the whole file before it
// serves its first event, and it would wait on one core while the others
// idle.
func readColumns(f *parquet.File) ([]row, error) {
	var names []string
	for _, path := range f.Schema().Columns() {
		names = append(names, strings.Join(path, "."))
	}
	if !slices.Equal(names, fileColumns) {
		return nil, fmt.Errorf("%w: columns %v, want %v", ErrCorrupt, names, fileColumns)
	}
	var out []row
	for _, rg := range f.RowGroups() {
		if n := rg.NumRows(); n < 0 || int64(len(out))+n > maxFileRows {
			return nil, fmt.Errorf("%w: %d rows in a row group, more than a file may hold", ErrCorrupt, n)
		}
		rows := make([]row, rg.NumRows())
		chunks := rg.ColumnChunks()
		// A column that fails ends the read: the columns not yet started
		// are not read (a damaged file fails as fast as it did read
		// column after column).
		g, failed := errgroup.WithContext(context.Background())
		g.SetLimit(runtime.GOMAXPROCS(0))
		columnTask := func(name string, read func() error) func() error {
			return func() error {
				if failed.Err() != nil {
					return nil
				}
				return readColumn(name, read)
			}
		}
		for i, name := range names {
			switch name {
			case "readings.key_value.value":
				// Read with the keys, which it needs.
			case "readings.key_value.key":
				keys, values := chunks[i], chunks[i+1]
				g.Go(columnTask(name, func() error {
					ks, err := readMapKeys(keys, len(rows))
					if err != nil {
						return err
					}
					return readMapValues(values, rows, ks)
				}))
			default:
				chunk := chunks[i]
				g.Go(columnTask(name, func() error { return readFlat(chunk, name, rows) }))
			}
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// readColumn runs read, naming the column in its error, and turns a panic
// of the Parquet library on a damaged column into an error (decodeRows's
// recover does not see a panic on another goroutine).
func readColumn(name string, read func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("column %s: %w: %v", name, ErrCorrupt, p)
		}
	}()
	if err := read(); err != nil {
		return fmt.Errorf("column %s: %w", name, err)
	}
	return nil
}

// eachValue calls fn with every value of a column chunk, in order.
func eachValue(chunk parquet.ColumnChunk, fn func(v parquet.Value) error) error {
	buf := make([]parquet.Value, 1024)
	return eachPage(chunk, func(p parquet.Page) error { return readEach(p.Values().ReadValues, buf, fn) })
}

// eachPage calls fn with each page of a column chunk, in order, and
// releases the page after.
func eachPage(chunk parquet.ColumnChunk, fn func(p parquet.Page) error) error {
	pages := chunk.Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		err = fn(p)
		parquet.Release(p)
		if err != nil {
			return err
		}
	}
}

// readEach calls fn with each value read, buf at a time, until read says
// io.EOF.
func readEach[T any](read func([]T) (int, error), buf []T, fn func(T) error) error {
	for {
		n, err := read(buf)
		for _, v := range buf[:n] {
			if ferr := fn(v); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// rowFiller sets one field of rows, row after row.
type rowFiller[T any] struct {
	rows []row
	set  func(r *row, v T)
	n    int
}

func (f *rowFiller[T]) put(v T) error {
	if f.n >= len(f.rows) {
		return errTooManyValues
	}
	f.set(&f.rows[f.n], v)
	f.n++
	return nil
}

// end checks that every row was set.
func (f *rowFiller[T]) end() error {
	if f.n != len(f.rows) {
		return fmt.Errorf("%w: %d values for %d rows", ErrCorrupt, f.n, len(f.rows))
	}
	return nil
}

// requiredPage checks that a page of a required column has no nulls.
func requiredPage(p parquet.Page, name string) error {
	if p.NumNulls() > 0 {
		return fmt.Errorf("%w: %d nulls in column %s", ErrCorrupt, p.NumNulls(), name)
	}
	return nil
}

var errTooManyValues = errors.New("more values than rows")

// maxFileRows bounds the rows of a file this package reads: far above what
// the archiver writes (Config.MaxItems), low enough that a damaged footer
// cannot make a reader allocate without bound.
const maxFileRows = 1 << 24

// readFlat fills one top-level column of rows.
func readFlat(chunk parquet.ColumnChunk, name string, rows []row) error {
	if setInt := intSetter(name); setInt != nil {
		return readInts(chunk, name, rows, setInt)
	}
	if setString := dictionarySetter(name); setString != nil {
		return readDictionaryStrings(chunk, name, rows, setString)
	}
	var floats []float64
	float := func(v parquet.Value) *float64 {
		if v.IsNull() {
			return nil
		}
		if floats == nil {
			floats = make([]float64, 0, len(rows))
		}
		floats = append(floats, v.Double())
		return &floats[len(floats)-1]
	}
	var set func(r *row, v parquet.Value)
	switch name {
	case "item_id":
		set = func(r *row, v parquet.Value) { r.ItemID = string(v.ByteArray()) }
	case "value":
		set = func(r *row, v parquet.Value) { r.Value = float(v) }
	case "lat":
		set = func(r *row, v parquet.Value) { r.Lat = float(v) }
	case "lon":
		set = func(r *row, v parquet.Value) { r.Lon = float(v) }
	case "data":
		set = func(r *row, v parquet.Value) {
			if !v.IsNull() {
				s := string(v.ByteArray())
				r.Data = &s
			}
		}
	default:
		return fmt.Errorf("%w: unknown column", ErrCorrupt)
	}
	f := &rowFiller[parquet.Value]{rows: rows, set: set}
	if err := eachValue(chunk, f.put); err != nil {
		return err
	}
	return f.end()
}

// intSetter returns the setter of integer column name's field, nil for
// another column.
func intSetter(name string) func(r *row, v int64) {
	switch name {
	case "measured_at":
		return func(r *row, v int64) { r.At = time.Unix(0, v).UTC() }
	case "stream_version":
		return func(r *row, v int64) { r.StreamVersion = v }
	case "log_commit":
		return func(r *row, v int64) { r.LogCommit = v }
	case "log_position":
		return func(r *row, v int64) { r.LogPosition = v }
	case "item_index":
		return func(r *row, v int64) { r.ItemIndex = int32(v) }
	case "recorded_at":
		return func(r *row, v int64) { r.RecordedAt = time.UnixMicro(v).UTC() }
	}
	return nil
}

// readInts reads a required integer column into rows: a page's values
// are read as integers where its reader can (no Value for each), and
// value by value otherwise.
func readInts(chunk parquet.ColumnChunk, name string, rows []row, set func(r *row, v int64)) error {
	f := &rowFiller[int64]{rows: rows, set: set}
	ints64, ints32, values := make([]int64, 1024), make([]int32, 1024), make([]parquet.Value, 1024)
	err := eachPage(chunk, func(p parquet.Page) error {
		if err := requiredPage(p, name); err != nil {
			return err
		}
		switch r := p.Values().(type) {
		case parquet.Int64Reader:
			return readEach(r.ReadInt64s, ints64, f.put)
		case parquet.Int32Reader:
			return readEach(r.ReadInt32s, ints32, func(v int32) error { return f.put(int64(v)) })
		default:
			return readEach(r.ReadValues, values, func(v parquet.Value) error {
				if v.Kind() == parquet.Int32 {
					return f.put(int64(v.Int32()))
				}
				return f.put(v.Int64())
			})
		}
	})
	if err != nil {
		return err
	}
	return f.end()
}

// dictionarySetter returns the setter of dictionary-encoded string column
// name's field, nil for another column.
func dictionarySetter(name string) func(r *row, v string) {
	switch name {
	case "kind":
		return func(r *row, v string) { r.Kind = v }
	case "device_id":
		return func(r *row, v string) { r.DeviceID = v }
	case "type":
		return func(r *row, v string) { r.Type = v }
	case "event_id":
		return func(r *row, v string) { r.EventID = v }
	case "event_type":
		return func(r *row, v string) { r.EventType = v }
	case "stream_id":
		return func(r *row, v string) { r.StreamID = v }
	}
	return nil
}

// readDictionaryStrings reads a required string column into rows. A
// dictionary-encoded page (all of them, as this code writes files) is read
// as its dictionary's entries, each made a string once, and the page's
// indexes into them; another page value by value. An index outside the
// dictionary is corrupt.
func readDictionaryStrings(chunk parquet.ColumnChunk, name string, rows []row, set func(r *row, v string)) error {
	f := &rowFiller[string]{rows: rows, set: set}
	var (
		dict    parquet.Dictionary
		entries []string
		values  = make([]parquet.Value, 1024)
	)
	err := eachPage(chunk, func(p parquet.Page) error {
		if err := requiredPage(p, name); err != nil {
			return err
		}
		d := p.Dictionary()
		data := p.Data()
		if d == nil || data.Kind() != encoding.Int32 {
			return readEach(p.Values().ReadValues, values, func(v parquet.Value) error { return f.put(string(v.ByteArray())) })
		}
		if d != dict {
			dict, entries = d, make([]string, d.Len())
			for j := range entries {
				entries[j] = string(d.Index(int32(j)).ByteArray())
			}
		}
		for _, x := range data.Int32() {
			if x < 0 || int(x) >= len(entries) {
				return fmt.Errorf("%w: index %d outside the dictionary of %d in column %s", ErrCorrupt, x, len(entries), name)
			}
			if err := f.put(entries[x]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return f.end()
}

// readMapKeys returns the readings' keys of each row: a value of
// repetition level 0 starts a row; a null one (definition level below the
// key's) is a row without readings.
func readMapKeys(chunk parquet.ColumnChunk, n int) ([][]string, error) {
	keys := make([][]string, n)
	interned := map[string]string{}
	i := -1
	err := eachValue(chunk, func(v parquet.Value) error {
		if v.RepetitionLevel() == 0 {
			i++
			if i >= n {
				return errTooManyValues
			}
		}
		if v.IsNull() {
			return nil
		}
		b := v.ByteArray()
		s, ok := interned[string(b)]
		if !ok {
			s = string(b)
			interned[s] = s
		}
		keys[i] = append(keys[i], s)
		return nil
	})
	if err == nil && i != n-1 {
		err = fmt.Errorf("%w: readings of %d rows for %d rows", ErrCorrupt, i+1, n)
	}
	return keys, err
}

// readMapValues pairs the readings' values with their keys.
func readMapValues(chunk parquet.ColumnChunk, rows []row, keys [][]string) error {
	i, j := -1, 0
	err := eachValue(chunk, func(v parquet.Value) error {
		if v.RepetitionLevel() == 0 {
			i, j = i+1, 0
			if i >= len(rows) {
				return errTooManyValues
			}
		}
		if v.IsNull() && j >= len(keys[i]) {
			return nil // no readings
		}
		if j >= len(keys[i]) {
			return fmt.Errorf("%w: more reading values than names", ErrCorrupt)
		}
		if rows[i].Readings == nil {
			rows[i].Readings = make(map[string]float64, len(keys[i]))
		}
		rows[i].Readings[keys[i][j]] = v.Double()
		j++
		return nil
	})
	if err == nil && i != len(rows)-1 {
		err = fmt.Errorf("%w: readings of %d rows for %d rows", ErrCorrupt, i+1, len(rows))
	}
	return err
}
