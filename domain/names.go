package domain

// Telemetry names and ids are checked for every item of every batch (a
// vehicle sample has 16 reading names): by hand, since regexp took a fifth
// of `fleetpulse import`'s CPU. The patterns are the ones the error messages and
// docs/api.md give; names_test.go holds each check equal to its regexp.

// isName reports whether s matches ^[a-z][a-z0-9_]{0,63}$: measurement
// types and reading names.
func isName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isItemID reports whether s matches ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$:
// client-supplied measurement ids and eids.
func isItemID(s string) bool {
	if len(s) == 0 || len(s) > 128 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// isDeviceID reports whether s matches ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$:
// safe in URLs, stream names and tokens (no dots: a token is
// "<device id>.<secret>").
func isDeviceID(s string) bool {
	if len(s) == 0 || len(s) > 64 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
