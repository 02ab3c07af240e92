package rawchunk

import (
	"encoding/binary"
	"slices"
)

// Integer column modes (low 3 bits of the column's first byte; the high 5
// bits are the power of ten every value is a multiple of).
const (
	intConst = 0 // one zigzag varint: every value
	intArith = 1 // first value, step: v[i] = v[0] + i*step
	intDelta = 2 // first value, then n-1 differences to the previous value
	intDoD   = 3 // first value, first difference, then n-2 differences of differences
	intRuns  = 4 // run count, then per run: value minus the previous run's value, run length
)

// pow10 holds 10^0 .. 10^18, the powers of ten an int64 can hold.
var pow10 = [19]int64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
}

// appendInts appends an integer column of vs; an empty column is no bytes.
// Arithmetic wraps around, so every int64 sequence round-trips.
func appendInts(dst []byte, vs []int64) []byte {
	n := len(vs)
	if n == 0 {
		return dst
	}
	first := vs[0]
	same := true
	for _, v := range vs[1:] {
		if v != first {
			same = false
			break
		}
	}
	if same {
		return binary.AppendVarint(append(dst, intConst), first)
	}

	// The largest power of ten all values are multiples of: timestamps of
	// whole seconds in nanoseconds, for instance.
	j := len(pow10) - 1
	for _, v := range vs {
		for j > 0 && v%pow10[j] != 0 {
			j--
		}
		if j == 0 {
			break
		}
	}
	p := pow10[j]

	// Sizes of the per-value modes, to pick the smallest.
	u0 := first / p
	step := vs[1]/p - u0
	deltaSize, dodSize, runsSize := 0, varintLen(step), 0
	runs, runLen, runStart, prevRun := 0, 1, u0, int64(0)
	prev, prevD, arith := u0, step, true
	for i := 1; i < n; i++ {
		u := vs[i] / p
		d := u - prev
		deltaSize += varintLen(d)
		if i >= 2 {
			dd := d - prevD
			dodSize += varintLen(dd)
			if dd != 0 {
				arith = false
			}
		}
		if d != 0 {
			runsSize += varintLen(runStart-prevRun) + uvarintLen(uint64(runLen))
			runs++
			prevRun, runStart, runLen = runStart, u, 0
		}
		runLen++
		prev, prevD = u, d
	}
	runsSize += varintLen(runStart-prevRun) + uvarintLen(uint64(runLen))
	runs++
	runsSize += uvarintLen(uint64(runs))

	head := byte(j << 3)
	if arith {
		dst = binary.AppendVarint(append(dst, head|intArith), u0)
		return binary.AppendVarint(dst, step)
	}
	switch {
	case runsSize <= deltaSize && runsSize <= dodSize:
		dst = binary.AppendUvarint(append(dst, head|intRuns), uint64(runs))
		runLen, runStart, prevRun = 1, u0, 0
		for i := 1; i < n; i++ {
			u := vs[i] / p
			if u != runStart {
				dst = binary.AppendVarint(dst, runStart-prevRun)
				dst = binary.AppendUvarint(dst, uint64(runLen))
				prevRun, runStart, runLen = runStart, u, 0
			}
			runLen++
		}
		dst = binary.AppendVarint(dst, runStart-prevRun)
		return binary.AppendUvarint(dst, uint64(runLen))
	case deltaSize <= dodSize:
		dst = binary.AppendVarint(append(dst, head|intDelta), u0)
		prev = u0
		for _, v := range vs[1:] {
			u := v / p
			dst = binary.AppendVarint(dst, u-prev)
			prev = u
		}
		return dst
	default:
		dst = binary.AppendVarint(append(dst, head|intDoD), u0)
		dst = binary.AppendVarint(dst, step)
		prev, prevD = vs[1]/p, step
		for _, v := range vs[2:] {
			u := v / p
			d := u - prev
			dst = binary.AppendVarint(dst, d-prevD)
			prev, prevD = u, d
		}
		return dst
	}
}

// readInts appends n values of an integer column to dst.
func readInts(r *reader, n int, dst []int64) []int64 {
	if n == 0 {
		return dst
	}
	// n is bounded by the chunk limits: grow once rather than by appends.
	dst = slices.Grow(dst, n)
	head := r.byte()
	mode, j := head&7, int(head>>3)
	if j >= len(pow10) {
		r.fail("integer column power of ten %d", j)
		return dst
	}
	p := pow10[j]
	switch mode {
	case intConst:
		v := r.varint() * p
		for range n {
			dst = append(dst, v)
		}
	case intArith:
		u, step := r.varint(), r.varint()
		for range n {
			dst = append(dst, u*p)
			u += step
		}
	case intDelta:
		u := r.varint()
		dst = append(dst, u*p)
		for i := 1; i < n && r.err == nil; i++ {
			u += r.varint()
			dst = append(dst, u*p)
		}
	case intDoD:
		u := r.varint()
		dst = append(dst, u*p)
		if n > 1 {
			d := r.varint()
			u += d
			dst = append(dst, u*p)
			for i := 2; i < n && r.err == nil; i++ {
				d += r.varint()
				u += d
				dst = append(dst, u*p)
			}
		}
	case intRuns:
		runs := r.count(n, "run count")
		left, u := n, int64(0)
		for range runs {
			u += r.varint()
			l := r.count(left, "run length")
			if l == 0 && r.err == nil {
				r.fail("empty run")
			}
			if r.err != nil {
				break
			}
			for range l {
				dst = append(dst, u*p)
			}
			left -= l
		}
		if left != 0 {
			r.fail("runs cover %d of %d values", n-left, n)
		}
	default:
		r.fail("integer column mode %d", mode)
	}
	return dst
}
