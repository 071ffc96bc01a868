package convert

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
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
// (see schema.ArrowType) into a caller's buffer, with no per-row messages.
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
func (e *Encoder) Encode(rec arrow.RecordBatch, buf []byte, dps []store.Datapoint) ([]byte, []store.Datapoint, error) {
	n := int(rec.NumRows())
	cols := make([]appender, len(e.columns))
	for i, c := range e.columns {
		cols[i] = newAppender(c.field, rec.Column(c.index))
	}
	times := rec.Column(e.columns[e.timeCol].index).(*array.Timestamp)
	starts := make([]int, n)
	for row := 0; row < n; row++ {
		if times.IsNull(row) {
			return buf, dps, &RowError{Row: row, Field: schema.FieldTime, Err: fmt.Errorf("time is missing; every datapoint needs one")}
		}
		starts[row] = len(buf)
		for _, c := range cols {
			buf = c(buf, row)
		}
	}
	// Slice after appending: buf may have moved while it grew.
	for row := 0; row < n; row++ {
		end := len(buf)
		if row+1 < n {
			end = starts[row+1]
		}
		data := buf[starts[row]:end:end]
		ns := int64(times.Value(row))
		id, err := ID(floorDiv(ns, 1e6), data)
		if err != nil {
			return buf, dps, &RowError{Row: row, Field: schema.FieldTime, Err: err}
		}
		dps = append(dps, store.Datapoint{ID: id, Data: data})
	}
	return buf, dps, nil
}

// appender appends one row's field (nothing when null) to b.
type appender func(b []byte, row int) []byte

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
	case schema.Int64:
		a := arr.(*array.Int64)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			b = protowire.AppendTag(b, num, protowire.VarintType)
			return protowire.AppendVarint(b, uint64(a.Value(row)))
		}
	case schema.Uint64:
		a := arr.(*array.Uint64)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			b = protowire.AppendTag(b, num, protowire.VarintType)
			return protowire.AppendVarint(b, a.Value(row))
		}
	case schema.Float64:
		a := arr.(*array.Float64)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			b = protowire.AppendTag(b, num, protowire.Fixed64Type)
			return protowire.AppendFixed64(b, math.Float64bits(a.Value(row)))
		}
	case schema.Bool:
		a := arr.(*array.Boolean)
		return func(b []byte, row int) []byte {
			if a.IsNull(row) {
				return b
			}
			b = protowire.AppendTag(b, num, protowire.VarintType)
			return protowire.AppendVarint(b, protowire.EncodeBool(a.Value(row)))
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
	size := 0
	if s != 0 {
		size += 1 + protowire.SizeVarint(uint64(s))
	}
	if n != 0 {
		size += 1 + protowire.SizeVarint(uint64(int64(n)))
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
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
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
