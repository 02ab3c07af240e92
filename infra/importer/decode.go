package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Format is the shape of an import file.
type Format string

// The formats an import reads.
const (
	CSV    Format = "csv"
	NDJSON Format = "ndjson"
	// Parquet is an archive file of infra/archive: its station measurements
	// and vehicle events, with their original ids.
	Parquet Format = "parquet"
)

// ErrBadFile is a file that cannot be imported as a whole (a CSV header
// naming unknown columns, or lacking some): importing it again cannot help.
var ErrBadFile = errors.New("the file cannot be imported")

// MaxLineBytes bounds one line of an import: longer lines are rejected as
// rows, never buffered whole.
const MaxLineBytes = 64 << 10

// ParseFormat reads a format's name (csv, ndjson, jsonl, parquet).
func ParseFormat(name string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "csv":
		return CSV, nil
	case "ndjson", "jsonl", "json-lines":
		return NDJSON, nil
	case "parquet":
		return Parquet, nil
	}
	return "", fmt.Errorf("format %q is not one of csv, ndjson, parquet", name)
}

// FormatOfFile tells a file's format by its extension.
func FormatOfFile(path string) (Format, error) {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	f, err := ParseFormat(ext)
	if err != nil {
		return "", fmt.Errorf("%s: the extension does not say the format (.csv, .ndjson, .jsonl or .parquet); name it with --format", filepath.Base(path))
	}
	return f, nil
}

// FormatOfContentType tells an upload's format by its Content-Type.
func FormatOfContentType(contentType string) (Format, bool) {
	mediaType, _, _ := strings.Cut(contentType, ";")
	switch strings.ToLower(strings.TrimSpace(mediaType)) {
	case "text/csv", "application/csv":
		return CSV, true
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return NDJSON, true
	case "application/vnd.apache.parquet", "application/x-parquet":
		return Parquet, true
	}
	return "", false
}

// Row is one measurement of an import file, with where it was.
type Row struct {
	// Line is the row's 1-based line in the file (its first line, for a
	// CSV record spanning several), or its 1-based row number in a Parquet
	// file.
	Line int64
	// Station and Measurement are a station measurement's.
	Station string
	domain.Measurement
	// VehicleID and Event, when Event is set, make the row a vehicle's
	// event instead (an archive file's vehicle rows).
	VehicleID string
	Event     *domain.VehicleEvent
}

// RowError is a row that could not be read; the import rejects it and reads
// on.
type RowError struct {
	Line   int64
	Reason string
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Decoder reads an import file a row at a time. Next returns the next row,
// a *RowError for a row it rejects (the next call reads on), io.EOF at the
// end, or another error when the file as a whole cannot be read.
type Decoder interface {
	Next() (Row, error)
}

// NewDecoder returns the decoder of format over r, for CSV and NDJSON; an
// Importer's NewDecoder reads Parquet too.
func NewDecoder(format Format, r io.Reader) (Decoder, error) {
	switch format {
	case CSV:
		return newCSVDecoder(r), nil
	case NDJSON:
		return newNDJSONDecoder(r), nil
	case Parquet:
		return nil, errNoArchiveReader
	}
	return nil, fmt.Errorf("format %q is not one of csv, ndjson, parquet", format)
}

// --- CSV -----------------------------------------------------------------------

// csvColumns are the columns a CSV file may have, in any order; all but id
// are required.
var csvColumns = []string{"station", "id", "type", "value", "measured_at"}

type csvDecoder struct {
	r       *csv.Reader
	columns map[string]int // column name -> index
	width   int
}

func newCSVDecoder(r io.Reader) *csvDecoder {
	cr := csv.NewReader(bufio.NewReaderSize(r, 256<<10))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // checked here, to name the line
	cr.TrimLeadingSpace = true
	return &csvDecoder{r: cr}
}

func (d *csvDecoder) header() error {
	rec, err := d.r.Read()
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	var parseErr *csv.ParseError
	if errors.As(err, &parseErr) {
		return fmt.Errorf("%w: the CSV header (line 1) is not CSV: %w", ErrBadFile, err)
	}
	if err != nil {
		return err
	}
	d.columns = map[string]int{}
	for i, name := range rec {
		name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))
		known := false
		for _, c := range csvColumns {
			known = known || c == name
		}
		if !known {
			return fmt.Errorf("%w: the CSV header names column %q: the columns are %s (id optional), in any order", ErrBadFile, name, strings.Join(csvColumns, ", "))
		}
		if _, dup := d.columns[name]; dup {
			return fmt.Errorf("%w: the CSV header names column %q twice", ErrBadFile, name)
		}
		d.columns[name] = i
	}
	for _, c := range csvColumns {
		if _, ok := d.columns[c]; !ok && c != "id" {
			return fmt.Errorf("%w: the CSV header lacks column %q: the columns are %s (id optional), in any order", ErrBadFile, c, strings.Join(csvColumns, ", "))
		}
	}
	d.width = len(rec)
	return nil
}

func (d *csvDecoder) Next() (Row, error) {
	if d.columns == nil {
		if err := d.header(); err != nil {
			return Row{}, err
		}
	}
	for {
		rec, err := d.r.Read()
		if errors.Is(err, io.EOF) {
			return Row{}, io.EOF
		}
		var parseErr *csv.ParseError
		if errors.As(err, &parseErr) {
			return Row{}, &RowError{Line: int64(parseErr.StartLine), Reason: "not CSV: " + parseErr.Err.Error()}
		}
		if err != nil {
			return Row{}, err
		}
		line, _ := d.r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) != d.width {
			return Row{}, &RowError{Line: int64(line), Reason: fmt.Sprintf("has %d fields, the header %d", len(rec), d.width)}
		}
		return d.row(int64(line), rec)
	}
}

func (d *csvDecoder) field(rec []string, name string) string {
	i, ok := d.columns[name]
	if !ok {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

func (d *csvDecoder) row(line int64, rec []string) (Row, error) {
	row := Row{Line: line, Station: d.field(rec, "station")}
	row.ID = d.field(rec, "id")
	row.Type = d.field(rec, "type")
	if row.Station == "" {
		return Row{}, &RowError{Line: line, Reason: "station: is required"}
	}
	v, err := strconv.ParseFloat(d.field(rec, "value"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Row{}, &RowError{Line: line, Reason: fmt.Sprintf("value: %q is not a finite number", clip(d.field(rec, "value")))}
	}
	row.Value = v
	at, err := parseTime(d.field(rec, "measured_at"))
	if err != nil {
		return Row{}, &RowError{Line: line, Reason: err.Error()}
	}
	row.MeasuredAt = at
	return row, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("measured_at: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", clip(s))
	}
	return t, nil
}

// clip shortens a bad value for a rejection reason.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// --- NDJSON --------------------------------------------------------------------

type ndjsonDecoder struct {
	r    *bufio.Reader
	line int64
}

func newNDJSONDecoder(r io.Reader) *ndjsonDecoder {
	return &ndjsonDecoder{r: bufio.NewReaderSize(r, MaxLineBytes)}
}

// ndjsonRow is one line's object; value is a pointer to tell a missing
// value from 0.
type ndjsonRow struct {
	Station    string   `json:"station"`
	ID         string   `json:"id"`
	Type       string   `json:"type"`
	Value      *float64 `json:"value"`
	MeasuredAt string   `json:"measured_at"`
}

func (d *ndjsonDecoder) Next() (Row, error) {
	for {
		raw, err := d.r.ReadSlice('\n')
		if len(raw) == 0 && errors.Is(err, io.EOF) {
			return Row{}, io.EOF
		}
		d.line++
		if errors.Is(err, bufio.ErrBufferFull) {
			// Skip the rest of the overlong line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = d.r.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return Row{}, err
			}
			return Row{}, &RowError{Line: d.line, Reason: fmt.Sprintf("is longer than %d bytes", MaxLineBytes)}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Row{}, err
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		return d.row(raw)
	}
}

func (d *ndjsonDecoder) row(raw []byte) (Row, error) {
	var obj ndjsonRow
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil {
		return Row{}, &RowError{Line: d.line, Reason: "not a JSON object of station, id, type, value, measured_at: " + clip(err.Error())}
	}
	if dec.More() {
		return Row{}, &RowError{Line: d.line, Reason: "holds more than one JSON value"}
	}
	if obj.Station == "" {
		return Row{}, &RowError{Line: d.line, Reason: "station: is required"}
	}
	if obj.Value == nil {
		return Row{}, &RowError{Line: d.line, Reason: "value: is required"}
	}
	at, err := parseTime(obj.MeasuredAt)
	if err != nil {
		return Row{}, &RowError{Line: d.line, Reason: err.Error()}
	}
	return Row{Line: d.line, Station: obj.Station, Measurement: domain.Measurement{ID: obj.ID, Type: obj.Type, Value: *obj.Value, MeasuredAt: at}}, nil
}
