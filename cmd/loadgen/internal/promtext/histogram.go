package promtext

import (
	"math"
	"sort"
	"strconv"
)

// Histogram is the cumulative bucket counts of one histogram, summed over
// the series that match.
type Histogram struct {
	bounds []float64 // upper bounds, ascending, +Inf last
	counts []float64 // cumulative
}

// HistogramOf sums the buckets of histogram name over the series whose
// labels include match.
func HistogramOf(ss []Sample, name string, match map[string]string) Histogram {
	byLE := map[float64]float64{}
	for _, s := range ss {
		if s.Name != name+"_bucket" {
			continue
		}
		ok := true
		for k, v := range match {
			if s.Labels[k] != v {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(s.Labels["le"], 64)
		if err != nil {
			continue
		}
		byLE[le] += s.Value
	}
	var h Histogram
	for le := range byLE {
		h.bounds = append(h.bounds, le)
	}
	sort.Float64s(h.bounds)
	for _, le := range h.bounds {
		h.counts = append(h.counts, byLE[le])
	}
	return h
}

// Minus returns h - before (the observations made between two scrapes).
func (h Histogram) Minus(before Histogram) Histogram {
	out := Histogram{bounds: h.bounds, counts: make([]float64, len(h.counts))}
	prev := map[float64]float64{}
	for i, le := range before.bounds {
		prev[le] = before.counts[i]
	}
	for i, le := range h.bounds {
		out.counts[i] = h.counts[i] - prev[le]
	}
	return out
}

// Total is the number of observations.
func (h Histogram) Total() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// Quantile interpolates linearly inside the bucket that holds rank q, as
// Prometheus' histogram_quantile does; in the +Inf bucket it returns the
// highest finite bound. NaN without observations.
func (h Histogram) Quantile(q float64) float64 {
	total := h.Total()
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, le := range h.bounds {
		if h.counts[i] >= rank {
			if math.IsInf(le, 1) {
				return lower
			}
			inBucket := h.counts[i] - below
			if inBucket <= 0 {
				return le
			}
			return lower + (le-lower)*(rank-below)/inBucket
		}
		lower, below = le, h.counts[i]
	}
	return lower
}

// FractionBelow is the share of observations in buckets with bound <= le;
// NaN without observations.
func (h Histogram) FractionBelow(le float64) float64 {
	total := h.Total()
	if total == 0 {
		return math.NaN()
	}
	var n float64
	for i, b := range h.bounds {
		if b <= le+1e-12 {
			n = h.counts[i]
		}
	}
	return n / total
}
