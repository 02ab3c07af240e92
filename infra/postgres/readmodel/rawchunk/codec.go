package rawchunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Version is the format version this package writes. Chunks of other
// versions are refused with ErrVersion.
const Version = 1

// Limits of one chunk. The encoder refuses a chunk beyond them with
// ErrTooLarge (the writer cuts such a series into several chunks), and the
// decoder refuses one as corrupt, so that no input, however crafted, makes a
// decode allocate more than these allow.
const (
	// MaxPoints is the most points one chunk holds: a day of one-second
	// readings, or 91 days of one-minute readings.
	MaxPoints = 1 << 17
	// MaxEvents is the most vehicle events one chunk holds: 18 hours of
	// one-second samples.
	MaxEvents = 1 << 16
	// MaxReadings is the most readings (name, value pairs, over all events)
	// one vehicle chunk holds: an hour of one-second samples of 256
	// readings (the most an event has) fits. Decoded, an event's 16
	// readings take about 1 KiB of map.
	MaxReadings = 1 << 20
	// MaxTextBytes is the most bytes of the strings of one column (the ids,
	// for instance) together.
	MaxTextBytes = 1 << 24
	// MaxBodyBytes is the most bytes of a chunk's body before compression.
	MaxBodyBytes = 1 << 26
)

const (
	kindPoints        = 1
	kindVehicleEvents = 2

	flagZstd = 1 << 0

	headerLen = 3 // version, kind, flags
	// minCompress is the body size below which compressing is not tried:
	// a zstd frame costs about 15 bytes of its own.
	minCompress = 64
	// maxExpansion and expansionSlack bound how much a compressed body may
	// grow when decompressed (slack + expansion × compressed bytes), so a
	// small input never decompresses to a large allocation. The encoder
	// stores a body that would compress better than this uncompressed.
	maxExpansion   = 1 << 10
	expansionSlack = 1 << 16
)

var (
	// ErrVersion means a chunk was written in a format version this code
	// does not know.
	ErrVersion = errors.New("rawchunk: unknown format version")
	// ErrKind means a chunk holds the other kind of item (vehicle events
	// where station points were asked for, or the reverse).
	ErrKind = errors.New("rawchunk: wrong kind of chunk")
	// ErrCorrupt means the bytes are not a valid chunk.
	ErrCorrupt = errors.New("rawchunk: corrupt chunk")
	// ErrUnsorted means the items given to the encoder were not in order.
	ErrUnsorted = errors.New("rawchunk: items not sorted")
	// ErrTooLarge means the items given to the encoder exceed a chunk limit.
	ErrTooLarge = errors.New("rawchunk: chunk too large")
	// ErrInvalid means an item cannot be stored as given.
	ErrInvalid = errors.New("rawchunk: invalid item")
)

// Codec encodes and decodes chunks. It holds one zstd encoder and decoder
// and scratch buffers; it is safe for concurrent use. Build it with New and
// keep it for the life of the process.
type Codec struct {
	enc      *zstd.Encoder
	dec      *zstd.Decoder
	encoders sync.Pool // *encoder
	decoders sync.Pool // *decoder
}

// New builds a Codec.
func New() (*Codec, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
		// Chunks are small; a larger window buys nothing and costs memory.
		zstd.WithWindowSize(1<<20),
	)
	if err != nil {
		return nil, fmt.Errorf("rawchunk: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderMaxMemory(MaxBodyBytes),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("rawchunk: zstd decoder: %w", err)
	}
	return &Codec{enc: enc, dec: dec}, nil
}

// Close releases the zstd encoder and decoder. The Codec must not be used
// afterwards.
func (c *Codec) Close() error {
	c.dec.Close()
	return c.enc.Close()
}

func (c *Codec) getEncoder() *encoder {
	if e, ok := c.encoders.Get().(*encoder); ok {
		return e
	}
	return &encoder{}
}

func (c *Codec) putEncoder(e *encoder) {
	e.reset()
	c.encoders.Put(e)
}

func (c *Codec) getDecoder() *decoder {
	if d, ok := c.decoders.Get().(*decoder); ok {
		return d
	}
	return &decoder{}
}

func (c *Codec) putDecoder(d *decoder) {
	d.reset()
	c.decoders.Put(d)
}

// appendChunk appends the header and the body, compressed when that makes
// the chunk smaller.
func (c *Codec) appendChunk(dst []byte, kind byte, body []byte) []byte {
	start := len(dst)
	if len(body) >= minCompress {
		dst = append(dst, Version, kind, flagZstd)
		dst = binary.AppendUvarint(dst, uint64(len(body)))
		frameAt := len(dst)
		dst = c.enc.EncodeAll(body, dst)
		frame := len(dst) - frameAt
		if len(dst)-start < headerLen+len(body) && len(body) <= expansionSlack+maxExpansion*frame {
			return dst
		}
		dst = dst[:start]
	}
	dst = append(dst, Version, kind, 0)
	return append(dst, body...)
}

// body checks the header of chunk b and returns its body, decompressed into
// *buf when it was compressed.
func (c *Codec) body(b []byte, kind byte, buf *[]byte) ([]byte, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a header", ErrCorrupt, len(b))
	}
	if b[0] != Version {
		return nil, fmt.Errorf("%w: version %d (this code reads version %d)", ErrVersion, b[0], Version)
	}
	if b[1] != kind {
		return nil, fmt.Errorf("%w: holds %s, not %s", ErrKind, kindName(b[1]), kindName(kind))
	}
	flags := b[2]
	if flags&^flagZstd != 0 {
		return nil, fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
	}
	rest := b[headerLen:]
	if flags&flagZstd == 0 {
		return rest, nil
	}
	size, n := binary.Uvarint(rest)
	if n <= 0 {
		return nil, fmt.Errorf("%w: body length", ErrCorrupt)
	}
	frame := rest[n:]
	if size > MaxBodyBytes || size > uint64(expansionSlack+maxExpansion*len(frame)) {
		return nil, fmt.Errorf("%w: body of %d bytes from %d compressed", ErrCorrupt, size, len(frame))
	}
	if uint64(cap(*buf)) < size {
		*buf = make([]byte, 0, size)
	}
	// The cap limits what DecodeAll may write, whatever the frame claims.
	out, err := c.dec.DecodeAll(frame, (*buf)[:0:size])
	if err != nil {
		return nil, fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
	}
	if uint64(len(out)) != size {
		return nil, fmt.Errorf("%w: body of %d bytes, header says %d", ErrCorrupt, len(out), size)
	}
	return out, nil
}

// decodeFunc decodes the columns of chunk b into d, and returns how many
// items it holds and a function that sets every field of *item to item i
// (called for i = 0, 1, ... in order, while d is held). Filling in place
// spares copying each item once more.
type decodeFunc[T any] func(c *Codec, b []byte, d *decoder) (int, func(i int, item *T), error)

// decodeAll returns every item of chunk b.
func decodeAll[T any](c *Codec, b []byte, decode decodeFunc[T]) ([]T, error) {
	d := c.getDecoder()
	defer c.putDecoder(d)
	n, fill, err := decode(c, b, d)
	if err != nil {
		return nil, err
	}
	items := make([]T, n)
	for i := range items {
		fill(i, &items[i])
	}
	return items, nil
}

// decodeEach calls fn with each item of chunk b, and stops at fn's first
// error.
func decodeEach[T any](c *Codec, b []byte, decode decodeFunc[T], fn func(T) error) error {
	d := c.getDecoder()
	defer c.putDecoder(d)
	n, fill, err := decode(c, b, d)
	if err != nil {
		return err
	}
	var item T
	for i := range n {
		fill(i, &item)
		if err := fn(item); err != nil {
			return err
		}
	}
	return nil
}

func kindName(k byte) string {
	switch k {
	case kindPoints:
		return "station points"
	case kindVehicleEvents:
		return "vehicle events"
	}
	return fmt.Sprintf("unknown kind %d", k)
}
