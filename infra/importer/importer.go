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
	// MaxRejections is how many rejected rows are kept with their reason
	// (all are counted).
	MaxRejections int
	// Policy and Clock are the command side's: each row is checked alone
	// before it is sent, so that a bad row is rejected with its line
	// without refusing its batch (the handler checks the batch again).
	Policy domain.TelemetryPolicy
	Clock  func() time.Time
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
	if cfg.MaxRejections <= 0 {
		cfg.MaxRejections = DefaultMaxRejections
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Importer{dispatch: d, cfg: cfg}
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
func (im *Importer) Run(ctx context.Context, dec Decoder, from Progress, commit func(context.Context, Progress) error) (Progress, error) {
	p := from
	p.Rejections = slices.Clone(from.Rejections)
	committed := p
	var (
		batch    []Row
		read     int   // rows read since the last commit
		lastLine int64 // the last line read
	)
	flush := func() error {
		if read == 0 {
			return nil
		}
		if err := im.record(ctx, batch, &p); err != nil {
			return err
		}
		p.NextLine = lastLine + 1
		if err := commit(ctx, p); err != nil {
			return err
		}
		committed = p
		committed.Rejections = slices.Clone(p.Rejections)
		batch, read = batch[:0], 0
		return nil
	}
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
			p.Rows++
			im.reject(&p, rowErr.Line, rowErr.Reason)
			lastLine = max(lastLine, rowErr.Line)
			read++
		case err != nil:
			return committed, err
		case row.Line < from.NextLine:
			continue
		default:
			p.Rows++
			read++
			lastLine = row.Line
			if err := im.cfg.Policy.ValidateMeasurements([]domain.Measurement{row.Measurement}, im.cfg.Clock()); err != nil {
				im.reject(&p, row.Line, reason(err))
				break
			}
			if row.ID == "" {
				row.ID = DerivedID(row.Station, row.Type, row.MeasuredAt)
			}
			batch = append(batch, row)
		}
		if read >= im.cfg.BatchSize {
			if err := flush(); err != nil {
				return committed, err
			}
		}
	}
	if err := flush(); err != nil {
		return committed, err
	}
	return p, nil
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

// record sends a batch: one command per station, Parallel at once. Every
// station's command must have been answered before the batch counts.
func (im *Importer) record(ctx context.Context, batch []Row, p *Progress) error {
	var order []string
	byStation := map[string][]Row{}
	for _, r := range batch {
		if _, seen := byStation[r.Station]; !seen {
			order = append(order, r.Station)
		}
		byStation[r.Station] = append(byStation[r.Station], r)
	}
	results := make([]stationResult, len(order))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(im.cfg.Parallel)
	for i, station := range order {
		g.Go(func() error { return im.recordStation(gctx, station, byStation[station], &results[i]) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var rejected []Rejection
	for _, res := range results {
		p.Accepted += res.accepted
		p.Duplicates += res.duplicates
		rejected = append(rejected, res.rejections...)
	}
	slices.SortFunc(rejected, func(a, b Rejection) int { return int(a.Line - b.Line) })
	for _, r := range rejected {
		im.reject(p, r.Line, r.Reason)
	}
	return nil
}

// recordStation sends one station's rows. A row the handler refuses is
// rejected and the others sent again; a station the handler refuses
// (unknown, decommissioned) rejects all its rows. A command that could not
// be handled (unavailable) is retried a few times, then stops the import.
func (im *Importer) recordStation(ctx context.Context, station string, rows []Row, res *stationResult) error {
	rows = slices.Clone(rows)
	for len(rows) > 0 {
		ms := make([]domain.Measurement, len(rows))
		for i, r := range rows {
			ms[i] = r.Measurement
		}
		out, err := im.send(ctx, &commands.RecordMeasurements{Caller: commands.Caller{Admin: true}, StationID: station, Measurements: ms})
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
			why := fmt.Sprintf("station %q: %s", station, err.Error())
			for _, r := range rows {
				res.rejections = append(res.rejections, Rejection{Line: r.Line, Reason: why})
			}
			return nil
		}
		return fmt.Errorf("record %d measurements of station %q: %w", len(rows), station, err)
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
