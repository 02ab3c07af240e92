package readmodel

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fleetpulse/fleetpulse/infra/postgres"
	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// The export of each resolution: $1 station, $2 type, then the range.
const (
	exportHourlySQL = `
SELECT hour, count, min, max, sum / count, sum FROM rm_hourly
WHERE device_id = $1 AND name = $2 AND hour >= $3 AND hour < $4 ORDER BY hour`

	exportDailySQL = `
SELECT to_char(day, 'YYYY-MM-DD'), count, min, max, sum / count, sum FROM rm_daily
WHERE device_id = $1 AND name = $2 AND day >= $3 AND day <= $4 ORDER BY day`
)

// Export streams a station's series at a resolution row by row as
// PostgreSQL sends them (raw points chunk by chunk), each row put in one
// reused ExportRow: memory stays flat whatever the range.
func (q *Queries) Export(ctx context.Context, eq readapi.ExportQuery, begin func(), write func(readapi.ExportRow) error) error {
	var (
		row  readapi.ExportRow
		sql  string
		dest []any
	)
	switch eq.Resolution {
	case readapi.Raw:
		return q.seriesPoints(ctx, eq.StationID, eq.Type, eq.From, eq.To, begin, func(p rawchunk.Point) error {
			row.At, row.Value = p.MeasuredAt.UTC(), p.Value
			return write(row)
		})
	case readapi.Hourly:
		sql, dest = exportHourlySQL, []any{&row.At, &row.Count, &row.Min, &row.Max, &row.Avg, &row.Sum}
	case readapi.Daily:
		sql, dest = exportDailySQL, []any{&row.Day, &row.Count, &row.Min, &row.Max, &row.Avg, &row.Sum}
	default:
		return fmt.Errorf("export: no resolution %q", eq.Resolution)
	}
	rows, err := q.pool.Query(ctx, sql, eq.StationID, eq.Type, eq.From, eq.To)
	if err != nil {
		return postgres.Classify(fmt.Errorf("export %s %s: %w", eq.StationID, eq.Type, err))
	}
	begin()
	if _, err := pgx.ForEachRow(rows, dest, func() error { return write(row) }); err != nil {
		return postgres.Classify(fmt.Errorf("export %s %s: %w", eq.StationID, eq.Type, err))
	}
	return nil
}
