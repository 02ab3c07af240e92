// Package importer records bulk historical measurements, read from CSV or
// NDJSON, through the same RecordMeasurements command a station's live
// batches go through: the handler's validation, device checks and
// idempotency by measurement id apply to every row, and the events are the
// ones live data makes, so every read model and aggregate includes the
// history once projected. Rows are sent in large batches (one command per
// station and batch); after each batch the caller commits the import's
// progress, and a crashed import resumes from its last committed line (a
// batch replayed after a crash is stored once: its ids are duplicates).
//
// Both ways in use it: `fleetpulse import <file>` and the command API's
// import jobs (Runner, over a JobQueue the wiring gives it).
package importer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// Dispatcher sends a command and returns its handler's outcome.
type Dispatcher interface {
	Dispatch(ctx context.Context, cmd any) (commands.Outcome, error)
}

// Defaults of Config.
const (
	DefaultBatchSize     = 5000
	DefaultParallel      = 16
	DefaultInFlight      = 4
	DefaultMaxRejections = 100
)

// Config tunes an Importer.
type Config struct {
	// BatchSize is how many rows are read between two commits (default
	// DefaultBatchSize, at most domain.MaxBatchItems): each station's rows
	// of a batch go in one command.
	BatchSize int
	// Parallel is how many station commands of a batch are sent at once.
	Parallel int
	// InFlight is how many batches may be being recorded at once (default
	// DefaultInFlight): the next ones are read and sent while the first is
	// appended. 1 records one batch at a time.
	InFlight int
	// MaxRejections is how many rejected rows are kept with their reason
	// (all are counted).
	MaxRejections int
	// Policy and Clock are the command side's: each row is checked alone
	// before it is sent, so that a bad row is rejected with its line
	// without refusing its batch (the handler checks the batch again).
	Policy domain.TelemetryPolicy
	Clock  func() time.Time
	// Archive decodes archive files, for the Parquet format (nil: Parquet
	// files are refused).
	Archive ArchiveReader
}

// Rejection is a row not stored, and why.
type Rejection struct {
	Line   int64  `json:"line"`
	Reason string `json:"reason"`
}

// Progress is how far an import is: the counts of the rows read, and the
// first line not yet committed, where a resumed import starts reading.
type Progress struct {
	Rows       int64       `json:"rows"`
	Accepted   int64       `json:"accepted"`
	Duplicates int64       `json:"duplicates"`
	Rejected   int64       `json:"rejected"`
	NextLine   int64       `json:"next_line"`
	Rejections []Rejection `json:"rejections"`
}

// Importer records the rows of import files.
type Importer struct {
	dispatch Dispatcher
	cfg      Config
}

// New returns an Importer sending its commands through d.
func New(d Dispatcher, cfg Config) *Importer {
	if cfg.BatchSize <= 0 || cfg.BatchSize > domain.MaxBatchItems {
		cfg.BatchSize = min(max(cfg.BatchSize, DefaultBatchSize), domain.MaxBatchItems)
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = DefaultInFlight
	}
	if cfg.MaxRejections <= 0 {
		cfg.MaxRejections = DefaultMaxRejections
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Importer{dispatch: d, cfg: cfg}
}

// NewDecoder returns the decoder of format over r: NewDecoder's, and
// Parquet through Config.Archive.
func (im *Importer) NewDecoder(format Format, r io.Reader) (Decoder, error) {
	if format == Parquet {
		return newParquetDecoder(im.cfg.Archive, r), nil
	}
	return NewDecoder(format, r)
}

// DerivedID is the id of a row that has none: a hash of its station, type
// and measured time. The same series at the same instant gets the same id
// wherever and however often it is imported, so a resumed or repeated
// import stores it once (within the dedup horizon).
func DerivedID(station, typ string, at time.Time) string {
	h := sha256.New()
	for _, part := range []string{station, typ, at.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "imp-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Run records the rows of dec from progress from on (the rows before
// from.NextLine are read and skipped), calling commit after each batch is
// stored. It returns the final progress, or the progress last committed and
// the error that stopped it: dec's, a command's that is not the rows' fault,
// commit's or ctx's.
//
// Batches are pipelined: while one is being appended the next ones are read,
// checked and sent, up to Config.InFlight batches at once. Progress is still
// committed batch by batch in file order, each commit only once its batch
// and every one before it are stored, so a resumed import starts exactly
// after the last committed batch (the batches stored after it come back as
// duplicates). A station's commands are sent one after the other, in file
// order, so its rows reach the log in the order of the file.
func (im *Importer) Run(ctx context.Context, dec Decoder, from Progress, commit func(context.Context, Progress) error) (Progress, error) {
	p := from
	p.Rejections = slices.Clone(from.Rejections)
	committed := p
	committed.Rejections = slices.Clone(p.Rejections)

	// Commands still being sent when Run returns are stopped and waited
	// for: nothing is sent after Run returns.
	sendCtx, stop := context.WithCancel(ctx)
	var (
		inFlight []*pendingBatch
		last     = map[string]<-chan struct{}{} // the done of each station's last command sent
	)
	defer func() {
		stop()
		for _, b := range inFlight {
			<-b.done
		}
	}()
	// settle waits for the oldest batch in flight, adds what it did to the
	// progress and commits it.
	settle := func() error {
		b := inFlight[0]
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		inFlight = inFlight[1:]
		if b.err != nil {
			return b.err
		}
		p.Rows += b.read
		p.Accepted += b.accepted
		p.Duplicates += b.duplicates
		slices.SortStableFunc(b.rejections, func(a, b Rejection) int { return cmp.Compare(a.Line, b.Line) })
		for _, r := range b.rejections {
			im.reject(&p, r.Line, r.Reason)
		}
		p.NextLine = b.nextLine
		if err := commit(ctx, p); err != nil {
			return err
		}
		committed = p
		committed.Rejections = slices.Clone(p.Rejections)
		return nil
	}
	send := func(b *pendingBatch) error {
		im.start(sendCtx, b, last)
		inFlight = append(inFlight, b)
		for len(inFlight) >= im.cfg.InFlight {
			if err := settle(); err != nil {
				return err
			}
		}
		return nil
	}

	b := &pendingBatch{}
	var lastLine int64 // the last line read
	for {
		if err := ctx.Err(); err != nil {
			return committed, err
		}
		row, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var rowErr *RowError
		switch {
		case errors.As(err, &rowErr):
			if rowErr.Line < from.NextLine {
				continue
			}
			b.read++
			b.rejections = append(b.rejections, Rejection{Line: rowErr.Line, Reason: rowErr.Reason})
			lastLine = max(lastLine, rowErr.Line)
		case err != nil:
			return committed, err
		case row.Line < from.NextLine:
			continue
		default:
			b.read++
			lastLine = row.Line
			if err := im.validate(&row); err != nil {
				b.rejections = append(b.rejections, Rejection{Line: row.Line, Reason: reason(err)})
				break
			}
			b.rows = append(b.rows, row)
		}
		if b.read >= int64(im.cfg.BatchSize) {
			b.nextLine = lastLine + 1
			if err := send(b); err != nil {
				return committed, err
			}
			b = &pendingBatch{}
		}
	}
	if b.read > 0 {
		b.nextLine = lastLine + 1
		if err := send(b); err != nil {
			return committed, err
		}
	}
	for len(inFlight) > 0 {
		if err := settle(); err != nil {
			return committed, err
		}
	}
	return p, nil
}

// validate checks a row alone with the command side's rules, so that a bad
// row is rejected with its line instead of refusing its station's command,
// and gives a row without id its derived one.
func (im *Importer) validate(row *Row) error {
	var err error
	if row.Event != nil {
		err = im.cfg.Policy.ValidateVehicleEvents([]domain.VehicleEvent{*row.Event}, im.cfg.Clock())
	} else {
		err = im.cfg.Policy.ValidateMeasurements([]domain.Measurement{row.Measurement}, im.cfg.Clock())
	}
	if err != nil {
		return err
	}
	if row.Event == nil && row.ID == "" {
		row.ID = DerivedID(row.Station, row.Type, row.MeasuredAt)
	}
	return nil
}

// pendingBatch is a batch of rows read and being recorded: what reading it
// found, and, once done is closed, what recording it did.
type pendingBatch struct {
	rows       []Row
	read       int64       // rows read, the rejected ones included
	rejections []Rejection // of reading, checking and recording
	nextLine   int64       // the first line after the batch

	done                 chan struct{}
	accepted, duplicates int64
	err                  error
}

// start sends a batch's commands, one per device: Parallel at once, each
// after the same device's command of the batch before (last) is answered,
// and closes b.done once all are answered.
func (im *Importer) start(ctx context.Context, b *pendingBatch, last map[string]<-chan struct{}) {
	b.done = make(chan struct{})
	var order []deviceKey
	byDevice := map[deviceKey][]Row{}
	for _, r := range b.rows {
		k := keyOf(r)
		if _, seen := byDevice[k]; !seen {
			order = append(order, k)
		}
		byDevice[k] = append(byDevice[k], r)
	}
	results := make([]stationResult, len(order))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(im.cfg.Parallel)
	for i, k := range order {
		prev := last[k.String()]
		mine := make(chan struct{})
		last[k.String()] = mine
		g.Go(func() error {
			defer close(mine)
			if prev != nil {
				select {
				case <-prev:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			if k.vehicle {
				return im.recordVehicle(gctx, k.id, byDevice[k], &results[i])
			}
			return im.recordStation(gctx, k.id, byDevice[k], &results[i])
		})
	}
	go func() {
		defer close(b.done)
		if err := g.Wait(); err != nil {
			b.err = err
			return
		}
		for _, res := range results {
			b.accepted += res.accepted
			b.duplicates += res.duplicates
			b.rejections = append(b.rejections, res.rejections...)
		}
	}()
}

// deviceKey is the device a row goes to: a station, or a vehicle.
type deviceKey struct {
	id      string
	vehicle bool
}

func keyOf(r Row) deviceKey {
	if r.Event != nil {
		return deviceKey{id: r.VehicleID, vehicle: true}
	}
	return deviceKey{id: r.Station}
}

func (k deviceKey) String() string {
	if k.vehicle {
		return "vehicle/" + k.id
	}
	return "station/" + k.id
}

func (im *Importer) reject(p *Progress, line int64, why string) {
	p.Rejected++
	if len(p.Rejections) < im.cfg.MaxRejections {
		p.Rejections = append(p.Rejections, Rejection{Line: line, Reason: why})
	}
}

// reason is a refusal's text for a rejection, without the batch index a
// validation error of a one-row batch names.
func reason(err error) string {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return ve.Field + ": " + ve.Reason
	}
	return err.Error()
}

// stationResult is what recording one station's rows of a batch did.
type stationResult struct {
	accepted, duplicates int64
	rejections           []Rejection
}

// recordStation sends one station's rows. A row the handler refuses is
// rejected and the others sent again; a station the handler refuses
// (unknown, decommissioned) rejects all its rows. A command that could not
// be handled (unavailable) is retried a few times, then stops the import.
func (im *Importer) recordStation(ctx context.Context, station string, rows []Row, res *stationResult) error {
	return im.recordDevice(ctx, "station", station, rows, res, func(rows []Row) any {
		ms := make([]domain.Measurement, len(rows))
		for i, r := range rows {
			ms[i] = r.Measurement
		}
		return &commands.RecordMeasurements{Caller: commands.Caller{Admin: true}, StationID: station, Measurements: ms}
	})
}

// recordVehicle sends one vehicle's events, as recordStation does a
// station's measurements.
func (im *Importer) recordVehicle(ctx context.Context, vid string, rows []Row, res *stationResult) error {
	return im.recordDevice(ctx, "vehicle", vid, rows, res, func(rows []Row) any {
		es := make([]domain.VehicleEvent, len(rows))
		for i, r := range rows {
			es[i] = *r.Event
		}
		return &commands.RecordVehicleEvents{Caller: commands.Caller{Admin: true}, VID: vid, Events: es}
	})
}

func (im *Importer) recordDevice(ctx context.Context, kind, id string, rows []Row, res *stationResult, command func([]Row) any) error {
	rows = slices.Clone(rows)
	for len(rows) > 0 {
		out, err := im.send(ctx, command(rows))
		if err == nil {
			res.accepted += int64(out.Accepted)
			res.duplicates += int64(out.Duplicates)
			return nil
		}
		var ve *domain.ValidationError
		if errors.As(err, &ve) && ve.Index >= 0 && ve.Index < len(rows) {
			res.rejections = append(res.rejections, Rejection{Line: rows[ve.Index].Line, Reason: reason(err)})
			rows = slices.Delete(rows, ve.Index, ve.Index+1)
			continue
		}
		switch domain.Code(err) {
		case domain.CodeNotFound, domain.CodeDecommissioned, domain.CodeForbidden, domain.CodeInvalid:
			why := fmt.Sprintf("%s %q: %s", kind, id, err.Error())
			for _, r := range rows {
				res.rejections = append(res.rejections, Rejection{Line: r.Line, Reason: why})
			}
			return nil
		}
		return fmt.Errorf("record %d items of %s %q: %w", len(rows), kind, id, err)
	}
	return nil
}

// send dispatches cmd, retrying a few times while the command side is
// unavailable: the batch is the same each time, so a retry of a command
// that was stored after all only finds duplicates.
func (im *Importer) send(ctx context.Context, cmd any) (commands.Outcome, error) {
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := im.dispatch.Dispatch(ctx, cmd)
		if err == nil || domain.Code(err) != domain.CodeUnavailable || attempt == sendAttempts {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// sendAttempts bounds the tries of one command while the command side is
// unavailable (about 6 s of waiting in all).
const sendAttempts = 6

// Handlers sends an import's commands straight to the command handlers of
// app, in this process: the same handlers, validation and idempotency as
// through the command bus, without encoding every command to JSON and
// back (a fifth of the import's CPU). For the CLI, and the command API's
// jobs when its bus is in-process.
type Handlers struct {
	App commands.Application
}

// Dispatch runs cmd's handler; the importer sends only telemetry commands.
func (h Handlers) Dispatch(ctx context.Context, cmd any) (out commands.Outcome, err error) {
	// A handler's panic fails the command, as on the bus, instead of the
	// process running the import.
	defer func() {
		if r := recover(); r != nil {
			out, err = commands.Outcome{}, fmt.Errorf("import: %T handler panicked: %v", cmd, r)
		}
	}()
	switch c := cmd.(type) {
	case *commands.RecordMeasurements:
		return h.App.RecordMeasurements.Handle(ctx, c)
	case *commands.RecordVehicleEvents:
		return h.App.RecordVehicleEvents.Handle(ctx, c)
	}
	return commands.Outcome{}, fmt.Errorf("import: no handler for %T: %w", cmd, domain.ErrInvalid)
}
