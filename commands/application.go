package commands

import (
	"time"

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
	CreateReadKey       CreateReadKeyHandler
	RevokeReadKey       RevokeReadKeyHandler
	RegisterWebhook     RegisterWebhookHandler
	RemoveWebhook       RemoveWebhookHandler
	EnableWebhook       EnableWebhookHandler
}

// NewApplication builds every handler on one store and clock.
func NewApplication(store EventStore, clock func() time.Time, policy domain.TelemetryPolicy) Application {
	d := devices{store: store}
	t := telemetry{devices: d, clock: clock, policy: policy}
	c := corrections{devices: d, clock: clock, policy: policy}
	return Application{
		RegisterStation:     RegisterStationHandler{devices: d, clock: clock},
		UpdateStation:       UpdateStationHandler{devices: d, clock: clock},
		DecommissionStation: DecommissionStationHandler{devices: d, clock: clock},
		RecordMeasurements:  RecordMeasurementsHandler{telemetry: t},
		RegisterVehicle:     RegisterVehicleHandler{devices: d, clock: clock},
		UpdateVehicle:       UpdateVehicleHandler{devices: d, clock: clock},
		DecommissionVehicle: DecommissionVehicleHandler{devices: d, clock: clock},
		RecordVehicleEvents: RecordVehicleEventsHandler{telemetry: t},
		RotateDeviceToken:   RotateDeviceTokenHandler{devices: d, clock: clock},
		RevokeDeviceToken:   RevokeDeviceTokenHandler{devices: d, clock: clock},
		CorrectMeasurement:  CorrectMeasurementHandler{corrections: c},
		RetractMeasurement:  RetractMeasurementHandler{corrections: c},
		SetAlertRule:        SetAlertRuleHandler{devices: d, clock: clock},
		CreateReadKey:       CreateReadKeyHandler{devices: d, clock: clock},
		RevokeReadKey:       RevokeReadKeyHandler{devices: d, clock: clock},
		RegisterWebhook:     RegisterWebhookHandler{store: store, devices: d, clock: clock},
		RemoveWebhook:       RemoveWebhookHandler{store: store, devices: d, clock: clock},
		EnableWebhook:       EnableWebhookHandler{store: store, devices: d, clock: clock},
	}
}

// WithWebhookTargets returns the application with the SSRF guard webhook
// registrations are checked against. Without one, RegisterWebhook refuses
// every endpoint (unavailable): no target is ever accepted unchecked.
func (a Application) WithWebhookTargets(t WebhookTargets) Application {
	a.RegisterWebhook.targets = t
	return a
}
