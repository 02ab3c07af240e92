package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReadKey_NewKeyParsesToItsIDAndHashesToWhatIsStored(t *testing.T) {
	key, hash := NewReadKey("0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b")
	id, ok := ParseReadKey(key)
	if !ok || id != "0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b" {
		t.Fatalf("ParseReadKey(%q) = %q, %v", key, id, ok)
	}
	if string(HashReadKey(key)) != string(hash) {
		t.Fatal("the hash of the key is not the hash NewReadKey returned")
	}
	other, _ := NewReadKey("0192a3b4-c5d6-7e8f-9a0b-1c2d3e4f5a6b")
	if other == key {
		t.Fatal("two keys of the same id are equal: the secret is not random")
	}
}

func TestParseReadKey_RefusesWhatIsNotAReadKey(t *testing.T) {
	key, _ := NewReadKey("k1")
	for _, s := range []string{
		"", "fpr_", "fpr_k1", "fpr_.secret", "dev-admin-token", "station-1." + strings.Repeat("a", 43),
		strings.TrimPrefix(key, "fpr_"), key + "x", key[:len(key)-1], "fpr_k 1." + strings.Repeat("a", 43),
		"fpr_k1." + strings.Repeat("*", 43), "fpr_" + strings.Repeat("k", 65) + "." + strings.Repeat("a", 43),
	} {
		if id, ok := ParseReadKey(s); ok {
			t.Errorf("ParseReadKey(%q) = %q, true; want refused", s, id)
		}
	}
}

func TestCreateReadKey_ValidatesNameAndScope(t *testing.T) {
	hash := HashReadKey("x")
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	many := make([]string, MaxReadKeyDevices+1)
	for i := range many {
		many[i] = "st-" + strings.Repeat("a", i%5+1) + string(rune('a'+i%26))
	}
	tests := []struct {
		name, keyName string
		devices       []string
		field         string // "" when accepted
	}{
		{"fleet-wide", "wall screen", nil, ""},
		{"scoped", "depot", []string{"st-2", "st-1", "st-2"}, ""},
		{"no name", "  ", nil, "name"},
		{"control character", "a\nb", nil, "name"},
		{"empty scope", "depot", []string{}, "devices"},
		{"bad device id", "depot", []string{"st 1"}, "devices"},
		{"too many devices", "depot", many, "devices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := CreateReadKey("k1", tt.keyName, tt.devices, hash, now)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.devices != nil && strings.Join(e.Devices, ",") != "st-1,st-2" {
					t.Fatalf("devices = %v, want sorted without repeats", e.Devices)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("err = %v, want a validation error on %s", err, tt.field)
			}
		})
	}
}

func TestReadKeyState_RevokedOnceThenNothingMore(t *testing.T) {
	created := ReadKeyCreated{KeyID: "k1", Name: "n", KeyHash: HashReadKey("x")}
	if _, err := ReadKeyFromHistory(nil); !errors.Is(err, ErrReadKeyNotFound) {
		t.Fatalf("empty stream: err = %v, want ErrReadKeyNotFound", err)
	}
	s, err := ReadKeyFromHistory([]Event{created})
	if err != nil || s.Revoked {
		t.Fatalf("created: %+v, %v", s, err)
	}
	e := s.Revoke(time.Now())
	if _, ok := e.(ReadKeyRevoked); !ok {
		t.Fatalf("Revoke = %T, want ReadKeyRevoked", e)
	}
	s, _ = ReadKeyFromHistory([]Event{created, e})
	if !s.Revoked || s.Revoke(time.Now()) != nil {
		t.Fatal("a revoked key is revoked again")
	}
}
