package domain

import (
	"crypto/subtle"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// DeviceKind tells stations from vehicles; both share one id namespace.
type DeviceKind string

const (
	KindStation DeviceKind = "station"
	KindVehicle DeviceKind = "vehicle"
)

// ValidateDeviceID reports whether id can name a device.
func ValidateDeviceID(field, id string) error {
	if !isDeviceID(id) {
		return invalid(field, "must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
	}
	return nil
}

// Location is a WGS84 coordinate.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

func (l Location) validate(field string) error {
	if math.IsNaN(l.Lat) || l.Lat < -90 || l.Lat > 90 {
		return invalid(field+".lat", "must be between -90 and 90")
	}
	if math.IsNaN(l.Lon) || l.Lon < -180 || l.Lon > 180 {
		return invalid(field+".lon", "must be between -180 and 180")
	}
	return nil
}

// LoadZone resolves an IANA zone name; the empty name is UTC.
func LoadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	// "Local" would silently depend on the server's settings.
	if name == "Local" {
		return nil, invalid("timezone", "must be an IANA time zone name")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, invalid("timezone", fmt.Sprintf("unknown IANA time zone %q", name))
	}
	return loc, nil
}

func validateText(field, v string, required bool, max int) error {
	if required && strings.TrimSpace(v) == "" {
		return invalid(field, "is required")
	}
	if !utf8.ValidString(v) {
		return invalid(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(v) > max {
		return invalid(field, fmt.Sprintf("must be at most %d characters", max))
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}

// StationProfile is what an operator says about a station.
type StationProfile struct {
	Name     string   `json:"name"`
	Location Location `json:"location"`
	TimeZone string   `json:"timezone,omitempty"`
}

// Validate checks the profile's invariants.
func (p StationProfile) Validate() error {
	if err := validateText("name", p.Name, true, 200); err != nil {
		return err
	}
	if err := p.Location.validate("location"); err != nil {
		return err
	}
	_, err := LoadZone(p.TimeZone)
	return err
}

// VehicleProfile is what an operator says about a vehicle.
type VehicleProfile struct {
	Name     string `json:"name"`
	VIN      string `json:"vin,omitempty"`
	Plate    string `json:"plate,omitempty"`
	Model    string `json:"model,omitempty"`
	TimeZone string `json:"timezone,omitempty"`
}

var vinPattern = regexp.MustCompile(`^[A-HJ-NPR-Z0-9]{17}$`)

// Validate checks the profile's invariants.
func (p VehicleProfile) Validate() error {
	if err := validateText("name", p.Name, true, 200); err != nil {
		return err
	}
	if p.VIN != "" && !vinPattern.MatchString(p.VIN) {
		return invalid("vin", "must be 17 characters of A-Z (no I, O, Q) and 0-9")
	}
	if err := validateText("plate", p.Plate, false, 32); err != nil {
		return err
	}
	if err := validateText("model", p.Model, false, 200); err != nil {
		return err
	}
	_, err := LoadZone(p.TimeZone)
	return err
}

// Device is the write-side state of one device, folded from its device stream.
// It holds only what decisions need: never telemetry history.
type Device struct {
	id             string
	kind           DeviceKind
	version        int64
	tokenHash      []byte
	timeZone       string
	decommissioned bool
}

// NoDevice is the version of a device stream that does not exist yet.
const NoDevice int64 = -1

// DeviceFromHistory folds a device stream's events in order. version is the
// stream version of the last event.
func DeviceFromHistory(events []Event, version int64) (*Device, error) {
	if len(events) == 0 {
		return nil, ErrDeviceNotFound
	}
	d := &Device{version: version}
	for _, e := range events {
		d.apply(e)
	}
	if d.id == "" {
		return nil, fmt.Errorf("device stream does not start with a registration: %w", ErrDeviceNotFound)
	}
	return d, nil
}

func (d *Device) apply(e Event) {
	switch e := e.(type) {
	case StationRegistered:
		d.id, d.kind, d.tokenHash, d.timeZone = e.StationID, KindStation, e.TokenHash, e.TimeZone
	case StationUpdated:
		d.timeZone = e.TimeZone
	case VehicleRegistered:
		d.id, d.kind, d.tokenHash, d.timeZone = e.VID, KindVehicle, e.TokenHash, e.TimeZone
	case VehicleUpdated:
		d.timeZone = e.TimeZone
	case DeviceDecommissioned:
		d.decommissioned = true
	case DeviceTokenRotated:
		d.tokenHash = e.TokenHash
	case DeviceTokenRevoked:
		d.tokenHash = nil
	}
}

func (d *Device) ID() string               { return d.id }
func (d *Device) Kind() DeviceKind         { return d.kind }
func (d *Device) Version() int64           { return d.version }
func (d *Device) TimeZone() string         { return d.timeZone }
func (d *Device) Decommissioned() bool     { return d.decommissioned }
func (d *Device) IsKind(k DeviceKind) bool { return d.kind == k }

// TokenMatches compares a presented token hash with the stored one in
// constant time.
func (d *Device) TokenMatches(hash []byte) bool {
	return len(d.tokenHash) > 0 && subtle.ConstantTimeCompare(d.tokenHash, hash) == 1
}

// AcceptsTelemetry says whether new telemetry may be recorded for the device.
func (d *Device) AcceptsTelemetry(kind DeviceKind) error {
	if d.kind != kind {
		return fmt.Errorf("%s %q: %w", kind, d.id, ErrDeviceNotFound)
	}
	if d.decommissioned {
		return fmt.Errorf("%s %q: %w", kind, d.id, ErrDeviceDecommissioned)
	}
	return nil
}

// Update decides a profile change on a live device of the given kind.
func (d *Device) checkChangeable(kind DeviceKind, expectedVersion *int64) error {
	if d.kind != kind {
		return fmt.Errorf("%s %q: %w", kind, d.id, ErrDeviceNotFound)
	}
	if d.decommissioned {
		return fmt.Errorf("%s %q: %w", kind, d.id, ErrDeviceDecommissioned)
	}
	if expectedVersion != nil && *expectedVersion != d.version {
		return fmt.Errorf("%s %q is at version %d, not %d: %w", kind, d.id, d.version, *expectedVersion, ErrVersionConflict)
	}
	return nil
}

// UpdateStation decides a station profile change.
func (d *Device) UpdateStation(p StationProfile, expectedVersion *int64, at time.Time) (StationUpdated, error) {
	if err := d.checkChangeable(KindStation, expectedVersion); err != nil {
		return StationUpdated{}, err
	}
	if err := p.Validate(); err != nil {
		return StationUpdated{}, err
	}
	return StationUpdated{StationID: d.id, StationProfile: p, UpdatedAt: at.UTC()}, nil
}

// UpdateVehicle decides a vehicle profile change.
func (d *Device) UpdateVehicle(p VehicleProfile, expectedVersion *int64, at time.Time) (VehicleUpdated, error) {
	if err := d.checkChangeable(KindVehicle, expectedVersion); err != nil {
		return VehicleUpdated{}, err
	}
	if err := p.Validate(); err != nil {
		return VehicleUpdated{}, err
	}
	return VehicleUpdated{VID: d.id, VehicleProfile: p, UpdatedAt: at.UTC()}, nil
}

// Decommission decides the end of a device's life.
func (d *Device) Decommission(kind DeviceKind, expectedVersion *int64, at time.Time) (DeviceDecommissioned, error) {
	if err := d.checkChangeable(kind, expectedVersion); err != nil {
		return DeviceDecommissioned{}, err
	}
	return DeviceDecommissioned{DeviceID: d.id, Kind: kind, DecommissionedAt: at.UTC()}, nil
}

// RotateToken decides a new token for the device.
func (d *Device) RotateToken(kind DeviceKind, hash []byte, at time.Time) (DeviceTokenRotated, error) {
	if err := d.checkChangeable(kind, nil); err != nil {
		return DeviceTokenRotated{}, err
	}
	if len(hash) == 0 {
		return DeviceTokenRotated{}, invalid("token", "hash is required")
	}
	return DeviceTokenRotated{DeviceID: d.id, TokenHash: hash, RotatedAt: at.UTC()}, nil
}

// RevokeToken decides that the device's token stops working now.
func (d *Device) RevokeToken(at time.Time) (DeviceTokenRevoked, error) {
	if err := d.checkChangeable(d.kind, nil); err != nil {
		return DeviceTokenRevoked{}, err
	}
	return DeviceTokenRevoked{DeviceID: d.id, RevokedAt: at.UTC()}, nil
}

// RegisterStation decides a station registration.
func RegisterStation(id string, p StationProfile, tokenHash []byte, at time.Time) (StationRegistered, error) {
	if err := ValidateDeviceID("id", id); err != nil {
		return StationRegistered{}, err
	}
	if err := p.Validate(); err != nil {
		return StationRegistered{}, err
	}
	if len(tokenHash) == 0 {
		return StationRegistered{}, invalid("token", "hash is required")
	}
	return StationRegistered{StationID: id, StationProfile: p, TokenHash: tokenHash, RegisteredAt: at.UTC()}, nil
}

// RegisterVehicle decides a vehicle registration.
func RegisterVehicle(vid string, p VehicleProfile, tokenHash []byte, at time.Time) (VehicleRegistered, error) {
	if err := ValidateDeviceID("vid", vid); err != nil {
		return VehicleRegistered{}, err
	}
	if err := p.Validate(); err != nil {
		return VehicleRegistered{}, err
	}
	if len(tokenHash) == 0 {
		return VehicleRegistered{}, invalid("token", "hash is required")
	}
	return VehicleRegistered{VID: vid, VehicleProfile: p, TokenHash: tokenHash, RegisteredAt: at.UTC()}, nil
}
