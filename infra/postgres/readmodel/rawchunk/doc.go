// Package rawchunk is the binary format of raw read-model chunks: the
// points of one station series (a station's measurement type), or the
// events of one vehicle, over a span of time, stored in one bytea value
// instead of one row per item. It is pure Go and knows no database.
//
// Encoding is lossless: floats keep their bits (-0, NaN and infinities
// too), times keep their instant to the nanosecond (decoded in UTC),
// strings their bytes, and nil and empty Data (and Readings) stay apart.
// The encoder requires items sorted by time, then id, and checks it.
//
// A Codec, built once by New, holds one zstd encoder and decoder; it is
// safe for concurrent use.
//
// # Format
//
// Integers below are unsigned LEB128 varints (uvarint) or zigzag varints
// (varint) as encoding/binary writes them; fixed-width words are little
// endian unless said otherwise.
//
//	chunk     = version:byte kind:byte flags:byte payload
//	version   = 1; other versions are refused with ErrVersion
//	kind      = 1 station points | 2 vehicle events
//	flags     = bit 0: payload is zstd-compressed; other bits 0
//	payload   = body                                   (bit 0 clear)
//	          | uvarint(len(body)) zstd-frame(body)    (bit 0 set)
//
// The encoder compresses bodies of 64 bytes or more when that makes the
// chunk smaller; a decompressed body is at most 64 KiB + 1024 × the frame's
// length, and at most MaxBodyBytes.
//
//	points body  = uvarint n, times(MeasuredAt), floats(Value), strings(ID), times(RecordedAt)
//	vehicle body = uvarint n, times(OccurredAt), strings(EID), strings(Type),
//	               bools(Readings != nil), uvarint names, names × (uvarint len, bytes),
//	               names × (bools(event has the name), floats(its values in those events)),
//	               bools(HasLocation), floats(Lat), floats(Lon)   (of the located events),
//	               ints(Data: 0 nil, else len+1), the Data bytes one after another,
//	               times(RecordedAt)
//
// Reading names are the union of the chunk's, in strictly increasing byte
// order, each had by at least one event, only by events whose Readings is
// not nil. Every column holds n values (fewer where said); a column of no
// values is no bytes at all. Columns:
//
//	ints    = byte(mode | j<<3), then by mode; every value is the decoded
//	          integer × 10^j (j ≤ 18), arithmetic wrapping around int64:
//	          0 const  varint v                  all values v
//	          1 arith  varint v0, varint step    v[i] = v0 + i×step
//	          2 delta  varint v0, (n-1) × varint v[i]-v[i-1]
//	          3 dod    varint v0, varint v[1]-v[0], (n-2) × varint of the change of that difference
//	          4 runs   uvarint runs, runs × (varint value - previous run's value, uvarint length ≥ 1)
//	floats  = byte kind, then:
//	          0 const    8 bytes: the bits of every value
//	          1 decimal  byte k ≤ 9, ints(m), uvarint exceptions,
//	                     exceptions × (uvarint gap to the previous one, 8 bytes of bits);
//	                     value i = float64(m[i]) / 10^k unless an exception replaces it
//	          2 xor      n × (byte c, 8-top-bottom bytes): the value's bits XOR the
//	                     previous value's (0 before the first) have top = c&15 zero
//	                     bytes above and bottom = c>>4 zero bytes below the bytes
//	                     that follow, lowest first; top+bottom ≤ 8
//	times   = byte layout, then:
//	          0 ints(Unix nanoseconds)
//	          1 ints(Unix seconds), ints(nanoseconds 0..999999999)   (instants outside 1678-2262)
//	strings = byte mode, then:
//	          0 const   uvarint len, bytes                       all values the same
//	          1 number  uvarint len, prefix, byte width, ints(x)  prefix + decimal x < 10^18,
//	                                                              zero-padded to width digits
//	                                                              (0: no padding)
//	          2 dict    uvarint d, d × (uvarint len, bytes), ints(index < d)
//	          3 front   ints(bytes shared with the previous value), ints(suffix length), suffixes
//	          4 uuid    ints(first 8 bytes, big endian), n × last 8 bytes big endian;
//	                    the value is the canonical lowercase 8-4-4-4-12 hex text
//	bools   = byte mode: 0 all false, 1 all true,
//	          2 followed by ceil(n/8) bytes, value i = bit i%8 of byte i/8, unused bits 0
//
// A decimal float column is chosen when at most half the values need more
// than k decimals (or are -0, NaN or infinite): those become exceptions.
// The encoder picks the smallest of the integer modes, the first string
// mode that fits (in the order const, number, uuid, dict when at most n/4
// distinct values, front), and leaves the rest to zstd.
//
// The decoder reads no further than the input, refuses trailing bytes, and
// never allocates by a count it has not bounded: at most MaxPoints points
// or MaxEvents events, MaxReadings readings, MaxTextBytes of strings per
// column, and a decompressed body proportional to its input.
package rawchunk
