package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/fleetpulse/fleetpulse/domain"
)

// registerDevice runs an operator's registration of a new device, the part
// RegisterStation and RegisterVehicle share: decide checks the input and
// makes the event, which starts the device's stream; an id already taken, by
// a device of either kind, is refused.
func registerDevice(ctx context.Context, d devices, c Caller, id string, decide func() (domain.Event, error)) (Outcome, error) {
	if err := d.requireAdmin(ctx, c); err != nil {
		return Outcome{}, err
	}
	e, err := decide()
	if err != nil {
		return Outcome{}, err
	}
	version, err := d.appendOne(ctx, id, domain.NoStream, e)
	if errors.Is(err, domain.ErrVersionConflict) {
		return Outcome{}, fmt.Errorf("device %q: %w", id, domain.ErrDeviceExists)
	}
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: id, Version: version}, nil
}

// changeDevice runs an operator's decision on an existing device and
// appends it with optimistic concurrency on the version the decision saw:
// what updates, decommissions and token changes share.
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
