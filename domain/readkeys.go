package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrReadKeyNotFound: no read API key was created under the id.
var ErrReadKeyNotFound = errors.New("read key not found")

// CodeReadKeyNotFound is ErrReadKeyNotFound's machine code.
const CodeReadKeyNotFound = "read_key_not_found"

// MaxReadKeyDevices bounds the devices one read key may be scoped to: a
// longer list is a fleet-wide key's job.
const MaxReadKeyDevices = 100

// ReadKeyStream names the stream of one read API key's creation and revocation.
func ReadKeyStream(id string) string { return "readkey-" + id }

// ReadKeyCreated records a read API key: its hash (the key itself is shown
// once, to the operator who created it, and stored nowhere) and the devices
// it may read (none: every device).
type ReadKeyCreated struct {
	KeyID     string    `json:"key_id"`
	Name      string    `json:"name"`
	Devices   []string  `json:"devices,omitempty"`
	KeyHash   []byte    `json:"key_hash"`
	CreatedAt time.Time `json:"created_at"`
}

// ReadKeyRevoked: the key stops opening the read API.
type ReadKeyRevoked struct {
	KeyID     string    `json:"key_id"`
	RevokedAt time.Time `json:"revoked_at"`
}

func (ReadKeyCreated) EventType() string { return TypeReadKeyCreated }
func (ReadKeyRevoked) EventType() string { return TypeReadKeyRevoked }

// CreateReadKey decides an operator's new read key: a name of 1-100
// printable characters, and at most MaxReadKeyDevices device ids (sorted,
// without repeats).
func CreateReadKey(id, name string, devices []string, hash []byte, now time.Time) (ReadKeyCreated, error) {
	name = strings.TrimSpace(name)
	switch {
	case id == "":
		return ReadKeyCreated{}, invalid("id", "is required")
	case name == "" || utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) || strings.ContainsFunc(name, isControl):
		return ReadKeyCreated{}, invalid("name", "must be 1-100 printable characters")
	case len(hash) != sha256.Size:
		return ReadKeyCreated{}, invalid("key", "hash is required")
	case devices != nil && len(devices) == 0:
		return ReadKeyCreated{}, invalid("devices", "must name at least one device, or be left out for every device")
	case len(devices) > MaxReadKeyDevices:
		return ReadKeyCreated{}, invalid("devices", "must name at most 100 devices")
	}
	for _, d := range devices {
		if err := ValidateDeviceID("devices", d); err != nil {
			return ReadKeyCreated{}, err
		}
	}
	var scope []string
	if devices != nil {
		scope = slices.Clone(devices)
		slices.Sort(scope)
		scope = slices.Compact(scope)
	}
	return ReadKeyCreated{KeyID: id, Name: name, Devices: scope, KeyHash: hash, CreatedAt: now.UTC()}, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// ReadKeyState is what a read key's stream says of it.
type ReadKeyState struct {
	Created ReadKeyCreated
	Revoked bool
}

// ReadKeyFromHistory folds a key's stream, or returns ErrReadKeyNotFound
// when it holds no creation.
func ReadKeyFromHistory(events []Event) (ReadKeyState, error) {
	var s ReadKeyState
	found := false
	for _, e := range events {
		switch e := e.(type) {
		case ReadKeyCreated:
			s.Created, found = e, true
		case ReadKeyRevoked:
			s.Revoked = true
		}
	}
	if !found {
		return ReadKeyState{}, ErrReadKeyNotFound
	}
	return s, nil
}

// Revoke decides a revocation; a key already revoked needs no second one
// (nil event).
func (s ReadKeyState) Revoke(now time.Time) Event {
	if s.Revoked {
		return nil
	}
	return ReadKeyRevoked{KeyID: s.Created.KeyID, RevokedAt: now.UTC()}
}

// readKeyPrefix starts every read key, so that a leaked one is recognised
// (by people and by secret scanners) for what it is.
const readKeyPrefix = "fpr_"

// NewReadKey makes a read key "fpr_<id>.<secret>" (32 random bytes) and the
// hash that is stored.
func NewReadKey(id string) (key string, hash []byte) {
	buf := make([]byte, 32)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails on supported platforms
	key = readKeyPrefix + id + "." + base64.RawURLEncoding.EncodeToString(buf)
	return key, HashReadKey(key)
}

// HashReadKey is how a read key is stored: its SHA-256. The key carries 256
// random bits, so a fast hash is enough; no salt or stretching is needed.
func HashReadKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// ParseReadKey returns the id of a key of the read-key form, which the
// stored hash is then looked up by; ok is false for anything else.
func ParseReadKey(key string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(key, readKeyPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, ".")
	if !ok || id == "" || len(id) > 64 || len(secret) != 43 || !idChars(id) {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(secret); err != nil {
		return "", false
	}
	return id, true
}

func idChars(s string) bool {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}
