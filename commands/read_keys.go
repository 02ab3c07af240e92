package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
)

// CreateReadKey records a read API key an operator made. The key itself
// never travels with the command: the edge that shows it to the operator
// sends only its hash.
type CreateReadKey struct {
	Caller  Caller   `json:"caller"`
	KeyID   string   `json:"key_id"`
	Name    string   `json:"name"`
	Devices []string `json:"devices"` // null: every device; never omitted, so [] stays a refused empty scope
	KeyHash []byte   `json:"key_hash"`
}

// CreateReadKeyHandler lets an operator create a read key, optionally
// scoped to known devices.
type CreateReadKeyHandler struct {
	devices devices
	clock   func() time.Time
}

// Handle appends ReadKeyCreated to the key's own stream; a device in the
// scope that was never registered is refused (a typo would otherwise make
// a key that reads nothing).
func (h CreateReadKeyHandler) Handle(ctx context.Context, cmd *CreateReadKey) (Outcome, error) {
	if err := h.devices.requireAdmin(ctx, cmd.Caller); err != nil {
		return Outcome{}, err
	}
	e, err := domain.CreateReadKey(cmd.KeyID, cmd.Name, cmd.Devices, cmd.KeyHash, h.clock())
	if err != nil {
		return Outcome{}, err
	}
	for _, id := range e.Devices {
		if _, err := h.devices.load(ctx, id); err != nil {
			return Outcome{}, err
		}
	}
	data, err := domain.NewEventData(newID(), e)
	if err != nil {
		return Outcome{}, err
	}
	res, err := h.devices.store.Append(ctx, domain.ReadKeyStream(cmd.KeyID), domain.NoStream, []domain.EventData{data})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: cmd.KeyID, Version: res.NextVersion, Accepted: 1}, nil
}

// RevokeReadKey makes a read key stop working.
type RevokeReadKey struct {
	Caller Caller `json:"caller"`
	KeyID  string `json:"key_id"`
}

// RevokeReadKeyHandler lets an operator revoke a read key; revoking a
// revoked key again changes nothing and succeeds.
type RevokeReadKeyHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RevokeReadKeyHandler) Handle(ctx context.Context, cmd *RevokeReadKey) (Outcome, error) {
	if err := h.devices.requireAdmin(ctx, cmd.Caller); err != nil {
		return Outcome{}, err
	}
	if domain.ValidateDeviceID("id", cmd.KeyID) != nil {
		// No key was created under it (ids are UUIDs or device-id-like).
		return Outcome{}, fmt.Errorf("read key %q: %w", cmd.KeyID, domain.ErrReadKeyNotFound)
	}
	stream := domain.ReadKeyStream(cmd.KeyID)
	recs, err := h.devices.store.ReadStream(ctx, stream)
	if err != nil {
		return Outcome{}, fmt.Errorf("load read key %q: %w", cmd.KeyID, err)
	}
	events := make([]domain.Event, 0, len(recs))
	for _, r := range recs {
		e, err := r.Decode()
		if err != nil {
			return Outcome{}, fmt.Errorf("load read key %q: %w", cmd.KeyID, err)
		}
		events = append(events, e)
	}
	state, err := domain.ReadKeyFromHistory(events)
	if errors.Is(err, domain.ErrReadKeyNotFound) {
		return Outcome{}, fmt.Errorf("read key %q: %w", cmd.KeyID, err)
	}
	version := recs[len(recs)-1].StreamVersion
	e := state.Revoke(h.clock())
	if e == nil {
		return Outcome{ID: cmd.KeyID, Version: version}, nil
	}
	data, err := domain.NewEventData(newID(), e)
	if err != nil {
		return Outcome{}, err
	}
	res, err := h.devices.store.Append(ctx, stream, version, []domain.EventData{data})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: cmd.KeyID, Version: res.NextVersion, Accepted: 1}, nil
}
