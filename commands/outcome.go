package commands

import (
	"errors"

	"github.com/fleetpulse/fleetpulse/domain"
)

// Outcome is what a handler tells its caller, in a shape that survives a
// message bus: a failure travels as its domain code and message.
type Outcome struct {
	ID         string   `json:"id,omitempty"`
	Version    int64    `json:"version"`
	Accepted   int      `json:"accepted"`
	Duplicates int      `json:"duplicates"`
	EIDs       []string `json:"eids,omitempty"`

	ErrCode    string                  `json:"err_code,omitempty"`
	ErrMessage string                  `json:"err_message,omitempty"`
	Invalid    *domain.ValidationError `json:"invalid,omitempty"`
}

// Err returns the failure the outcome carries, with its domain sentinel.
func (o Outcome) Err() error {
	if o.ErrCode == "" {
		return nil
	}
	if o.Invalid != nil {
		return o.Invalid
	}
	return domain.ErrorFromCode(o.ErrCode, o.ErrMessage)
}

// Failed records err in the outcome; a validation error keeps its details.
func Failed(err error) Outcome {
	out := Outcome{ErrCode: domain.Code(err), ErrMessage: err.Error()}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		out.Invalid = ve
	}
	return out
}
