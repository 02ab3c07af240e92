package domain

import (
	"regexp"
	"strings"
	"testing"
)

// The patterns the hand-written checks in names.go stand for.
var (
	namePattern     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	itemIDPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	deviceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
)

func checkNameChecks(t *testing.T, s string) {
	t.Helper()
	for _, c := range []struct {
		name    string
		check   func(string) bool
		pattern *regexp.Regexp
	}{
		{"isName", isName, namePattern},
		{"isItemID", isItemID, itemIDPattern},
		{"isDeviceID", isDeviceID, deviceIDPattern},
	} {
		if got, want := c.check(s), c.pattern.MatchString(s); got != want {
			t.Errorf("%s(%q) = %v, %s says %v", c.name, s, got, c.pattern, want)
		}
	}
}

func TestNameChecks_MatchTheirPatterns(t *testing.T) {
	cases := []string{"", "a", "A", "0", "_", "-", ".", "pm25", "pm_25", "Pm25", "pm-25", "pm.25", "st-1", "st_1",
		"st.1", "a:b", "ä", "pm25\n", " pm25", "pm25 ", "a\x00", strings.Repeat("a", 64), strings.Repeat("a", 65),
		strings.Repeat("a", 128), strings.Repeat("a", 129), "1" + strings.Repeat("b", 127), "Z9._:-", "z", "{", "`", "@", "[", "/", ":"}
	// Every byte in first and in later place.
	for c := 0; c < 256; c++ {
		cases = append(cases, string([]byte{byte(c)}), "a"+string([]byte{byte(c)}), "A1"+string([]byte{byte(c)})+"x")
	}
	for _, s := range cases {
		checkNameChecks(t, s)
	}
}

func FuzzNameChecks(f *testing.F) {
	for _, s := range []string{"pm25", "st-1", "m:1.2_3", strings.Repeat("x", 64), strings.Repeat("9", 130), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkNameChecks(t, s) })
}
