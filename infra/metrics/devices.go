package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DeviceCount is the fleet's devices of one kind.
type DeviceCount struct {
	Kind      string
	InService int64
	Silent    int64
}

// DeviceCounts reports the fleet's devices in service and the silent ones,
// by kind (the read models know them).
type DeviceCounts func(ctx context.Context) ([]DeviceCount, error)

// NewDeviceCollector describes the fleet at each scrape, by kind (station,
// vehicle): devices in service (registered, not decommissioned) and those
// the alert evaluator reports silent. Their ratio is what the "devices
// silent" alert watches.
func NewDeviceCollector(counts DeviceCounts, timeout time.Duration, logger *slog.Logger) prometheus.Collector {
	labels := []string{"kind"}
	devices := prometheus.NewDesc("fleetpulse_devices", "Devices in service: registered and not decommissioned.", labels, nil)
	silent := prometheus.NewDesc("fleetpulse_devices_silent",
		"Devices in service reported silent: no measured data for FLEETPULSE_OFFLINE_AFTER.", labels, nil)
	return &queryCollector[DeviceCount]{
		descs: []*prometheus.Desc{devices, silent}, query: counts, timeout: timeout, logger: logger, what: "devices",
		emit: func(n DeviceCount, ch chan<- prometheus.Metric) {
			ch <- gauge(devices, float64(n.InService), n.Kind)
			ch <- gauge(silent, float64(n.Silent), n.Kind)
		},
	}
}
