package rawchunk

import (
	"encoding/binary"
	"slices"
	"strings"
)

// String column modes (the column's first byte).
const (
	strConst  = 0 // one string: every value
	strNumber = 1 // prefix, digit width (0: no leading zeros), integer column of the numbers
	strDict   = 2 // distinct strings, integer column of indexes
	strFront  = 3 // integer columns of bytes shared with the previous string and of suffix lengths, then the suffixes
	strUUID   = 4 // canonical lowercase UUIDs: integer column of the first 8 bytes, then the last 8 bytes of each
)

// maxDigits is the longest decimal number a number column holds (an int64
// holds any 18 digits).
const maxDigits = 18

// appendStrs appends a string column of ss; an empty column is no bytes.
func (e *encoder) appendStrs(dst []byte, ss []string) []byte {
	n := len(ss)
	if n == 0 {
		return dst
	}
	same := true
	for _, s := range ss[1:] {
		if s != ss[0] {
			same = false
			break
		}
	}
	if same {
		return appendStr(append(dst, strConst), ss[0])
	}
	if out, ok := e.appendNumbers(dst, ss); ok {
		return out
	}
	if out, ok := e.appendUUIDs(dst, ss); ok {
		return out
	}
	if out, ok := e.appendDict(dst, ss); ok {
		return out
	}
	shared, lens := e.ints(n), e.ints2(n)
	prev := ""
	for i, s := range ss {
		c := 0
		for c < len(s) && c < len(prev) && s[c] == prev[c] {
			c++
		}
		shared[i], lens[i] = int64(c), int64(len(s)-c)
		prev = s
	}
	dst = appendInts(append(dst, strFront), shared)
	dst = appendInts(dst, lens)
	for i, s := range ss {
		dst = append(dst, s[shared[i]:]...)
	}
	return dst
}

// splitNumber splits s into what precedes its trailing decimal digits and
// those digits.
func splitNumber(s string) (prefix, digits string) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	return s[:i], s[i:]
}

// appendNumbers writes ids such as "store-s0001-123": one prefix and a
// number each, either all without leading zeros or all of one width.
func (e *encoder) appendNumbers(dst []byte, ss []string) ([]byte, bool) {
	prefix, _ := splitNumber(ss[0])
	canonical, width := true, -1
	nums := e.ints(len(ss))
	for i, s := range ss {
		p, d := splitNumber(s)
		if p != prefix || d == "" || len(d) > maxDigits {
			return dst, false
		}
		if len(d) > 1 && d[0] == '0' {
			canonical = false
		}
		if width == -1 {
			width = len(d)
		} else if width != len(d) {
			width = 0
		}
		v := int64(0)
		for _, c := range []byte(d) {
			v = v*10 + int64(c-'0')
		}
		nums[i] = v
	}
	switch {
	case canonical:
		width = 0
	case width <= 0:
		return dst, false
	}
	dst = appendStr(append(dst, strNumber), prefix)
	dst = append(dst, byte(width))
	return appendInts(dst, nums), true
}

// appendUUIDs writes canonical lowercase UUIDs (what the command side gives
// items without a client id) as 16 bytes each.
func (e *encoder) appendUUIDs(dst []byte, ss []string) ([]byte, bool) {
	his := e.ints(len(ss))
	los := e.ints2(len(ss))
	for i, s := range ss {
		hi, lo, ok := parseUUID(s)
		if !ok {
			return dst, false
		}
		his[i], los[i] = int64(hi), int64(lo)
	}
	dst = appendInts(append(dst, strUUID), his)
	for _, lo := range los {
		dst = binary.BigEndian.AppendUint64(dst, uint64(lo))
	}
	return dst, true
}

// appendDict writes a column of few distinct strings (event types) as a
// dictionary and indexes into it.
func (e *encoder) appendDict(dst []byte, ss []string) ([]byte, bool) {
	limit := len(ss) / 4
	if e.dict == nil {
		e.dict = make(map[string]int64)
	}
	clear(e.dict)
	e.words = e.words[:0]
	idx := e.ints(len(ss))
	for i, s := range ss {
		j, ok := e.dict[s]
		if !ok {
			if len(e.words) == limit {
				return dst, false
			}
			j = int64(len(e.words))
			e.dict[s] = j
			e.words = append(e.words, s)
		}
		idx[i] = j
	}
	dst = binary.AppendUvarint(append(dst, strDict), uint64(len(e.words)))
	for _, w := range e.words {
		dst = appendStr(dst, w)
	}
	return appendInts(dst, idx), true
}

const hexDigits = "0123456789abcdef"

// parseUUID parses a canonical lowercase UUID (8-4-4-4-12 hex digits).
func parseUUID(s string) (hi, lo uint64, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return 0, 0, false
	}
	var v [2]uint64
	nib := 0
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		c := s[i]
		var x byte
		switch {
		case c >= '0' && c <= '9':
			x = c - '0'
		case c >= 'a' && c <= 'f':
			x = c - 'a' + 10
		default:
			return 0, 0, false
		}
		v[nib/16] = v[nib/16]<<4 | uint64(x)
		nib++
	}
	return v[0], v[1], true
}

func appendUUID(dst []byte, hi, lo uint64) []byte {
	for i, w := range [2]uint64{hi, lo} {
		for j := 60; j >= 0; j -= 4 {
			nib := 15 - j/4 + 16*i // position among the 32 digits
			if nib == 8 || nib == 12 || nib == 16 || nib == 20 {
				dst = append(dst, '-')
			}
			dst = append(dst, hexDigits[w>>uint(j)&15])
		}
	}
	return dst
}

// readStrs appends n values of a string column to dst. Strings made up
// while decoding share one allocation per column, sized before it is made.
func (d *decoder) readStrs(r *reader, n int, dst []string) []string {
	if n == 0 {
		return dst
	}
	dst = slices.Grow(dst, n)
	switch mode := r.byte(); mode {
	case strConst:
		s := r.str()
		for range n {
			dst = append(dst, s)
		}
	case strDict:
		words := d.words[:0]
		count := r.count(n, "dictionary size")
		for i := 0; i < count && r.err == nil; i++ {
			words = append(words, r.str())
		}
		d.words = words
		d.ints = readInts(r, n, d.ints[:0])
		if r.err != nil {
			return dst
		}
		for _, j := range d.ints {
			if uint64(j) >= uint64(len(words)) {
				r.fail("dictionary index %d of %d", j, len(words))
				return dst
			}
			dst = append(dst, words[j])
		}
	case strNumber:
		dst = d.readNumbers(r, n, dst)
	case strUUID:
		d.ints = readInts(r, n, d.ints[:0])
		uuids := r.bytes(8 * n)
		if r.err != nil {
			return dst
		}
		var sb strings.Builder
		sb.Grow(36 * n)
		var buf [36]byte
		for i, hi := range d.ints {
			sb.Write(appendUUID(buf[:0], uint64(hi), binary.BigEndian.Uint64(uuids[8*i:])))
		}
		all := sb.String()
		for i := range n {
			dst = append(dst, all[36*i:36*i+36])
		}
	case strFront:
		dst = d.readFront(r, n, dst)
	default:
		r.fail("string column mode %d", mode)
	}
	return dst
}

func (d *decoder) readNumbers(r *reader, n int, dst []string) []string {
	prefix := r.bytes(r.count(len(r.b), "prefix length"))
	width := int(r.byte())
	if width > maxDigits {
		r.fail("number width %d", width)
	}
	d.ints = readInts(r, n, d.ints[:0])
	if r.err != nil {
		return dst
	}
	limit := pow10[maxDigits]
	if width > 0 {
		limit = pow10[width]
	}
	total := 0
	for _, v := range d.ints {
		if v < 0 || v >= limit {
			r.fail("number %d out of range for width %d", v, width)
			return dst
		}
		if total += len(prefix) + max(width, digits(v)); total > MaxTextBytes {
			r.fail("strings longer than %d bytes together", MaxTextBytes)
			return dst
		}
	}
	// Built in scratch space, then copied once into the strings.
	text := grow(d.text, total)
	d.text = text
	var num [maxDigits]byte
	var digits []byte // of the previous number, at the end of num
	ends := slices.Grow(d.offs[:0], n)
	end, prev := 0, int64(-2)
	for _, v := range d.ints {
		if v == prev+1 {
			// Counters mostly count up by one: add it to the digits.
			digits = increment(&num, digits)
		} else {
			digits = formatDigits(&num, v, width)
		}
		prev = v
		end += copy(text[end:], prefix)
		end += copy(text[end:], digits)
		ends = append(ends, end)
	}
	d.offs = ends
	return appendSlices(dst, string(text), ends)
}

func (d *decoder) readFront(r *reader, n int, dst []string) []string {
	shared := readInts(r, n, d.ints[:0])
	suffix := readInts(r, n, d.ints2[:0])
	d.ints, d.ints2 = shared, suffix
	if r.err != nil {
		return dst
	}
	total, prevLen, suffixes := 0, 0, 0
	for i, c := range shared {
		l := suffix[i]
		if c < 0 || c > int64(prevLen) || l < 0 || l > int64(len(r.b)) {
			r.fail("front coding: %d bytes shared of %d, suffix of %d", c, prevLen, l)
			return dst
		}
		prevLen = int(c + l)
		suffixes += int(l)
		if total += prevLen; total > MaxTextBytes {
			r.fail("strings longer than %d bytes together", MaxTextBytes)
			return dst
		}
	}
	rest := r.bytes(suffixes)
	if r.err != nil {
		return dst
	}
	var sb strings.Builder
	sb.Grow(total)
	ends := slices.Grow(d.offs[:0], n)
	start := 0
	for i, c := range shared {
		// The builder never grows, so what it holds stays put and can be
		// copied from.
		held := sb.String()
		sb.WriteString(held[start : start+int(c)])
		sb.Write(rest[:suffix[i]])
		rest = rest[suffix[i]:]
		start = len(held)
		ends = append(ends, sb.Len())
	}
	d.offs = ends
	return appendSlices(dst, sb.String(), ends)
}

// appendSlices appends the strings of all that end at ends.
func appendSlices(dst []string, all string, ends []int) []string {
	start := 0
	for _, end := range ends {
		dst = append(dst, all[start:end])
		start = end
	}
	return dst
}

// digits returns the number of decimal digits of 0 <= v < 10^18.
func digits(v int64) int {
	n := 1
	for n < maxDigits && v >= pow10[n] {
		n++
	}
	return n
}

// increment adds one to the decimal digits at the end of buf, which grow
// by a digit when they are all nines (a number below 10^18 has room).
func increment(buf *[maxDigits]byte, digits []byte) []byte {
	for i := len(digits) - 1; i >= 0; i-- {
		if digits[i] != '9' {
			digits[i]++
			return digits
		}
		digits[i] = '0'
	}
	start := len(buf) - len(digits) - 1
	buf[start] = '1'
	return buf[start:]
}

// formatDigits writes 0 <= v < 10^18 in decimal at the end of buf, padded
// with zeros to width digits, and returns those digits.
func formatDigits(buf *[maxDigits]byte, v int64, width int) []byte {
	i := len(buf)
	for v >= 10 {
		q := v / 10
		i--
		buf[i] = byte('0' + v - 10*q)
		v = q
	}
	i--
	buf[i] = byte('0' + v)
	for len(buf)-i < width {
		i--
		buf[i] = '0'
	}
	return buf[i:]
}
