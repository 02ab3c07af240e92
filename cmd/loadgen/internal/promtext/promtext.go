// Package promtext reads the Prometheus text exposition format that
// fleetpulse's services serve on /metrics: the samples of one scrape, a
// gauge's value, and a histogram's quantiles between two scrapes.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Sample is one sample line of the text exposition format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Scrape fetches url and parses it.
func Scrape(client *http.Client, url string) ([]Sample, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return Parse(resp.Body)
}

// Parse reads sample lines, skipping comments and lines it cannot read.
func Parse(r io.Reader) ([]Sample, error) {
	var out []Sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		key := line[:sp]
		s := Sample{Labels: map[string]string{}, Value: v}
		if i := strings.IndexByte(key, '{'); i >= 0 {
			s.Name = key[:i]
			parseLabels(strings.TrimSuffix(key[i+1:], "}"), s.Labels)
		} else {
			s.Name = key
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseLabels reads `a="x",b="y"` (values here never hold escaped quotes
// that matter: route templates and status codes).
func parseLabels(s string, into map[string]string) {
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return
		}
		name := s[:eq]
		rest := s[eq+2:]
		end := 0
		for end < len(rest) && !(rest[end] == '"' && (end == 0 || rest[end-1] != '\\')) {
			end++
		}
		if end >= len(rest) {
			return
		}
		into[name] = rest[:end]
		s = strings.TrimPrefix(rest[end+1:], ",")
	}
}

// Value is the value of the first sample named name: a gauge or a counter
// without labels.
func Value(ss []Sample, name string) (float64, bool) {
	for _, s := range ss {
		if s.Name == name {
			return s.Value, true
		}
	}
	return 0, false
}

// ValueOf is the value of the first sample named name whose labels include
// labels: one series of a labelled gauge or counter.
func ValueOf(ss []Sample, name string, labels map[string]string) (float64, bool) {
samples:
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		for k, v := range labels {
			if s.Labels[k] != v {
				continue samples
			}
		}
		return s.Value, true
	}
	return 0, false
}
