package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fleetpulse/fleetpulse/domain"
	"github.com/fleetpulse/fleetpulse/infra/webhook"
)

// fakeResolver answers from a table, as DNS would.
type fakeResolver map[string][]string

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range r[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if len(out) == 0 {
		return nil, errors.New("no such host")
	}
	return out, nil
}

func TestGuard_RefusesInternalTargetsUnlessAllowed(t *testing.T) {
	t.Parallel()
	dns := fakeResolver{
		"hooks.example.com": {"93.184.216.34"},
		"metadata.evil":     {"169.254.169.254"},
		"mixed.evil":        {"93.184.216.34", "10.1.2.3"},
		"hooks.internal":    {"10.20.1.5"},
		"v6.evil":           {"fd00::1"},
	}
	tests := []struct {
		name, url, allow string
		resolver         webhook.Resolver // nil: fake DNS above
		refused          string           // substring of the refusal; "" = accepted, "*" = refused for any reason
	}{
		{name: "public host", url: "https://hooks.example.com/a"},
		{name: "public address", url: "http://93.184.216.34:8080/a"},
		{name: "loopback address", url: "http://127.0.0.1/a", refused: "loopback"},
		{name: "loopback elsewhere in 127/8", url: "http://127.9.9.9/a", refused: "loopback"},
		{name: "IPv6 loopback", url: "http://[::1]:9000/", refused: "loopback"},
		{name: "IPv4-mapped loopback", url: "http://[::ffff:127.0.0.1]/", refused: "loopback"},
		{name: "localhost resolving to 127.0.0.1 (system DNS)", url: "http://localhost:8080/", resolver: net.DefaultResolver, refused: "loopback"},
		{name: "private 10/8", url: "http://10.0.0.7/", refused: "private"},
		{name: "private 172.16/12", url: "http://172.20.1.1/", refused: "private"},
		{name: "private 192.168/16", url: "http://192.168.1.1/", refused: "private"},
		{name: "unique local IPv6 by name", url: "http://v6.evil/", refused: "private"},
		{name: "cloud metadata by name", url: "http://metadata.evil/latest", refused: "link-local"},
		{name: "link-local IPv6", url: "http://[fe80::1]/", refused: "link-local"},
		{name: "unspecified", url: "http://0.0.0.0:80/", refused: "unspecified"},
		{name: "multicast", url: "http://224.0.0.1/", refused: "multicast"},
		{name: "carrier-grade NAT", url: "http://100.64.0.1/", refused: "reserved"},
		{name: "one private address among public ones", url: "http://mixed.evil/", refused: "private"},
		{name: "a host that does not resolve", url: "http://nowhere.invalid/", refused: "does not resolve"},
		{name: "loopback spelled as one decimal number", url: "http://2130706433/", resolver: net.DefaultResolver, refused: "*"},
		{name: "loopback spelled in hex", url: "http://0x7f000001/", resolver: net.DefaultResolver, refused: "*"},
		{name: "IPv6 link-local with a zone", url: "http://[fe80::1%25eth0]/", refused: "link-local"},
		{name: "loopback allowed by address", url: "http://127.0.0.1:9000/", allow: "127.0.0.1"},
		{name: "private allowed by CIDR", url: "http://hooks.internal/", allow: "10.20.0.0/16"},
		{name: "private outside the allowed CIDR", url: "http://10.21.0.1/", allow: "10.20.0.0/16", refused: "private"},
		{name: "private allowed by host name", url: "http://HOOKS.internal./x", allow: "hooks.internal"},
		{name: "a host name allows only itself", url: "http://metadata.evil/", allow: "hooks.internal", refused: "link-local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allow, err := webhook.ParseAllowList(tt.allow)
			if err != nil {
				t.Fatal(err)
			}
			r := tt.resolver
			if r == nil {
				r = dns
			}
			err = webhook.NewGuard(allow, r).CheckTarget(t.Context(), tt.url)
			switch {
			case tt.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.refused != "" && err == nil:
				t.Fatal("accepted")
			case tt.refused != "" && (!errors.Is(err, domain.ErrInvalid) || (tt.refused != "*" && !strings.Contains(err.Error(), tt.refused))):
				t.Fatalf("refused with %v, want an invalid url saying %q", err, tt.refused)
			}
		})
	}
}

func TestParseAllowList_RefusesWhatIsNoTarget(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"10.0.0.0/33", "http://x", "user@host", "[::1]"} {
		if _, err := webhook.ParseAllowList(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if _, err := webhook.ParseAllowList("10.0.0.0/8, ::1,hooks.internal 127.0.0.1"); err != nil {
		t.Errorf("a valid list refused: %v", err)
	}
}

// TestSender_RefusesAtDialTimeWhatTheCheckAccepted is DNS rebinding: the
// name resolved to a public address when the webhook was registered, and
// to loopback when a delivery dials it. The dial is refused; allowing the
// address lets it through.
func TestSender_RefusesAtDialTimeWhatTheCheckAccepted(t *testing.T) {
	t.Parallel()
	got := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { got <- struct{}{} }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	target := "http://localhost" + port + "/hook"

	rebinding := fakeResolver{"localhost": {"93.184.216.34"}}
	guard := webhook.NewGuard(webhook.AllowList{}, rebinding)
	if err := guard.CheckTarget(t.Context(), target); err != nil {
		t.Fatalf("registration check: %v", err)
	}
	r := webhook.NewSender(guard, 2*time.Second, time.Now).Send(t.Context(), target, "0123456789abcdef", 1, domain.TypeAlertRaised, "e-1", []byte(`{}`))
	if r.Delivered() || !errors.Is(r.Err, webhook.ErrRefusedAddress) {
		t.Fatalf("dial to loopback: %+v, want refused by the guard", r)
	}
	select {
	case <-got:
		t.Fatal("the request reached the server")
	default:
	}

	allow, _ := webhook.ParseAllowList("127.0.0.0/8,::1")
	r = webhook.NewSender(webhook.NewGuard(allow, rebinding), 2*time.Second, time.Now).Send(t.Context(), target, "0123456789abcdef", 1, domain.TypeAlertRaised, "e-1", []byte(`{}`))
	if !r.Delivered() {
		t.Fatalf("allowed loopback: %+v", r)
	}
}

func TestSender_DoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.RedirectHandler("http://169.254.169.254/latest/meta-data", http.StatusFound))
	defer srv.Close()
	allow, _ := webhook.ParseAllowList("127.0.0.1")
	r := webhook.NewSender(webhook.NewGuard(allow, nil), 2*time.Second, time.Now).Send(t.Context(), srv.URL, "0123456789abcdef", 1, domain.TypeAlertRaised, "e-1", []byte(`{}`))
	if r.Delivered() || r.StatusCode != http.StatusFound {
		t.Fatalf("redirect: %+v, want a failed attempt with status 302", r)
	}
}

func TestSign_IsHMACSHA256OfTimestampDotBody(t *testing.T) {
	t.Parallel()
	got := webhook.Sign("whsec-0123456789abcdef", time.Unix(1780000000, 0), []byte(`{"id":"e-1"}`))
	// Computed independently: hmac.new(secret, b'1780000000.{"id":"e-1"}', sha256).
	const want = "t=1780000000,v1=3a860c24dbbdf4f266f5940c48b9eb44e4615a63271200048a15f111f716ed20"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}
