package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/infra/config"
)

// TestFromEnv_RetentionTakesDaysOrMinutes: the retention settings take
// days (the defaults) or any Go duration down to minutes, as the retention
// soak (scripts/soak.sh, SOAK_MODE=retention) sets them; the archive
// horizon may not be shorter than the de-duplication horizon.
func TestFromEnv_RetentionTakesDaysOrMinutes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    config.Config
		wantErr string
	}{
		{name: "defaults", env: map[string]string{},
			want: config.Config{RawRetention: 90 * 24 * time.Hour, HourlyRetention: 730 * 24 * time.Hour,
				DedupHorizon: 7 * 24 * time.Hour, ArchiveHorizon: 30 * 24 * time.Hour}},
		{name: "minutes", env: map[string]string{"FLEETPULSE_RAW_RETENTION": "5m", "FLEETPULSE_HOURLY_RETENTION": "10m",
			"FLEETPULSE_DEDUP_HORIZON": "5m", "FLEETPULSE_ARCHIVE_URL": "/tmp/archive", "FLEETPULSE_ARCHIVE_HORIZON": "5m",
			"FLEETPULSE_ARCHIVE_INTERVAL": "1m"},
			want: config.Config{RawRetention: 5 * time.Minute, HourlyRetention: 10 * time.Minute,
				DedupHorizon: 5 * time.Minute, ArchiveHorizon: 5 * time.Minute, ArchiveInterval: time.Minute}},
		{name: "archive before the duplicates expire", env: map[string]string{"FLEETPULSE_DEDUP_HORIZON": "10m", "FLEETPULSE_ARCHIVE_HORIZON": "5m"},
			wantErr: "FLEETPULSE_ARCHIVE_HORIZON (5m0s) must be at least FLEETPULSE_DEDUP_HORIZON (10m0s)"},
		{name: "not a duration", env: map[string]string{"FLEETPULSE_DEDUP_HORIZON": "5 minutes"},
			wantErr: `FLEETPULSE_DEDUP_HORIZON: want a positive duration like 90d or 36h, got "5 minutes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := fromEnv(t, tc.env, tc.wantErr)
			if !ok {
				return
			}
			got := config.Config{RawRetention: c.RawRetention, HourlyRetention: c.HourlyRetention,
				DedupHorizon: c.DedupHorizon, ArchiveHorizon: c.ArchiveHorizon, ArchiveInterval: c.ArchiveInterval}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestFromEnv_ScheduledArchivePaceAndFileSize: the projector's archive
// runs are paced and write smaller files by default; a rate of 0 turns
// the pace off, a file of no items is refused.
func TestFromEnv_ScheduledArchivePaceAndFileSize(t *testing.T) {
	for _, tc := range []struct {
		name            string
		env             map[string]string
		rate, fileItems int
		wantErr         string
	}{
		{name: "defaults", env: map[string]string{}, rate: 60000, fileItems: 50000},
		{name: "set", env: map[string]string{"FLEETPULSE_ARCHIVE_RATE": "90000", "FLEETPULSE_ARCHIVE_FILE_ITEMS": "20000"},
			rate: 90000, fileItems: 20000},
		{name: "unpaced", env: map[string]string{"FLEETPULSE_ARCHIVE_RATE": "0"}, rate: 0, fileItems: 50000},
		{name: "negative rate", env: map[string]string{"FLEETPULSE_ARCHIVE_RATE": "-1"},
			wantErr: `FLEETPULSE_ARCHIVE_RATE: want a whole number from 0, got "-1"`},
		{name: "no items a file", env: map[string]string{"FLEETPULSE_ARCHIVE_FILE_ITEMS": "0"},
			wantErr: `FLEETPULSE_ARCHIVE_FILE_ITEMS: want a positive integer, got "0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := fromEnv(t, tc.env, tc.wantErr)
			if !ok {
				return
			}
			if c.ArchiveRate != tc.rate || c.ArchiveFileItems != tc.fileItems {
				t.Fatalf("rate %d, file items %d; want %d, %d", c.ArchiveRate, c.ArchiveFileItems, tc.rate, tc.fileItems)
			}
		})
	}
}

// fromEnv reads the configuration of env. With wantErr set it checks that
// reading fails saying so and returns false; else it fails the test on an
// error.
func fromEnv(t *testing.T, env map[string]string, wantErr string) (config.Config, bool) {
	t.Helper()
	c, err := config.FromEnv(func(k string) string { return env[k] })
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want one saying %q", err, wantErr)
		}
		return c, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, true
}
