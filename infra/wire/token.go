package wire

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/fleetpulse/fleetpulse/commands"
)

// CallerFromToken says who a token belongs to: the operator when it is
// adminToken, else the device of "<device id>.<secret>", of which only the
// hash travels on. Any other token is an anonymous caller.
func CallerFromToken(token, adminToken string) commands.Caller {
	if token == "" {
		return commands.Caller{}
	}
	if adminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(adminToken)) == 1 {
		return commands.Caller{Admin: true}
	}
	i := strings.LastIndexByte(token, '.')
	if i <= 0 {
		return commands.Caller{}
	}
	return commands.Caller{DeviceID: token[:i], TokenHash: HashSecret(token[i+1:])}
}

// HashSecret is how a device token's secret is stored.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// NewToken makes a device token "<id>.<secret>" and the hash that is stored.
func NewToken(id string) (token string, hash []byte) {
	buf := make([]byte, 32)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails on supported platforms
	secret := base64.RawURLEncoding.EncodeToString(buf)
	return id + "." + secret, HashSecret(secret)
}
