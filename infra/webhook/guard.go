package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"github.com/fleetpulse/fleetpulse/domain"
)

// AllowList names targets the SSRF guard lets through although their
// addresses are in a refused range: CIDR prefixes ("10.0.0.0/8"), single
// addresses ("127.0.0.1", "::1") and host names ("hooks.internal",
// matched exactly, case-insensitively, as written in the URL).
type AllowList struct {
	prefixes []netip.Prefix
	hosts    map[string]bool
}

// ParseAllowList reads FLEETPULSE_WEBHOOK_ALLOW: entries separated by
// commas or spaces; empty allows nothing.
func ParseAllowList(s string) (AllowList, error) {
	a := AllowList{hosts: map[string]bool{}}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			a.prefixes = append(a.prefixes, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(f); err == nil {
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		if strings.ContainsAny(f, "/:[]@") {
			return AllowList{}, fmt.Errorf("webhook allow list: %q is neither a CIDR prefix, an address nor a host name", f)
		}
		a.hosts[strings.ToLower(strings.TrimSuffix(f, "."))] = true
	}
	return a, nil
}

func (a AllowList) allowsHost(host string) bool {
	return a.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
}

func (a AllowList) allowsAddr(ip netip.Addr) bool {
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// refusedPrefixes are ranges no IsX method of netip.Addr names.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),      // carrier-grade NAT, private in practice
	netip.MustParsePrefix("255.255.255.255/32"), // broadcast
}

// Refused reports why an address may not be called, "" when it may:
// loopback, private, link-local, unspecified and multicast addresses (and
// "this network", carrier-grade NAT and broadcast) are refused.
func Refused(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, p := range refusedPrefixes {
		if p.Contains(ip) {
			return "reserved"
		}
	}
	return ""
}

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard is the SSRF guard: it checks a webhook's URL when it is registered
// (commands.WebhookTargets) and every connection when it is dialled
// (DialContext), so a name that resolves elsewhere later (DNS rebinding)
// is refused all the same.
type Guard struct {
	allow    AllowList
	resolver Resolver
}

// NewGuard builds a guard; resolver nil is net.DefaultResolver.
func NewGuard(allow AllowList, resolver Resolver) *Guard {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	return &Guard{allow: allow, resolver: resolver}
}

// CheckTarget resolves the URL's host and refuses it (domain.ErrInvalid,
// field url) when any of its addresses is refused and not allowed, or when
// it does not resolve.
func (g *Guard) CheckTarget(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return refusal("must be an absolute http or https URL")
	}
	host := u.Hostname()
	if g.allow.allowsHost(host) {
		return nil
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if addrs, err = g.resolver.LookupNetIP(ctx, "ip", host); err != nil || len(addrs) == 0 {
		return refusal(fmt.Sprintf("host %q does not resolve", host))
	}
	for _, ip := range addrs {
		if why := Refused(ip); why != "" && !g.allow.allowsAddr(ip.Unmap()) {
			return refusal(fmt.Sprintf("host %q resolves to %s, a %s address; webhooks may not call it unless FLEETPULSE_WEBHOOK_ALLOW lists it", host, ip, why))
		}
	}
	return nil
}

func refusal(reason string) error {
	return &domain.ValidationError{Index: -1, Field: "url", Reason: reason}
}

// DialContext dials addr ("host:port") for the delivery HTTP client,
// refusing a connection to a refused address that the allow list does not
// allow: the check runs on the address actually connected to, after
// resolution.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{}
	if !g.allow.allowsHost(host) {
		d.Control = g.control
	}
	return d.DialContext(ctx, network, addr)
}

// ErrRefusedAddress is the dial-time refusal.
var ErrRefusedAddress = fmt.Errorf("webhook target address refused (SSRF guard)")

func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrRefusedAddress, address)
	}
	ip := ap.Addr().Unmap()
	if why := Refused(ip); why != "" && !g.allow.allowsAddr(ip) {
		return fmt.Errorf("%w: %s is a %s address", ErrRefusedAddress, ip, why)
	}
	return nil
}
