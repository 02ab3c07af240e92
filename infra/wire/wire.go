// Package wire is the wire form of device and operator requests, shared by
// the two ways in: the HTTP command API (infra/commandapi) and the MQTT
// bridge (infra/mqttbridge). It holds the strict JSON decoding every
// request body goes through, device tokens (their "<device id>.<secret>"
// form, new ones, the hash that is stored, and who a token belongs to), the
// error body of a refused request, and the Dispatcher port both send their
// commands through. Neither way in imports the other.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/httpx"
)

// Dispatcher sends a command and returns its handler's outcome.
type Dispatcher interface {
	Dispatch(ctx context.Context, cmd any) (commands.Outcome, error)
}

// Codes of requests refused before any command is sent; a refused command
// carries its domain code (domain.Code).
const (
	CodeMalformed = "malformed_json"
	CodeTooLarge  = "body_too_large"
)

// Decode reads exactly one JSON value from body into v, refusing unknown
// fields and trailing data. It is the decoder every request body goes
// through (and the one the fuzz tests drive). A body that does not fit comes
// back as a *BodyError that names the value and the form it must have; an
// *http.MaxBytesError from body comes back as it is, for the caller to name
// the limit.
func Decode(body io.Reader, v any) error {
	raw, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return &BodyError{Index: -1, Message: "the body could not be read to its end"}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return explain(raw, reflect.TypeOf(v), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &BodyError{Index: -1, Message: "the body holds more than one JSON value; send exactly one object"}
	}
	return nil
}

// unavailableMessage tells the caller what a 503 means: retry.
const unavailableMessage = "the event store is unavailable or the request timed out; retry later"

// Refusal is the error body of a refused request: a body Decode refused
// (malformed_json), or a refused command with its domain code; a message
// (never an internal error's own, which may name internals), and the field
// and item a validation or body error names.
func Refusal(err error) httpx.ErrorDetail {
	var be *BodyError
	if errors.As(err, &be) {
		d := httpx.ErrorDetail{Code: CodeMalformed, Message: be.Message, Field: be.Field}
		if be.Index >= 0 {
			idx := be.Index
			d.Index = &idx
		}
		return d
	}
	d := httpx.ErrorDetail{Code: domain.Code(err), Message: err.Error()}
	switch d.Code {
	case domain.CodeInternal:
		d.Message = "internal error"
	case domain.CodeUnavailable:
		d.Message = unavailableMessage
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		d.Field = ve.Field
		if ve.Index >= 0 {
			idx := ve.Index
			d.Index = &idx
		}
	}
	return d
}
