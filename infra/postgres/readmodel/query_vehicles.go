package readmodel

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fleetpulse/fleetpulse/infra/postgres/readmodel/rawchunk"
	"github.com/fleetpulse/fleetpulse/readapi"
)

// VehicleEvents pages through a vehicle's events, newest first: those in
// [From, To) of Type (any when empty) that come before the cursor (by time,
// then eid).
func (q *Queries) VehicleEvents(ctx context.Context, vq readapi.VehicleEventQuery) ([]readapi.VehicleEvent, error) {
	upper := vq.Before.At
	if vq.To.Before(upper) {
		upper = vq.To
	}
	var out []readapi.VehicleEvent
	err := q.vehicleEventsBefore(ctx, vq.VehicleID, upper, vq.From, func(e rawchunk.VehicleEvent) error {
		if e.OccurredAt.Before(vq.From) {
			return errStop // newest first: nothing older qualifies
		}
		if !e.OccurredAt.Before(vq.To) || (vq.Type != "" && e.Type != vq.Type) {
			return nil
		}
		if c := e.OccurredAt.Compare(vq.Before.At); c > 0 || (c == 0 && e.EID >= vq.Before.EID) {
			return nil
		}
		ev, err := responseEvent(e)
		if err != nil {
			return err
		}
		out = append(out, ev)
		if len(out) == vq.Limit {
			return errStop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read events of vehicle %q: %w", vq.VehicleID, err)
	}
	return out, nil
}

// VehicleEvent returns one event, or readapi.ErrEventNotFound.
func (q *Queries) VehicleEvent(ctx context.Context, vehicleID, eid string) (readapi.VehicleEvent, error) {
	e, ok, err := q.vehicleEventByID(ctx, vehicleID, eid)
	if err != nil {
		return readapi.VehicleEvent{}, err
	}
	if !ok {
		return readapi.VehicleEvent{}, fmt.Errorf("event %q of vehicle %q: %w", eid, vehicleID, readapi.ErrEventNotFound)
	}
	return responseEvent(e)
}

// responseEvent is a chunk's event as the read API answers it.
func responseEvent(e rawchunk.VehicleEvent) (readapi.VehicleEvent, error) {
	out := readapi.VehicleEvent{EID: e.EID, Type: e.Type, OccurredAt: e.OccurredAt.UTC(), Data: e.Data}
	if len(e.Readings) > 0 {
		b, err := json.Marshal(e.Readings)
		if err != nil {
			return out, fmt.Errorf("readings of %s: %w", e.EID, err)
		}
		out.Readings = b
	}
	if e.HasLocation {
		out.Location = &readapi.Location{Lat: e.Lat, Lon: e.Lon}
	}
	return out, nil
}
