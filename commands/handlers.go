package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Application lists every command handler: the whole write surface in one place.
type Application struct {
	RegisterStation     RegisterStationHandler
	UpdateStation       UpdateStationHandler
	DecommissionStation DecommissionStationHandler
	RecordMeasurements  RecordMeasurementsHandler
	RegisterVehicle     RegisterVehicleHandler
	UpdateVehicle       UpdateVehicleHandler
	DecommissionVehicle DecommissionVehicleHandler
	RecordVehicleEvents RecordVehicleEventsHandler
	RotateDeviceToken   RotateDeviceTokenHandler
	RevokeDeviceToken   RevokeDeviceTokenHandler
	CorrectMeasurement  CorrectMeasurementHandler
	RetractMeasurement  RetractMeasurementHandler
	SetAlertRule        SetAlertRuleHandler
}

// NewApplication builds every handler on one store and clock.
func NewApplication(store EventStore, clock func() time.Time, policy domain.TelemetryPolicy) Application {
	d := devices{store: store}
	return Application{
		RegisterStation:     RegisterStationHandler{devices: d, clock: clock},
		UpdateStation:       UpdateStationHandler{devices: d, clock: clock},
		DecommissionStation: DecommissionStationHandler{devices: d, clock: clock},
		RecordMeasurements:  RecordMeasurementsHandler{devices: d, clock: clock, policy: policy},
		RegisterVehicle:     RegisterVehicleHandler{devices: d, clock: clock},
		UpdateVehicle:       UpdateVehicleHandler{devices: d, clock: clock},
		DecommissionVehicle: DecommissionVehicleHandler{devices: d, clock: clock},
		RecordVehicleEvents: RecordVehicleEventsHandler{devices: d, clock: clock, policy: policy},
		RotateDeviceToken:   RotateDeviceTokenHandler{devices: d, clock: clock},
		RevokeDeviceToken:   RevokeDeviceTokenHandler{devices: d, clock: clock},
		CorrectMeasurement:  CorrectMeasurementHandler{devices: d, clock: clock},
		RetractMeasurement:  RetractMeasurementHandler{devices: d, clock: clock},
		SetAlertRule:        SetAlertRuleHandler{devices: d, clock: clock},
	}
}

// telemetryNamespace scopes telemetry event ids: the event id of a
// measurement is derived from (device, client id), so a retry with the same
// id is the same event and one device's ids never collide with another's.
var telemetryNamespace = uuid.MustParse("6f0b1f38-3f5c-4b43-9d7a-6a4f0d1e2c55")

func telemetryEventID(deviceID, itemID string) string {
	return uuid.NewSHA1(telemetryNamespace, []byte(deviceID+"/"+itemID)).String()
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// devices loads device state and checks who may act on it.
type devices struct{ store EventStore }

func (d devices) load(ctx context.Context, id string) (*domain.Device, error) {
	if domain.ValidateDeviceID("id", id) != nil {
		// No device was registered under it, and the store need not be
		// asked: PostgreSQL text cannot even hold some such ids (NUL).
		return nil, fmt.Errorf("device %q: %w", id, domain.ErrDeviceNotFound)
	}
	recs, err := d.store.ReadStream(ctx, domain.DeviceStream(id))
	if err != nil {
		return nil, fmt.Errorf("load device %q: %w", id, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("device %q: %w", id, domain.ErrDeviceNotFound)
	}
	events := make([]domain.Event, 0, len(recs))
	for _, r := range recs {
		e, err := r.Decode()
		if err != nil {
			return nil, fmt.Errorf("load device %q: %w", id, err)
		}
		events = append(events, e)
	}
	return domain.DeviceFromHistory(events, recs[len(recs)-1].StreamVersion)
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

func (d devices) appendOne(ctx context.Context, id string, expected int64, e domain.Event) (int64, error) {
	data, err := domain.NewEventData(newID(), e)
	if err != nil {
		return 0, err
	}
	res, err := d.store.Append(ctx, domain.DeviceStream(id), expected, []domain.EventData{data})
	if err != nil {
		return 0, err
	}
	return res.NextVersion, nil
}

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

type RegisterStationHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RegisterStationHandler) Handle(ctx context.Context, cmd *RegisterStation) (Outcome, error) {
	if err := h.devices.requireAdmin(ctx, cmd.Caller); err != nil {
		return Outcome{}, err
	}
	e, err := domain.RegisterStation(cmd.ID, cmd.Profile, cmd.TokenHash, h.clock())
	if err != nil {
		return Outcome{}, err
	}
	return registerDevice(ctx, h.devices, cmd.Caller, cmd.ID, e)
}

type RegisterVehicleHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RegisterVehicleHandler) Handle(ctx context.Context, cmd *RegisterVehicle) (Outcome, error) {
	if err := h.devices.requireAdmin(ctx, cmd.Caller); err != nil {
		return Outcome{}, err
	}
	e, err := domain.RegisterVehicle(cmd.VID, cmd.Profile, cmd.TokenHash, h.clock())
	if err != nil {
		return Outcome{}, err
	}
	return registerDevice(ctx, h.devices, cmd.Caller, cmd.VID, e)
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

type UpdateStationHandler struct {
	devices devices
	clock   func() time.Time
}

func (h UpdateStationHandler) Handle(ctx context.Context, cmd *UpdateStation) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.ID, func(d *domain.Device) (domain.Event, error) {
		return d.UpdateStation(cmd.Profile, cmd.ExpectedVersion, h.clock())
	})
}

type UpdateVehicleHandler struct {
	devices devices
	clock   func() time.Time
}

func (h UpdateVehicleHandler) Handle(ctx context.Context, cmd *UpdateVehicle) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.VID, func(d *domain.Device) (domain.Event, error) {
		return d.UpdateVehicle(cmd.Profile, cmd.ExpectedVersion, h.clock())
	})
}

type DecommissionStationHandler struct {
	devices devices
	clock   func() time.Time
}

func (h DecommissionStationHandler) Handle(ctx context.Context, cmd *DecommissionStation) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.ID, func(d *domain.Device) (domain.Event, error) {
		return d.Decommission(domain.KindStation, cmd.ExpectedVersion, h.clock())
	})
}

type DecommissionVehicleHandler struct {
	devices devices
	clock   func() time.Time
}

func (h DecommissionVehicleHandler) Handle(ctx context.Context, cmd *DecommissionVehicle) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.VID, func(d *domain.Device) (domain.Event, error) {
		return d.Decommission(domain.KindVehicle, cmd.ExpectedVersion, h.clock())
	})
}

type RotateDeviceTokenHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RotateDeviceTokenHandler) Handle(ctx context.Context, cmd *RotateDeviceToken) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.DeviceID, func(d *domain.Device) (domain.Event, error) {
		return d.RotateToken(d.Kind(), cmd.TokenHash, h.clock())
	})
}

type RevokeDeviceTokenHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RevokeDeviceTokenHandler) Handle(ctx context.Context, cmd *RevokeDeviceToken) (Outcome, error) {
	return changeDevice(ctx, h.devices, cmd.Caller, cmd.DeviceID, func(d *domain.Device) (domain.Event, error) {
		return d.RevokeToken(h.clock())
	})
}

type RecordMeasurementsHandler struct {
	devices devices
	clock   func() time.Time
	policy  domain.TelemetryPolicy
}

// Handle appends a batch of measurements. It reads only the short device
// stream, never the telemetry already recorded.
func (h RecordMeasurementsHandler) Handle(ctx context.Context, cmd *RecordMeasurements) (Outcome, error) {
	dev, err := h.devices.loadForWrite(ctx, cmd.Caller, cmd.StationID)
	if err != nil {
		return Outcome{}, err
	}
	if err := dev.AcceptsTelemetry(domain.KindStation); err != nil {
		return Outcome{}, err
	}
	if err := h.policy.ValidateMeasurements(cmd.Measurements, h.clock()); err != nil {
		return Outcome{}, err
	}
	events := make([]domain.EventData, len(cmd.Measurements))
	for i, m := range cmd.Measurements {
		if m.ID == "" {
			m.ID = newID()
		}
		data, err := domain.NewEventData(telemetryEventID(dev.ID(), m.ID), m.Recorded(dev.ID()))
		if err != nil {
			return Outcome{}, err
		}
		events[i] = data
	}
	res, err := h.devices.store.Append(ctx, domain.TelemetryStream(dev.ID()), domain.AnyVersion, events)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: dev.ID(), Version: res.NextVersion, Accepted: len(events) - len(res.Duplicates), Duplicates: len(res.Duplicates)}, nil
}

type RecordVehicleEventsHandler struct {
	devices devices
	clock   func() time.Time
	policy  domain.TelemetryPolicy
}

// Handle appends a batch of vehicle events; like measurements, without
// reading telemetry history.
func (h RecordVehicleEventsHandler) Handle(ctx context.Context, cmd *RecordVehicleEvents) (Outcome, error) {
	dev, err := h.devices.loadForWrite(ctx, cmd.Caller, cmd.VID)
	if err != nil {
		return Outcome{}, err
	}
	if err := dev.AcceptsTelemetry(domain.KindVehicle); err != nil {
		return Outcome{}, err
	}
	if err := h.policy.ValidateVehicleEvents(cmd.Events, h.clock()); err != nil {
		return Outcome{}, err
	}
	events := make([]domain.EventData, len(cmd.Events))
	eids := make([]string, len(cmd.Events))
	for i, e := range cmd.Events {
		if e.EID == "" {
			e.EID = newID()
		}
		eids[i] = e.EID
		data, err := domain.NewEventData(telemetryEventID(dev.ID(), e.EID), e.Recorded(dev.ID()))
		if err != nil {
			return Outcome{}, err
		}
		events[i] = data
	}
	res, err := h.devices.store.Append(ctx, domain.TelemetryStream(dev.ID()), domain.AnyVersion, events)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: dev.ID(), Version: res.NextVersion, Accepted: len(events) - len(res.Duplicates), Duplicates: len(res.Duplicates), EIDs: eids}, nil
}

// appendCorrection stores an operator's correction in the station's
// telemetry stream, after checking the measurement exists when the store
// can tell.
func appendCorrection(ctx context.Context, d devices, c Caller, stationID, measurementID string, e domain.Event) (Outcome, error) {
	if err := d.requireAdmin(ctx, c); err != nil {
		return Outcome{}, err
	}
	dev, err := d.load(ctx, stationID)
	if err != nil {
		return Outcome{}, err
	}
	if !dev.IsKind(domain.KindStation) {
		return Outcome{}, fmt.Errorf("station %q: %w", stationID, domain.ErrDeviceNotFound)
	}
	if finder, ok := d.store.(EventFinder); ok {
		found, err := finder.EventExists(ctx, telemetryEventID(stationID, measurementID))
		if err != nil {
			return Outcome{}, err
		}
		if !found {
			return Outcome{}, fmt.Errorf("measurement %q of station %q: %w", measurementID, stationID, domain.ErrMeasurementNotFound)
		}
	}
	data, err := domain.NewEventData(newID(), e)
	if err != nil {
		return Outcome{}, err
	}
	res, err := d.store.Append(ctx, domain.TelemetryStream(stationID), domain.AnyVersion, []domain.EventData{data})
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ID: measurementID, Version: res.NextVersion, Accepted: 1}, nil
}

type CorrectMeasurementHandler struct {
	devices devices
	clock   func() time.Time
}

func (h CorrectMeasurementHandler) Handle(ctx context.Context, cmd *CorrectMeasurement) (Outcome, error) {
	e, err := domain.CorrectMeasurement(cmd.StationID, cmd.MeasurementID, cmd.Value, cmd.Reason, cmd.Actor, h.clock())
	if err != nil {
		return Outcome{}, err
	}
	return appendCorrection(ctx, h.devices, cmd.Caller, cmd.StationID, cmd.MeasurementID, e)
}

type RetractMeasurementHandler struct {
	devices devices
	clock   func() time.Time
}

func (h RetractMeasurementHandler) Handle(ctx context.Context, cmd *RetractMeasurement) (Outcome, error) {
	e, err := domain.RetractMeasurement(cmd.StationID, cmd.MeasurementID, cmd.Reason, cmd.Actor, h.clock())
	if err != nil {
		return Outcome{}, err
	}
	return appendCorrection(ctx, h.devices, cmd.Caller, cmd.StationID, cmd.MeasurementID, e)
}
