package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// replicationSQL reads where a server stands as a streaming standby; on a
// primary the standby-only values are NULL. pg_stat_wal_receiver shows
// its row (though only its pid) to every user while a WAL receiver runs.
const replicationSQL = `
SELECT pg_is_in_recovery(),
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8,
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE pid IS NOT NULL)`

// ReplicationCollector exports, at each scrape, whether pool's server is a
// hot standby and how far behind its primary it is:
//
//   - fleetpulse_pg_in_recovery: 1 on a standby, 0 on a primary;
//   - fleetpulse_pg_replication_lag_seconds: now() minus the commit time of
//     the last transaction the standby replayed. It also grows while the
//     primary commits nothing (read it with the two below);
//   - fleetpulse_pg_replication_lag_bytes: WAL received but not yet replayed;
//   - fleetpulse_pg_wal_receiver_up: 1 while the standby streams from (or
//     tries to reach) its primary.
//
// The last three are exported on a standby only. A scrape that cannot reach
// the server exports none of them and logs why, so /metrics still answers.
func ReplicationCollector(pool *pgxpool.Pool, logger *slog.Logger) prometheus.Collector {
	return &replicationCollector{pool: pool, logger: logger,
		inRecovery: prometheus.NewDesc("fleetpulse_pg_in_recovery",
			"1 when the database this process reads is a hot standby (in recovery), 0 on a primary.", nil, nil),
		lagSeconds: prometheus.NewDesc("fleetpulse_pg_replication_lag_seconds",
			"Standby only: now() - pg_last_xact_replay_timestamp(), the age of the last replayed transaction.", nil, nil),
		lagBytes: prometheus.NewDesc("fleetpulse_pg_replication_lag_bytes",
			"Standby only: WAL received from the primary but not yet replayed.", nil, nil),
		receiverUp: prometheus.NewDesc("fleetpulse_pg_wal_receiver_up",
			"Standby only: 1 while a WAL receiver process streams from the primary.", nil, nil),
	}
}

type replicationCollector struct {
	pool                                         *pgxpool.Pool
	logger                                       *slog.Logger
	inRecovery, lagSeconds, lagBytes, receiverUp *prometheus.Desc
}

func (c *replicationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.inRecovery
	ch <- c.lagSeconds
	ch <- c.lagBytes
	ch <- c.receiverUp
}

func (c *replicationCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var (
		inRecovery, receiving bool
		lagSeconds, lagBytes  *float64
	)
	if err := c.pool.QueryRow(ctx, replicationSQL).Scan(&inRecovery, &lagSeconds, &lagBytes, &receiving); err != nil {
		c.logger.Warn("replication metrics not read", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.inRecovery, prometheus.GaugeValue, boolValue(inRecovery))
	if !inRecovery {
		return
	}
	if lagSeconds != nil {
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, *lagSeconds)
	}
	if lagBytes != nil {
		ch <- prometheus.MustNewConstMetric(c.lagBytes, prometheus.GaugeValue, *lagBytes)
	}
	ch <- prometheus.MustNewConstMetric(c.receiverUp, prometheus.GaugeValue, boolValue(receiving))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
