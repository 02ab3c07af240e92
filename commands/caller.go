package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Caller is who sends a command. Token secrets never travel with a command:
// the edge hashes them.
type Caller struct {
	Admin     bool   `json:"admin,omitempty"`
	DeviceID  string `json:"device_id,omitempty"`
	TokenHash []byte `json:"token_hash,omitempty"`
}

// callerIsDevice says whether the caller presents a valid token of its own device.
func (d devices) callerIsDevice(ctx context.Context, c Caller) (bool, error) {
	if c.DeviceID == "" || len(c.TokenHash) == 0 {
		return false, nil
	}
	dev, err := d.load(ctx, c.DeviceID)
	if errors.Is(err, domain.ErrDeviceNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return dev.TokenMatches(c.TokenHash), nil
}

// requireAdmin lets only operators through: a valid device token is
// forbidden, anything else unauthenticated.
func (d devices) requireAdmin(ctx context.Context, c Caller) error {
	if c.Admin {
		return nil
	}
	ok, err := d.callerIsDevice(ctx, c)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("operator route: %w", domain.ErrForbidden)
	}
	return domain.ErrUnauthenticated
}

// loadForWrite loads the target device and checks that the caller is an
// operator or the device itself.
func (d devices) loadForWrite(ctx context.Context, c Caller, id string) (*domain.Device, error) {
	dev, err := d.load(ctx, id)
	if err != nil && !errors.Is(err, domain.ErrDeviceNotFound) {
		return nil, err
	}
	if c.Admin {
		return dev, err
	}
	if dev != nil && c.DeviceID == id {
		if dev.TokenMatches(c.TokenHash) {
			return dev, nil
		}
		return nil, domain.ErrUnauthenticated
	}
	ok, authErr := d.callerIsDevice(ctx, c)
	if authErr != nil {
		return nil, authErr
	}
	if ok {
		return nil, fmt.Errorf("a device may write only to itself: %w", domain.ErrForbidden)
	}
	return nil, domain.ErrUnauthenticated
}
