package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel"
)

// DeviceCounts reports the fleet's devices in service and the silent ones:
// readmodel.CountDevices.
type DeviceCounts func(ctx context.Context) ([]readmodel.DeviceCount, error)

type deviceCollector struct {
	counts  DeviceCounts
	timeout time.Duration
	logger  *slog.Logger

	devices, silent *prometheus.Desc
}

// NewDeviceCollector describes the fleet at each scrape, by kind (station,
// vehicle): devices in service (registered, not decommissioned) and those
// the alert evaluator reports silent. Their ratio is what the "devices
// silent" alert watches. A failed count is logged and leaves the series
// out of that scrape.
func NewDeviceCollector(counts DeviceCounts, timeout time.Duration, logger *slog.Logger) prometheus.Collector {
	labels := []string{"kind"}
	return &deviceCollector{counts: counts, timeout: timeout, logger: logger,
		devices: prometheus.NewDesc("fleetpulse_devices", "Devices in service: registered and not decommissioned.", labels, nil),
		silent: prometheus.NewDesc("fleetpulse_devices_silent",
			"Devices in service reported silent: no measured data for FLEETPULSE_OFFLINE_AFTER.", labels, nil),
	}
}

func (c *deviceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.devices
	ch <- c.silent
}

func (c *deviceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts, err := c.counts(ctx)
	if err != nil {
		c.logger.Warn("devices not counted for this scrape", "err", err)
		return
	}
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.devices, prometheus.GaugeValue, float64(n.InService), n.Kind)
		ch <- prometheus.MustNewConstMetric(c.silent, prometheus.GaugeValue, float64(n.Silent), n.Kind)
	}
}
