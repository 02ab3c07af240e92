package commandapi

import (
	"net/url"
	"slices"
	"testing"

	"github.com/fleetpulse/fleetpulse/commands"
	"github.com/fleetpulse/fleetpulse/domain"
)

// FuzzDecodeWebhookRegistration drives POST /v1/webhooks's decoder and
// validation with arbitrary bytes: no input may panic, a refusal names the
// value at fault, and whatever is accepted is an http(s) URL with a host
// and no user info, a secret of 16-256 bytes, and only alert event types.
func FuzzDecodeWebhookRegistration(f *testing.F) {
	fuzzBody(f, []string{
		`{"url": "https://hooks.example.com/a", "secret": "0123456789abcdef"}`,
		`{"url": "https://hooks.example.com/a", "secret": "0123456789abcdef", "types": ["AlertRaised", "AlertCleared"], "devices": ["krk-1"]}`,
		`{"url": "http://user:pw@10.0.0.1/", "secret": "0123456789abcdef"}`,
		`{"url": "javascript:alert(1)", "secret": "0123456789abcdef"}`,
		`{"url": "https:///nohost", "secret": "0123456789abcdef"}`,
		`{"url": "https://h/", "secret": "0123456789abcdef", "types": ["MeasurementRecorded"]}`,
		`{"url": "https://h/", "secret": "0123456789abcdef", "devices": [""]}`,
		`{"url": 1, "secret": null}`,
		`{"url": "https://[::1]:80/x#frag", "secret": "0123456789abcdef"}`,
		"{\"url\": \"https://h\xff/\", \"secret\": \"0123456789abcdef\"}",
	}, func(t *testing.T, body webhookBody) {
		cmd, err := body.command(commands.Caller{Admin: true}, "0193a7c2-5b1e-7c3d-9e4f-123456789abc")
		if err != nil {
			if domain.Code(err) != domain.CodeInvalid {
				t.Fatalf("%+v refused with %v, not as invalid input", body, err)
			}
			return
		}
		u, err := url.Parse(cmd.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
			t.Fatalf("validation let url %q through", cmd.URL)
		}
		if len(cmd.Secret) < 16 || len(cmd.Secret) > 256 {
			t.Fatalf("validation let a secret of %d bytes through", len(cmd.Secret))
		}
		for _, typ := range cmd.Types {
			if !slices.Contains(domain.WebhookEventTypes, typ) {
				t.Fatalf("validation let type %q through", typ)
			}
		}
	})
}
