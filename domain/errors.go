package domain

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors of the domain. Adapters wrap them with %w and each API maps
// them to a status in one place (see Code).
var (
	ErrInvalid              = errors.New("invalid input")
	ErrDeviceNotFound       = errors.New("device not found")
	ErrMeasurementNotFound  = errors.New("measurement not found")
	ErrMeasurementExpired   = errors.New("measurement older than the correction window")
	ErrDeviceExists         = errors.New("device already exists")
	ErrVersionConflict      = errors.New("version conflict")
	ErrDeviceDecommissioned = errors.New("device decommissioned")
	ErrUnauthenticated      = errors.New("missing or invalid token")
	ErrForbidden            = errors.New("forbidden")
	ErrUnavailable          = errors.New("temporarily unavailable")
	ErrWebhookNotFound      = errors.New("webhook not found")
)

// Machine-readable error codes, stable across processes: a command handled on
// another machine comes back as a code and is turned into the sentinel again.
const (
	CodeInvalid        = "invalid_input"
	CodeNotFound       = "device_not_found"
	CodeNoMeasurement  = "measurement_not_found"
	CodeExpired        = "measurement_expired"
	CodeExists         = "device_exists"
	CodeConflict       = "version_conflict"
	CodeDecommissioned = "device_decommissioned"
	CodeUnauthorized   = "unauthorized"
	CodeForbidden      = "forbidden"
	CodeUnavailable    = "unavailable"
	CodeInternal       = "internal"
	CodeNoWebhook      = "webhook_not_found"
)

var codeSentinels = []struct {
	code string
	err  error
}{
	{CodeInvalid, ErrInvalid},
	{CodeNotFound, ErrDeviceNotFound},
	{CodeNoMeasurement, ErrMeasurementNotFound},
	{CodeExpired, ErrMeasurementExpired},
	{CodeExists, ErrDeviceExists},
	{CodeConflict, ErrVersionConflict},
	{CodeDecommissioned, ErrDeviceDecommissioned},
	{CodeUnauthorized, ErrUnauthenticated},
	{CodeForbidden, ErrForbidden},
	{CodeUnavailable, ErrUnavailable},
	{CodeReadKeyNotFound, ErrReadKeyNotFound},
	{CodeNoWebhook, ErrWebhookNotFound},
}

// Code returns the machine code of err, CodeInternal when it wraps no domain
// sentinel. Work cut by its deadline is CodeUnavailable: the caller was told to
// retry, whichever layer the deadline stopped.
func Code(err error) string {
	for _, cs := range codeSentinels {
		if errors.Is(err, cs.err) {
			return cs.code
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return CodeUnavailable
	}
	return CodeInternal
}

// ErrorFromCode rebuilds an error carrying the sentinel for code, so errors.Is
// keeps working after the error crossed a message bus as text.
func ErrorFromCode(code, message string) error {
	for _, cs := range codeSentinels {
		if cs.code == code {
			return &codedError{sentinel: cs.err, message: message}
		}
	}
	return errors.New(message)
}

type codedError struct {
	sentinel error
	message  string
}

func (e *codedError) Error() string { return e.message }
func (e *codedError) Unwrap() error { return e.sentinel }

// ValidationError names what is wrong with one input, and for batches the
// index of the offending item (-1 when it is not about an item).
type ValidationError struct {
	Index  int    `json:"index"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *ValidationError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("item %d: %s: %s", e.Index, e.Field, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(field, reason string) error {
	return &ValidationError{Index: -1, Field: field, Reason: reason}
}

func invalidItem(index int, field, reason string) error {
	return &ValidationError{Index: index, Field: field, Reason: reason}
}
