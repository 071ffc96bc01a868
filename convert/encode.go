package convert

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/zeebo/xxh3"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// RowError is a row that cannot be encoded; Row is 0-based within the record.
type RowError struct {
	Row   int
	Field string
	Err   error
}

func (e *RowError) Error() string {
	return fmt.Sprintf("row %d, field %q: %v", e.Row+1, e.Field, e.Err)
}
func (e *RowError) Unwrap() error { return e.Err }

// Encoder writes datapoint wire bytes straight from canonical Arrow columns
// (see schema.ArrowType; values as ingest.Mapper makes them, one NaN among
// them) into a caller's buffer, with no per-row messages.
// The bytes equal proto.MarshalOptions{Deterministic: true} of the same
// datapoint as a dynamic message without id and ingestion_time: fields in
// number order, explicit presence for the dataset's scalars, packed
// repeated scalars, implicit presence inside the well-known messages.
type Encoder struct {
	ds      *schema.Dataset
	columns []column // in field-number order
	timeCol int      // index into columns of the time field
}

type column struct {
	field schema.Field
	index int // column index in the record
}

// NewEncoder prepares encoding records with schema sc (canonical types,
// columns named as fields; any subset of fields; id and ingestion_time
// columns are ignored) for dataset ds.
func NewEncoder(ds *schema.Dataset, sc *arrow.Schema) (*Encoder, error) {
	e := &Encoder{ds: ds, timeCol: -1}
	for _, f := range ds.Fields {
		if f.Name == schema.FieldID || f.Name == schema.FieldIngestionTime {
			continue
		}
		idx := sc.FieldIndices(f.Name)
		if len(idx) == 0 {
			continue
		}
		if len(idx) > 1 {
			return nil, fmt.Errorf("encode: column %q appears %d times", f.Name, len(idx))
		}
		got, want := sc.Field(idx[0]).Type, schema.ArrowType(f)
		if !arrow.TypeEqual(got, want) {
			return nil, fmt.Errorf("encode: column %q has type %s, want %s", f.Name, got, want)
		}
		if f.Name == schema.FieldTime {
			e.timeCol = len(e.columns)
		}
		e.columns = append(e.columns, column{field: f, index: idx[0]})
	}
	if e.timeCol < 0 {
		return nil, fmt.Errorf("encode: no %q column", schema.FieldTime)
	}
	return e, nil
}

// Encode appends the canonical bytes of every row of rec to buf and one
// datapoint per row (ID set, Data a sub-slice of the returned buffer) to
// dps. The datapoints' Data alias the returned buffer: do not reuse it
// while they are in use.
//
// Rows are encoded one after the other in a single pass: protobuf needs no
// length before a top-level message, so each field is written where the
// last one ended. Room is reserved a block of rows at a time from an upper
// bound of their size (offsets give string lengths at once), and each row
// is hashed for its ID while its bytes are still in cache. The commonest
// field kinds are written inline in the row loop.
func (e *Encoder) Encode(rec arrow.RecordBatch, buf []byte, dps []store.Datapoint) ([]byte, []store.Datapoint, error) {
	n := int(rec.NumRows())
	if n == 0 {
		return buf, dps, nil
	}
	times := rec.Column(e.columns[e.timeCol].index).(*array.Timestamp)
	if times.NullN() > 0 {
		for row := 0; row < n; row++ {
			if times.IsNull(row) {
				return buf, dps, &RowError{Row: row, Field: schema.FieldTime, Err: fmt.Errorf("time is missing; every datapoint needs one")}
			}
		}
	}
	cols := make([]colEncoder, len(e.columns))
	for i, c := range e.columns {
		cols[i].init(c.field, rec.Column(c.index))
	}
	tv := times.TimestampValues()
	first, origin := len(dps), len(buf)
	dps = slices.Grow(dps, n)
	b := buf[:cap(buf)]
	p := len(buf)
	for lo := 0; lo < n; lo += encodeBlock {
		hi := min(lo+encodeBlock, n)
		need := 0
		for i := range cols {
			need += cols[i].bound(lo, hi)
		}
		if p+need > len(b) {
			b = regrow(b, p, p+need, lo, n, origin, dps[first:])
		}
		for row := lo; row < hi; row++ {
			start := p
			for i := range cols {
				c := &cols[i]
				// The commonest kinds inline; put does the rest.
				switch c.kind {
				case schema.String, schema.Bytes:
					if c.nullBits != nil && c.null(row) {
						continue
					}
					from, to := c.offs[row]-c.offs[0], c.offs[row+1]-c.offs[0]
					p = putTag(b, p, c.tag)
					p = putVarint(b, p, uint64(to-from))
					p += copy(b[p:], c.data[from:to])
				case schema.Int64, schema.Uint64:
					if c.nullBits != nil && c.null(row) {
						continue
					}
					p = putTag(b, p, c.tag)
					p = putVarint(b, p, c.u64[row])
				case schema.Timestamp:
					if c.nullBits != nil && c.null(row) {
						continue
					}
					// putSecondsNanos by hand: this is the commonest message.
					secs, nanos := splitTimestamp(c.i64[row])
					p = putTag(b, p, c.tag)
					at := p // the length byte, written once the body is
					p++
					if secs != 0 {
						b[p] = 1<<3 | byte(protowire.VarintType)
						p = putVarint(b, p+1, uint64(secs))
					}
					if nanos != 0 {
						b[p] = 2<<3 | byte(protowire.VarintType)
						p = putVarint(b, p+1, uint64(int64(nanos)))
					}
					b[at] = byte(p - at - 1)
				case schema.Geometry:
					if c.nullBits != nil && c.null(row) {
						continue
					}
					from, to := c.offs[row]-c.offs[0], c.offs[row+1]-c.offs[0]
					p = putTag(b, p, c.tag)
					if from == to {
						b[p] = 0
						p++
						continue
					}
					l := uint64(to - from)
					p = putVarint(b, p, 1+uint64(protowire.SizeVarint(l))+l)
					b[p] = 1<<3 | byte(protowire.BytesType)
					p = putVarint(b, p+1, l)
					p += copy(b[p:], c.data[from:to])
				default:
					p = c.put(b, p, row, lo)
				}
			}
			data := b[start:p:p]
			millis := floorDiv(int64(tv[row]), 1e6)
			if millis < 0 || millis > MaxMillis {
				_, err := ID(millis, data)
				return b[:p], dps[:first], &RowError{Row: row, Field: schema.FieldTime, Err: err}
			}
			// One write of the whole datapoint (the slice may be reused:
			// every other field must be zeroed).
			dps = append(dps, store.Datapoint{ID: makeID(uint64(millis), xxh3.Hash128(data)), Data: data})
		}
	}
	return b[:p], dps, nil
}

// regrow returns a buffer of at least want bytes (length = capacity) that
// starts with b[:used], with room for the rest of the record at the
// average row size so far, and points the datapoints already made (rows
// written back to back from origin) into it.
func regrow(b []byte, used, want, done, n, origin int, made []store.Datapoint) []byte {
	size := want
	if done > 0 {
		size += (used - origin) / done * (n - done) * 9 / 8
	}
	nb := make([]byte, max(size, 2*len(b)))
	copy(nb, b[:used])
	off := origin
	for i := range made {
		end := off + len(made[i].Data)
		made[i].Data = nb[off:end:end]
		off = end
	}
	return nb
}

// encodeBlock is how many rows Encode reserves room for at a time (and
// how many rows of an appender column it encodes ahead into scratch).
const encodeBlock = 256

// putVarint writes v at b[p:] and returns the position after it.
func putVarint(b []byte, p int, v uint64) int {
	for v >= 0x80 {
		b[p] = byte(v) | 0x80
		v >>= 7
		p++
	}
	b[p] = byte(v)
	return p + 1
}

// putSecondsNanos writes the length and body of a Timestamp or Duration
// message (implicit presence: zero seconds or nanos are left out).
func putSecondsNanos(b []byte, p int, s int64, n int32) int {
	b[p] = byte(secondsNanosSize(s, n))
	p++
	if s != 0 {
		b[p] = 1<<3 | byte(protowire.VarintType)
		p = putVarint(b, p+1, uint64(s))
	}
	if n != 0 {
		b[p] = 2<<3 | byte(protowire.VarintType)
		p = putVarint(b, p+1, uint64(int64(n)))
	}
	return p
}

// putTag writes a field tag (one byte for field numbers below 16).
func putTag(b []byte, p int, tag []byte) int {
	if len(tag) == 1 {
		b[p] = tag[0]
		return p + 1
	}
	return p + copy(b[p:], tag)
}

func putFixed64(b []byte, p int, v uint64) int {
	binary.LittleEndian.PutUint64(b[p:p+8], v)
	return p + 8
}

// kindAppender marks a column encoded through its appender.
const kindAppender schema.Type = -1

// colEncoder writes one column's field of each row.
type colEncoder struct {
	kind     schema.Type
	tag      []byte // the field's tag
	nullBits []byte // validity bitmap; nil when the column has no nulls
	nullOff  int    // the array's offset into nullBits

	offs  []int32 // string, bytes, geometry: value offsets (from offs[0])
	data  []byte
	i64   []int64 // int64, timestamp, duration
	u64   []uint64
	f64   []float64
	bools *array.Boolean
	fsb   *array.FixedSizeBinary

	// Anything else (arrays, the double tuples) goes through an appender
	// into scratch; ends[r] is where row lo+r's bytes end in it.
	app     appender
	scratch []byte
	ends    []int // encodeBlock long, for appender columns only
}

func (c *colEncoder) init(f schema.Field, arr arrow.Array) {
	num := protowire.Number(f.Number)
	c.kind = f.Type
	if arr.NullN() > 0 {
		c.nullBits, c.nullOff = arr.NullBitmapBytes(), arr.Data().Offset()
	}
	if f.Array {
		c.kind = kindAppender
		c.app = newAppender(f, arr)
		c.ends = make([]int, encodeBlock)
		return
	}
	switch f.Type {
	case schema.String:
		a := arr.(*array.String)
		c.offs, c.data = a.ValueOffsets(), a.ValueBytes()
		c.tag = protowire.AppendTag(nil, num, protowire.BytesType)
	case schema.Bytes, schema.Geometry:
		a := arr.(*array.Binary)
		c.offs, c.data = a.ValueOffsets(), a.ValueBytes()
		c.tag = protowire.AppendTag(nil, num, protowire.BytesType)
	case schema.Int64:
		// Two's complement: the same varint as uint64.
		c.u64 = arrow.Uint64Traits.CastFromBytes(arrow.Int64Traits.CastToBytes(arr.(*array.Int64).Int64Values()))
		c.tag = protowire.AppendTag(nil, num, protowire.VarintType)
	case schema.Uint64:
		c.u64 = arr.(*array.Uint64).Uint64Values()
		c.tag = protowire.AppendTag(nil, num, protowire.VarintType)
	case schema.Float64:
		c.f64 = arr.(*array.Float64).Float64Values()
		c.tag = protowire.AppendTag(nil, num, protowire.Fixed64Type)
	case schema.Bool:
		c.bools = arr.(*array.Boolean)
		c.tag = protowire.AppendTag(nil, num, protowire.VarintType)
	case schema.Timestamp:
		c.i64 = arrow.Int64Traits.CastFromBytes(arrow.TimestampTraits.CastToBytes(arr.(*array.Timestamp).TimestampValues()))
		c.tag = protowire.AppendTag(nil, num, protowire.BytesType)
	case schema.Duration:
		c.i64 = arrow.Int64Traits.CastFromBytes(arrow.DurationTraits.CastToBytes(arr.(*array.Duration).DurationValues()))
		c.tag = protowire.AppendTag(nil, num, protowire.BytesType)
	case schema.UUID:
		c.fsb = arr.(*array.FixedSizeBinary)
		c.tag = protowire.AppendTag(nil, num, protowire.BytesType)
	default:
		c.kind = kindAppender
		c.app = newAppender(f, arr)
		c.ends = make([]int, encodeBlock)
	}
}

func (c *colEncoder) null(row int) bool {
	if c.nullBits == nil {
		return false
	}
	i := c.nullOff + row
	return c.nullBits[i>>3]&(1<<(i&7)) == 0
}

// secondsNanosSize is the length of a Timestamp or Duration message.
func secondsNanosSize(s int64, n int32) int {
	size := 0
	if s != 0 {
		size += 1 + protowire.SizeVarint(uint64(s))
	}
	if n != 0 {
		size += 1 + protowire.SizeVarint(uint64(int64(n)))
	}
	return size
}

// bound returns at most how many bytes put writes for rows lo..hi-1. An
// appender column (arrays, the double tuples) is encoded here into
// scratch, exactly, and put copies it.
func (c *colEncoder) bound(lo, hi int) int {
	k := hi - lo
	t := len(c.tag)
	switch c.kind {
	case schema.String, schema.Bytes:
		// Value offsets are int32: a length takes at most 5 bytes.
		return k*(t+5) + int(c.offs[hi]-c.offs[lo])
	case schema.Geometry:
		return k*(t+5+1+5) + int(c.offs[hi]-c.offs[lo])
	case schema.Int64, schema.Uint64:
		return k * (t + binary.MaxVarintLen64)
	case schema.Float64:
		return k * (t + 8)
	case schema.Bool:
		return k * (t + 1)
	case schema.UUID:
		return k * (t + 1 + 1 + binary.MaxVarintLen64 + c.fsb.DataType().(*arrow.FixedSizeBinaryType).ByteWidth)
	case schema.Timestamp, schema.Duration:
		// Length byte, then two tags and varints: at most 1+11+1+10.
		return k * (t + 23)
	}
	b := c.scratch[:0]
	for r := range k {
		b = c.app(b, lo+r)
		c.ends[r] = len(b)
	}
	c.scratch = b
	return len(b)
}

// put writes the field of row (in the block starting at lo) at b[p:],
// which bound has made room for, and returns the position after it. The
// row loop in Encode writes strings, bytes, integers, timestamps and
// geometries itself; put does the rest.
func (c *colEncoder) put(b []byte, p, row, lo int) int {
	if c.null(row) {
		return p
	}
	switch c.kind {
	case schema.Float64:
		p = putTag(b, p, c.tag)
		return putFixed64(b, p, math.Float64bits(c.f64[row]))
	case schema.Bool:
		p = putTag(b, p, c.tag)
		b[p] = byte(protowire.EncodeBool(c.bools.Value(row)))
		return p + 1
	case schema.UUID:
		p = putTag(b, p, c.tag)
		v := c.fsb.Value(row)
		if len(v) == 0 {
			b[p] = 0
			return p + 1
		}
		p = putVarint(b, p, uint64(1+protowire.SizeBytes(len(v))))
		b[p] = 1<<3 | byte(protowire.BytesType)
		p = putVarint(b, p+1, uint64(len(v)))
		return p + copy(b[p:], v)
	case schema.Duration:
		s, n := splitDuration(c.i64[row])
		p = putTag(b, p, c.tag)
		return putSecondsNanos(b, p, s, n)
	}
	r := row - lo
	from := 0
	if r > 0 {
		from = c.ends[r-1]
	}
	return p + copy(b[p:], c.scratch[from:c.ends[r]])
}

// appender appends one row's field (nothing when null) to b.
type appender func(b []byte, row int) []byte

// newAppender is the per-row path, for arrays, the well-known tuple types
// and the elements of repeated fields that are not packed. Scalar int64,
// uint64, float64 and bool values never come here: scalars go through the
// column encoder and arrays of them are packed (packedScalar).
func newAppender(f schema.Field, arr arrow.Array) appender {
	num := protowire.Number(f.Number)
	if f.Array {
		return listAppender(f, num, arr.(*array.List))
	}
	switch f.Type {
	case schema.String:
		a := arr.(*array.String)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			b = protowire.AppendTag(b, num, protowire.BytesType)
			return protowire.AppendString(b, a.Value(row))
		}
	case schema.Bytes:
		a := arr.(*array.Binary)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			b = protowire.AppendTag(b, num, protowire.BytesType)
			return protowire.AppendBytes(b, a.Value(row))
		}
	case schema.Geometry:
		a := arr.(*array.Binary)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			return appendBytesMessage(b, num, a.Value(row))
		}
	case schema.UUID:
		a := arr.(*array.FixedSizeBinary)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			return appendBytesMessage(b, num, a.Value(row))
		}
	case schema.Timestamp:
		a := arr.(*array.Timestamp)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			s, n := splitTimestamp(int64(a.Value(row)))
			return appendSecondsNanos(b, num, s, n)
		}
	case schema.Duration:
		a := arr.(*array.Duration)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			s, n := splitDuration(int64(a.Value(row)))
			return appendSecondsNanos(b, num, s, n)
		}
	case schema.Vec3, schema.Quaternion, schema.LatLon, schema.LatLonAlt:
		a := arr.(*array.Struct)
		kids := structChildren(a)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			return appendDoublesMessage(b, num, kids, row)
		}
	}
	panic(fmt.Sprintf("convert: no encoder for %v", f.Type))
}

func structChildren(a *array.Struct) []*array.Float64 {
	kids := make([]*array.Float64, a.NumField())
	for i := range kids {
		kids[i] = a.Field(i).(*array.Float64)
	}
	return kids
}

func listAppender(f schema.Field, num protowire.Number, l *array.List) appender {
	vals := l.ListValues()
	offs := l.Offsets()
	off := l.Data().Offset()
	bounds := func(row int) (int, int) {
		return int(offs[off+row]), int(offs[off+row+1])
	}
	switch f.Type {
	case schema.Int64, schema.Uint64, schema.Bool, schema.Float64:
		size, put := packedScalar(f.Type, vals)
		return func(b []byte, row int) []byte {
			if l.IsNull(row) {
				return b
			}
			lo, hi := bounds(row)
			n := 0
			for i := lo; i < hi; i++ {
				if vals.IsValid(i) {
					n += size(i)
				}
			}
			if n == 0 { // empty, or only nulls: nothing on the wire
				return b
			}
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(n))
			for i := lo; i < hi; i++ {
				if vals.IsValid(i) {
					b = put(b, i)
				}
			}
			return b
		}
	}
	// Everything else repeats the field's tag once per element.
	elem := newAppender(schema.Field{Name: f.Name, Type: f.Type, Number: f.Number}, vals)
	return func(b []byte, row int) []byte {
		if l.IsNull(row) {
			return b
		}
		lo, hi := bounds(row)
		for i := lo; i < hi; i++ {
			// A null element has no wire form; skip it like padding.
			if vals.IsValid(i) {
				b = elem(b, i)
			}
		}
		return b
	}
}

func packedScalar(t schema.Type, vals arrow.Array) (size func(int) int, put func([]byte, int) []byte) {
	switch t {
	case schema.Int64:
		a := vals.(*array.Int64)
		return func(i int) int { return protowire.SizeVarint(uint64(a.Value(i))) },
			func(b []byte, i int) []byte { return protowire.AppendVarint(b, uint64(a.Value(i))) }
	case schema.Uint64:
		a := vals.(*array.Uint64)
		return func(i int) int { return protowire.SizeVarint(a.Value(i)) },
			func(b []byte, i int) []byte { return protowire.AppendVarint(b, a.Value(i)) }
	case schema.Bool:
		a := vals.(*array.Boolean)
		return func(int) int { return 1 },
			func(b []byte, i int) []byte { return protowire.AppendVarint(b, protowire.EncodeBool(a.Value(i))) }
	default:
		a := vals.(*array.Float64)
		return func(int) int { return 8 },
			func(b []byte, i int) []byte { return protowire.AppendFixed64(b, math.Float64bits(a.Value(i))) }
	}
}

// appendBytesMessage appends a message whose only field 1 holds v
// (datasets.v1.UUID, datasets.v1.Geometry); empty v means an empty message.
func appendBytesMessage(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	if len(v) == 0 {
		return append(b, 0)
	}
	b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(len(v))))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendSecondsNanos appends a google.protobuf.Timestamp or Duration.
func appendSecondsNanos(b []byte, num protowire.Number, s int64, n int32) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(secondsNanosSize(s, n)))
	if s != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(s))
	}
	if n != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(n)))
	}
	return b
}

// appendDoublesMessage appends Vec3, Quaternion, LatLon or LatLonAlt: their
// doubles have implicit presence, so zeros (but not -0) are left out.
func appendDoublesMessage(b []byte, num protowire.Number, kids []*array.Float64, row int) []byte {
	size := 0
	for _, k := range kids {
		if k.IsValid(row) && math.Float64bits(k.Value(row)) != 0 {
			size += 9
		}
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	for i, k := range kids {
		if k.IsValid(row) {
			if bits := math.Float64bits(k.Value(row)); bits != 0 {
				b = protowire.AppendTag(b, protowire.Number(i+1), protowire.Fixed64Type)
				b = protowire.AppendFixed64(b, bits)
			}
		}
	}
	return b
}

// splitTimestamp splits unix nanoseconds into a Timestamp's seconds and
// non-negative nanos.
func splitTimestamp(ns int64) (int64, int32) {
	if ns >= 0 { // unsigned division by a constant is a multiply and a shift
		s := int64(uint64(ns) / 1e9)
		return s, int32(ns - s*1e9)
	}
	s := floorDiv(ns, 1e9)
	return s, int32(ns - s*1e9)
}

// splitDuration splits nanoseconds into a Duration's seconds and nanos,
// which carry the same sign.
func splitDuration(ns int64) (int64, int32) {
	return ns / 1e9, int32(ns % 1e9)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if q*b > a { // truncated toward zero from below
		q--
	}
	return q
}
