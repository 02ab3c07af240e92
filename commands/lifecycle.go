package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/fleetpulse/fleetpulse/domain"
)

func registerDevice(ctx context.Context, d devices, c Caller, id string, e domain.Event) (Outcome, error) {
	version, err := d.appendOne(ctx, id, domain.NoStream, e)
	if errors.Is(err, domain.ErrVersionConflict) {
		return Outcome{}, fmt.Errorf("device %q: %w", id, domain.ErrDeviceExists)
	}
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: id, Version: version}, nil
}

// changeDevice runs an operator's decision on a device and appends it with
// optimistic concurrency on the version the decision saw.
func changeDevice(ctx context.Context, d devices, c Caller, id string, decide func(*domain.Device) (domain.Event, error)) (Outcome, error) {
	if err := d.requireAdmin(ctx, c); err != nil {
		return Outcome{}, err
	}
	dev, err := d.load(ctx, id)
	if err != nil {
		return Outcome{}, err
	}
	e, err := decide(dev)
	if err != nil {
		return Outcome{}, err
	}
	version, err := d.appendOne(ctx, id, dev.Version(), e)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: id, Version: version}, nil
}
