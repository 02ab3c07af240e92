// Package redact prints connection strings without their secrets, for the
// start-up log and for error messages. PostgreSQL's are read with pgx's own
// parser, so every form pgx accepts (URL, password= query parameter,
// keyword/value, environment defaults) comes out the same way; the URLs of
// the other servers (NATS, MQTT, EventStoreDB) lose their passwords, bare
// user parts (a NATS token) and query values named like a secret.
package redact

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Mask stands where a secret was.
const Mask = "xxxxx"

// UnparsablePostgres is what Postgres prints for a string pgx refuses: it
// names no part of it, since where the password sits is then unknown.
const UnparsablePostgres = "(a PostgreSQL connection string pgx cannot parse)"

// Postgres returns the connection pgx would open for connString as a URL
// without the password: user (with Mask when a password is set, whatever
// its source), hosts and ports, database, the TLS mode pgx will use
// (sslmode) and the run-time parameters. Nothing is copied from connString
// itself, so a secret in a setting this does not print (sslpassword, a
// password in any form) cannot come out.
func Postgres(connString string) string {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return UnparsablePostgres
	}
	user := url.User(cfg.User)
	if cfg.Password != "" {
		user = url.UserPassword(cfg.User, Mask)
	}
	hosts := []string{hostPort(cfg.Host, cfg.Port)}
	for _, fb := range cfg.Fallbacks {
		if hp := hostPort(fb.Host, fb.Port); !slices.Contains(hosts, hp) {
			hosts = append(hosts, hp)
		}
	}
	q := url.Values{}
	q.Set("sslmode", sslMode(cfg))
	if cfg.ConnectTimeout > 0 {
		q.Set("connect_timeout", strconv.Itoa(int(cfg.ConnectTimeout.Seconds())))
	}
	for k, v := range cfg.RuntimeParams {
		if secretName(k) {
			v = Mask
		}
		q.Set(k, v)
	}
	return "postgres://" + user.String() + "@" + strings.Join(hosts, ",") + "/" + url.PathEscape(cfg.Database) + "?" + q.Encode()
}

// hostPort writes a host as a PostgreSQL URL holds it: a Unix socket
// directory percent-encoded, an IPv6 address in brackets.
func hostPort(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		host = url.PathEscape(host)
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// sslMode names the TLS behaviour pgx set up, in sslmode's words: prefer
// and allow are a TLS and a plain attempt at the same server, require skips
// every check, verify-ca checks the chain only (require with a root
// certificate behaves so too), verify-full also the host name.
func sslMode(cfg *pgconn.Config) string {
	plainFallback, tlsFallback := false, false
	for _, fb := range cfg.Fallbacks {
		if fb.Host == cfg.Host && fb.Port == cfg.Port {
			plainFallback = plainFallback || fb.TLSConfig == nil
			tlsFallback = tlsFallback || fb.TLSConfig != nil
		}
	}
	switch {
	case cfg.TLSConfig == nil && tlsFallback:
		return "allow"
	case cfg.TLSConfig == nil:
		return "disable"
	case plainFallback:
		return "prefer"
	case !cfg.TLSConfig.InsecureSkipVerify:
		return "verify-full"
	case cfg.TLSConfig.VerifyPeerCertificate != nil:
		return "verify-ca"
	default:
		return "require"
	}
}

// URL returns a server URL, or a comma-separated list of them (NATS
// servers, EventStoreDB gossip seeds), with each password, each user part
// that stands alone (NATS takes a token there) and the value of each query
// parameter named like a secret replaced by Mask. It works on the text, not
// on a parse, so a URL that does not parse is redacted too.
func URL(raw string) string {
	out := strings.Split(raw, ",")
	for i, part := range out {
		out[i] = redactURLPart(part)
	}
	return strings.Join(out, ",")
}

func redactURLPart(part string) string {
	rest := part
	prefix := ""
	if i := strings.Index(part, "://"); i >= 0 {
		prefix, rest = part[:i+3], part[i+3:]
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if user, _, hasPassword := strings.Cut(authority[:at], ":"); hasPassword {
			authority = user + ":" + Mask + authority[at:]
		} else {
			authority = Mask + authority[at:]
		}
	}
	if q := strings.IndexByte(tail, '?'); q >= 0 {
		query, frag, _ := strings.Cut(tail[q+1:], "#")
		pairs := strings.Split(query, "&")
		for j, p := range pairs {
			if k, _, ok := strings.Cut(p, "="); ok && secretName(k) {
				pairs[j] = k + "=" + Mask
			}
		}
		tail = tail[:q+1] + strings.Join(pairs, "&")
		if frag != "" {
			tail += "#" + frag
		}
	}
	return prefix + authority + tail
}

// secretName says whether a parameter's name says it holds a secret.
func secretName(name string) bool {
	if k, err := url.QueryUnescape(name); err == nil {
		name = k
	}
	name = strings.ToLower(name)
	for _, s := range []string{"pass", "pwd", "secret", "token", "credential"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// Error returns err with the secrets of the connection strings removed from
// its text (a URL package's error, for one, quotes the whole URL); errors.Is
// and errors.As still see err.
func Error(err error, connStrings ...string) error {
	if err == nil {
		return nil
	}
	var secrets []string
	for _, cs := range connStrings {
		secrets = append(secrets, secretsOf(cs)...)
	}
	return &redactedError{err: err, text: scrub(err.Error(), secrets)}
}

type redactedError struct {
	err  error
	text string
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// secretsOf are the secret parts of a connection string, each as it is
// written and as it reads once decoded: the password pgx finds in it, the
// passwords and tokens of its URLs, and the values of its parameters named
// like a secret (URL query or keyword/value).
func secretsOf(connString string) []string {
	var out []string
	add := func(s string) {
		quoted := strconv.Quote(s)
		for _, v := range []string{s, unescape(s), quoted[1 : len(quoted)-1]} {
			if v != "" && v != Mask && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	if cfg, err := pgconn.ParseConfig(connString); err == nil && cfg.Password != "" {
		add(cfg.Password)
	}
	for _, part := range strings.Split(connString, ",") {
		rest := part
		if i := strings.Index(part, "://"); i >= 0 {
			rest = part[i+3:]
		}
		authority := rest
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			authority = rest[:i]
		}
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			user, pw, hasPassword := strings.Cut(authority[:at], ":")
			if hasPassword {
				add(pw)
			} else {
				add(user)
			}
		}
	}
	for _, field := range strings.FieldsFunc(connString, func(r rune) bool { return r == '?' || r == '&' || r == ' ' }) {
		if k, v, ok := strings.Cut(field, "="); ok && secretName(k) {
			add(strings.Trim(v, "'"))
		}
	}
	return out
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// scrub replaces every secret in text by Mask, longest first so that a
// secret holding a shorter one goes whole.
func scrub(text string, secrets []string) string {
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		text = strings.ReplaceAll(text, s, Mask)
	}
	return text
}

// ErrUnparsablePostgres is the error of a PostgreSQL connection string pgx
// refuses, in words that quote none of it.
var ErrUnparsablePostgres = errors.New("not a PostgreSQL connection string pgx accepts: want a URL such as " +
	"postgres://user:password@host:5432/fleetpulse?sslmode=disable or keywords such as " +
	"host=db user=fleetpulse password=... dbname=fleetpulse (and any TLS file it names readable)")

// CheckPostgres returns ErrUnparsablePostgres when pgx cannot parse
// connString.
func CheckPostgres(connString string) error {
	if _, err := pgconn.ParseConfig(connString); err != nil {
		return ErrUnparsablePostgres
	}
	return nil
}
