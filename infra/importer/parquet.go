package importer

import (
	"errors"
	"fmt"
	"io"

	"github.com/fleetpulse/fleetpulse/domain"
)

// ArchiveReader decodes an archive file (the Parquet files of
// infra/archive, docs/archive.md) into the telemetry events it holds, in
// log order: infra/archive.ReadFile, given by the wiring (this package
// reaches no adapter).
type ArchiveReader func(name string, data []byte) ([]domain.RecordedEvent, error)

// MaxParquetBytes bounds an archive file an import reads: a Parquet file is
// read whole (its footer, at the end, says where its columns are). An
// archive file holds at most a day of one log stretch, 50,000 rows by
// default: a few MB.
const MaxParquetBytes = 512 << 20

// parquetDecoder reads an archive file's station measurements and vehicle
// events as rows, in the log order they were recorded in: a row's "line"
// is its 1-based number in that order. Each keeps its original id
// (measurement id or eid), so an item still in the log, or imported
// before, is a duplicate.
type parquetDecoder struct {
	read ArchiveReader
	r    io.Reader

	rows []Row
	next int
	err  error
	done bool
}

func newParquetDecoder(read ArchiveReader, r io.Reader) *parquetDecoder {
	return &parquetDecoder{read: read, r: r}
}

func (d *parquetDecoder) Next() (Row, error) {
	if !d.done {
		d.done = true
		d.rows, d.err = d.load()
	}
	if d.err != nil {
		return Row{}, d.err
	}
	if d.next >= len(d.rows) {
		return Row{}, io.EOF
	}
	d.next++
	return d.rows[d.next-1], nil
}

// load reads the whole file and turns its events into rows. A file that is
// not an archive file, or too large, cannot be imported (ErrBadFile); an
// error reading it is returned as it is.
func (d *parquetDecoder) load() ([]Row, error) {
	if d.read == nil {
		return nil, fmt.Errorf("%w: this fleetpulse reads no Parquet", ErrBadFile)
	}
	data, err := io.ReadAll(io.LimitReader(d.r, MaxParquetBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxParquetBytes {
		return nil, fmt.Errorf("%w: a Parquet file is read whole, and this one is larger than %d bytes", ErrBadFile, MaxParquetBytes)
	}
	if len(data) == 0 {
		return nil, nil // nothing to import, as for an empty CSV file
	}
	events, err := d.read("the Parquet file", data)
	if err != nil {
		return nil, fmt.Errorf("%w: not an archive file of fleetpulse: %w", ErrBadFile, err)
	}
	return rowsOfEvents(events)
}

// rowsOfEvents lists the items of telemetry events, numbered from 1 in
// order.
func rowsOfEvents(events []domain.RecordedEvent) ([]Row, error) {
	var rows []Row
	for _, rec := range events {
		e := rec.Decoded
		if e == nil {
			var err error
			if e, err = domain.DecodeEvent(rec.Type, rec.Data); err != nil {
				return nil, fmt.Errorf("%w: event %s: %w", ErrBadFile, rec.ID, err)
			}
		}
		switch b := domain.Upcast(e).(type) {
		case domain.MeasurementsRecorded:
			for _, m := range b.Measurements {
				rows = append(rows, Row{Line: int64(len(rows) + 1), Station: b.StationID, Measurement: m})
			}
		case domain.VehicleEventsRecorded:
			for _, v := range b.Events {
				rows = append(rows, Row{Line: int64(len(rows) + 1), VehicleID: b.VID, Event: &v})
			}
		default:
			return nil, fmt.Errorf("%w: event %s is a %s, not telemetry", ErrBadFile, rec.ID, rec.Type)
		}
	}
	return rows, nil
}

// errNoArchiveReader is NewDecoder's answer for Parquet: only an
// Importer, given an ArchiveReader, reads it.
var errNoArchiveReader = errors.New("parquet is read by an Importer's NewDecoder")
