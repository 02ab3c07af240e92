package rawchunk

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
)

// Float column kinds (the column's first byte).
const (
	floatConst   = 0 // 8 bytes: the bits of every value
	floatDecimal = 1 // scale k, integer column of value×10^k, exceptions
	floatXOR     = 2 // per value: the bits XOR the previous value's bits
)

// maxScale is the most decimals a decimal float column has.
const maxScale = 9

// fpow10 holds 10^0 .. 10^maxScale, all exact in a float64.
var fpow10 = [maxScale + 1]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// scaled returns v×10^k as an integer if dividing that integer by 10^k
// gives v back bit for bit (so never for -0, NaN or infinities).
func scaled(v float64, k int) (int64, bool) {
	x := v * fpow10[k]
	// Below 2^53 every integer is exact in a float64, so the division back
	// is correctly rounded from the exact quotient.
	if !(math.Abs(x) < 1<<53) {
		return 0, false
	}
	m := int64(math.Round(x))
	return m, math.Float64bits(float64(m)/fpow10[k]) == math.Float64bits(v)
}

// appendFloats appends a float column of vs; an empty column is no bytes.
// Every float64 bit pattern round-trips.
func (e *encoder) appendFloats(dst []byte, vs []float64) []byte {
	n := len(vs)
	if n == 0 {
		return dst
	}
	if k, ok := e.decimalScale(vs); ok {
		return e.appendDecimal(dst, vs, k)
	}
	first := math.Float64bits(vs[0])
	same := true
	for _, v := range vs[1:] {
		if math.Float64bits(v) != first {
			same = false
			break
		}
	}
	if same {
		return binary.LittleEndian.AppendUint64(append(dst, floatConst), first)
	}
	dst = append(dst, floatXOR)
	prev := uint64(0)
	for _, v := range vs {
		b := math.Float64bits(v)
		dst = appendXOR(dst, b^prev)
		prev = b
	}
	return dst
}

// decimalScale picks the number of decimals k for a decimal column: small
// k keeps the integers small, values that need more decimals than k are
// stored as exceptions. It reports false when too many values would be.
func (e *encoder) decimalScale(vs []float64) (int, bool) {
	var need [maxScale + 2]int // values whose fewest decimals are k; [maxScale+1]: none fit
	for _, v := range vs {
		k := 0
		for ; k <= maxScale; k++ {
			if _, ok := scaled(v, k); ok {
				break
			}
		}
		need[k]++
	}
	// Cost in thousandths of a byte: a decimal more costs about 0.415 byte
	// a value (log2(10) bits), an exception about 10 bytes.
	n := len(vs)
	best, bestCost, exceptions := 0, math.MaxInt, 0
	over := n
	for k := 0; k <= maxScale; k++ {
		over -= need[k]
		cost := n*k*415 + over*10_000
		if cost < bestCost {
			best, bestCost, exceptions = k, cost, over
		}
	}
	return best, exceptions <= n/2
}

func (e *encoder) appendDecimal(dst []byte, vs []float64, k int) []byte {
	ms := e.ints(len(vs))
	e.exceptions = e.exceptions[:0]
	prev := int64(0)
	for i, v := range vs {
		m, ok := scaled(v, k)
		if !ok {
			// Repeat the previous integer so the exception does not
			// disturb the differences.
			m = prev
			e.exceptions = append(e.exceptions, i)
		}
		ms[i], prev = m, m
	}
	dst = append(dst, floatDecimal, byte(k))
	dst = appendInts(dst, ms)
	dst = binary.AppendUvarint(dst, uint64(len(e.exceptions)))
	last := -1
	for _, i := range e.exceptions {
		dst = binary.AppendUvarint(dst, uint64(i-last-1))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(vs[i]))
		last = i
	}
	return dst
}

// appendXOR appends x as a control byte (low nibble: zero bytes at the top,
// high nibble: zero bytes at the bottom) and the bytes between, lowest
// first. Zero is the single byte 0x08.
func appendXOR(dst []byte, x uint64) []byte {
	if x == 0 {
		return append(dst, 8)
	}
	lz, tz := bits.LeadingZeros64(x)/8, bits.TrailingZeros64(x)/8
	dst = append(dst, byte(lz|tz<<4))
	x >>= 8 * tz
	for range 8 - lz - tz {
		dst = append(dst, byte(x))
		x >>= 8
	}
	return dst
}

// readFloats appends n values of a float column to dst.
func readFloats(r *reader, n int, dst []float64, ints []int64) ([]float64, []int64) {
	if n == 0 {
		return dst, ints
	}
	dst = slices.Grow(dst, n)
	switch kind := r.byte(); kind {
	case floatConst:
		v := math.Float64frombits(r.u64())
		for range n {
			dst = append(dst, v)
		}
	case floatDecimal:
		k := int(r.byte())
		if k > maxScale {
			r.fail("float column scale %d", k)
			return dst, ints
		}
		ints = readInts(r, n, ints[:0])
		if r.err != nil {
			return dst, ints
		}
		start := len(dst)
		p := fpow10[k]
		for _, m := range ints {
			dst = append(dst, float64(m)/p)
		}
		count := r.count(n, "exception count")
		i := -1
		for range count {
			i += int(min(r.uvarint(), uint64(n))) + 1
			b := r.u64()
			if r.err != nil {
				break
			}
			if i >= n {
				r.fail("exception at %d of %d values", i, n)
				break
			}
			dst[start+i] = math.Float64frombits(b)
		}
	case floatXOR:
		prev := uint64(0)
		for i := 0; i < n && r.err == nil; i++ {
			c := r.byte()
			lz, tz := int(c&15), int(c>>4)
			if lz+tz > 8 {
				r.fail("xor control byte %#x", c)
				break
			}
			b := r.bytes(8 - lz - tz)
			x := uint64(0)
			for j := len(b) - 1; j >= 0; j-- {
				x = x<<8 | uint64(b[j])
			}
			prev ^= x << (8 * tz)
			dst = append(dst, math.Float64frombits(prev))
		}
	default:
		r.fail("float column kind %d", kind)
	}
	return dst, ints
}
