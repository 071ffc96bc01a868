package convert

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/granaryhq/granary/schema"
)

// Decoder appends datapoints, given as encoded bytes, as rows of canonical
// Arrow columns (schema.ArrowType): the inverse of Encoder. Encoding a
// decoded record gives back the same canonical bytes and IDs.
//
// It reads canonical bytes (fields in number order, as Encoder and the
// store write them) and full datapoints as the API returns them (id and
// ingestion_time spliced in after time) with one scan per row; bytes in
// any other valid protobuf form are normalised through a dynamic message
// first. Values the wire cannot tell from absent decode as the Encoder
// would have written them: an absent array is an empty list, a member of
// vec3 & co. that is absent is 0.
type Decoder struct {
	ds   *schema.Dataset
	sc   *arrow.Schema
	mem  memory.Allocator
	rb   *array.RecordBuilder
	cols []decCol // in field-number order
	md   protoreflect.MessageDescriptor
	n    int
}

type decCol struct {
	field schema.Field
	num   protowire.Number
	b     array.Builder
	// set appends one value (or, for arrays, one element, or a packed run
	// of elements) read from the wire.
	set func(typ protowire.Type, v []byte) (int, error)
}

// NewDecoder decodes datapoints of ds into records with the canonical
// columns of the named fields, in the dataset's field order (every field
// when none are named). mem may be nil.
func NewDecoder(ds *schema.Dataset, mem memory.Allocator, fields ...string) (*Decoder, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	want := map[string]bool{}
	for _, f := range fields {
		if _, ok := ds.Field(f); !ok {
			return nil, fmt.Errorf("decode: dataset %s has no field %q", ds.Slug(), f)
		}
		want[f] = true
	}
	var fs []arrow.Field
	var sel []schema.Field
	for _, f := range ds.Fields {
		if len(want) > 0 && !want[f.Name] {
			continue
		}
		fs = append(fs, arrow.Field{Name: f.Name, Type: schema.ArrowType(f), Nullable: true})
		sel = append(sel, f)
	}
	d := &Decoder{ds: ds, mem: mem, sc: arrow.NewSchema(fs, nil)}
	d.rb = array.NewRecordBuilder(mem, d.sc)
	for i, f := range sel {
		c := decCol{field: f, num: protowire.Number(f.Number), b: d.rb.Field(i)}
		c.set = setter(f, c.b)
		d.cols = append(d.cols, c)
	}
	// Decoding relies on increasing field numbers; ds.Fields has them.
	for i := 1; i < len(d.cols); i++ {
		if d.cols[i].num <= d.cols[i-1].num {
			return nil, fmt.Errorf("decode: fields of %s are not in field-number order", ds.Slug())
		}
	}
	return d, nil
}

// Schema is the schema of the records NewRecordBatch returns.
func (d *Decoder) Schema() *arrow.Schema { return d.sc }

// Len is the number of rows appended since the last NewRecordBatch.
func (d *Decoder) Len() int { return d.n }

// NewRecordBatch returns the rows appended so far and starts afresh.
func (d *Decoder) NewRecordBatch() arrow.RecordBatch {
	d.n = 0
	return d.rb.NewRecordBatch()
}

// Release frees the builders.
func (d *Decoder) Release() { d.rb.Release() }

// Append decodes one datapoint into a new row. After an error the rows
// appended since the last NewRecordBatch are dropped.
func (d *Decoder) Append(b []byte) error {
	if !inOrder(b, d.ds) {
		nb, err := d.normalise(b)
		if err != nil {
			d.drop()
			return err
		}
		b = nb
	}
	if err := d.appendOrdered(b); err != nil {
		d.drop()
		return err
	}
	d.n++
	return nil
}

// drop discards the pending rows, whose columns may have different lengths.
func (d *Decoder) drop() {
	d.rb.Release()
	d.rb = array.NewRecordBuilder(d.mem, d.sc)
	for i := range d.cols {
		d.cols[i].b = d.rb.Field(i)
		d.cols[i].set = setter(d.cols[i].field, d.cols[i].b)
	}
	d.n = 0
}

// inOrder reports whether b is well-formed with fields in number order,
// each scalar field at most once.
func inOrder(b []byte, ds *schema.Dataset) bool {
	var last protowire.Number
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		if num < last {
			return false
		}
		if num == last && !isArrayNum(ds, num) {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return false
		}
		last, b = num, b[n+m:]
	}
	return true
}

func isArrayNum(ds *schema.Dataset, num protowire.Number) bool {
	for _, f := range ds.Fields {
		if protowire.Number(f.Number) == num {
			return f.Array
		}
	}
	return false
}

// normalise re-marshals b deterministically, which orders its fields.
func (d *Decoder) normalise(b []byte) ([]byte, error) {
	if d.md == nil {
		md, err := d.ds.MessageDescriptor()
		if err != nil {
			return nil, err
		}
		d.md = md
	}
	m := dynamicpb.NewMessage(d.md)
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decode: not a %s datapoint: %w", d.md.FullName(), err)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

func (d *Decoder) appendOrdered(b []byte) error {
	k := 0           // the next column without a value in this row
	touched := false // whether cols[k] got a value (arrays: elements) already
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		for k < len(d.cols) && d.cols[k].num < num {
			if !touched {
				d.cols[k].empty()
			}
			k, touched = k+1, false
		}
		if k < len(d.cols) && d.cols[k].num == num {
			c := &d.cols[k]
			if c.field.Array && !touched {
				c.b.(*array.ListBuilder).Append(true)
			}
			m, err := c.set(typ, b)
			if err != nil {
				return fmt.Errorf("decode field %q: %w", c.field.Name, err)
			}
			touched = true
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b) // a field not selected
		b = b[m:]
	}
	for ; k < len(d.cols); k, touched = k+1, false {
		if !touched {
			d.cols[k].empty()
		}
	}
	return nil
}

// empty appends what an absent field decodes to: null, or an empty list.
func (c *decCol) empty() {
	if c.field.Array {
		c.b.(*array.ListBuilder).Append(true)
		return
	}
	c.b.AppendNull()
}

var errWireType = errors.New("unexpected wire type")

// setter returns the function that appends one wire value of f to b.
func setter(f schema.Field, b array.Builder) func(protowire.Type, []byte) (int, error) {
	if f.Array {
		lb := b.(*array.ListBuilder)
		elem := scalarSetter(f.Type, lb.ValueBuilder())
		if !packed(f.Type) {
			return elem
		}
		return func(typ protowire.Type, v []byte) (int, error) {
			if typ != protowire.BytesType {
				return elem(typ, v) // an unpacked element
			}
			run, n := protowire.ConsumeBytes(v)
			if n < 0 {
				return 0, protowire.ParseError(n)
			}
			wt := protowire.VarintType
			if f.Type == schema.Float64 {
				wt = protowire.Fixed64Type
			}
			for len(run) > 0 {
				m, err := elem(wt, run)
				if err != nil {
					return 0, err
				}
				run = run[m:]
			}
			return n, nil
		}
	}
	return scalarSetter(f.Type, b)
}

func scalarSetter(t schema.Type, b array.Builder) func(protowire.Type, []byte) (int, error) {
	varint := func(typ protowire.Type, v []byte) (uint64, int, error) {
		if typ != protowire.VarintType {
			return 0, 0, errWireType
		}
		x, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return 0, 0, protowire.ParseError(n)
		}
		return x, n, nil
	}
	bytesOf := func(typ protowire.Type, v []byte) ([]byte, int, error) {
		if typ != protowire.BytesType {
			return nil, 0, errWireType
		}
		x, n := protowire.ConsumeBytes(v)
		if n < 0 {
			return nil, 0, protowire.ParseError(n)
		}
		return x, n, nil
	}
	switch t {
	case schema.String:
		sb := b.(*array.StringBuilder)
		return func(typ protowire.Type, v []byte) (int, error) {
			x, n, err := bytesOf(typ, v)
			if err == nil {
				sb.BinaryBuilder.Append(x)
			}
			return n, err
		}
	case schema.Int64:
		ib := b.(*array.Int64Builder)
		return func(typ protowire.Type, v []byte) (int, error) {
			x, n, err := varint(typ, v)
			if err == nil {
				ib.Append(int64(x))
			}
			return n, err
		}
	case schema.Uint64:
		ub := b.(*array.Uint64Builder)
		return func(typ protowire.Type, v []byte) (int, error) {
			x, n, err := varint(typ, v)
			if err == nil {
				ub.Append(x)
			}
			return n, err
		}
	case schema.Bool:
		bb := b.(*array.BooleanBuilder)
		return func(typ protowire.Type, v []byte) (int, error) {
			x, n, err := varint(typ, v)
			if err == nil {
				bb.Append(x != 0)
			}
			return n, err
		}
	case schema.Float64:
		fb := b.(*array.Float64Builder)
		return func(typ protowire.Type, v []byte) (int, error) {
			if typ != protowire.Fixed64Type {
				return 0, errWireType
			}
			x, n := protowire.ConsumeFixed64(v)
			if n < 0 {
				return 0, protowire.ParseError(n)
			}
			fb.Append(math.Float64frombits(x))
			return n, nil
		}
	case schema.Bytes:
		bb := b.(*array.BinaryBuilder)
		return func(typ protowire.Type, v []byte) (int, error) {
			x, n, err := bytesOf(typ, v)
			if err == nil {
				bb.Append(x)
			}
			return n, err
		}
	case schema.Geometry:
		bb := b.(*array.BinaryBuilder)
		return func(typ protowire.Type, v []byte) (int, error) {
			x, n, err := bytesOf(typ, v)
			if err != nil {
				return 0, err
			}
			inner, err := innerBytes(x)
			if err != nil {
				return 0, err
			}
			bb.Append(inner)
			return n, nil
		}
	case schema.UUID:
		fb := b.(*array.FixedSizeBinaryBuilder)
		return func(typ protowire.Type, v []byte) (int, error) {
			x, n, err := bytesOf(typ, v)
			if err != nil {
				return 0, err
			}
			inner, err := innerBytes(x)
			if err != nil {
				return 0, err
			}
			if len(inner) != 16 {
				return 0, fmt.Errorf("a uuid of %d bytes, want 16", len(inner))
			}
			fb.Append(inner)
			return n, nil
		}
	case schema.Timestamp, schema.Duration:
		signed := t == schema.Duration
		var put func(int64)
		if signed {
			db := b.(*array.DurationBuilder)
			put = func(ns int64) { db.Append(arrow.Duration(ns)) }
		} else {
			tb := b.(*array.TimestampBuilder)
			put = func(ns int64) { tb.Append(arrow.Timestamp(ns)) }
		}
		return func(typ protowire.Type, v []byte) (int, error) {
			x, n, err := bytesOf(typ, v)
			if err != nil {
				return 0, err
			}
			s, ns, err := readSecondsNanos(x)
			if err != nil {
				return 0, err
			}
			total, ok := nanosOf(s, ns)
			if !ok {
				return 0, fmt.Errorf("%s %ds %dns is beyond int64 nanoseconds (years 1678 to 2261)", t, s, ns)
			}
			put(total)
			return n, nil
		}
	case schema.Vec3, schema.Quaternion, schema.LatLon, schema.LatLonAlt:
		sb := b.(*array.StructBuilder)
		kids := make([]*array.Float64Builder, sb.NumField())
		for i := range kids {
			kids[i] = sb.FieldBuilder(i).(*array.Float64Builder)
		}
		vals := make([]float64, len(kids))
		return func(typ protowire.Type, v []byte) (int, error) {
			x, n, err := bytesOf(typ, v)
			if err != nil {
				return 0, err
			}
			clear(vals)
			for len(x) > 0 {
				num, wt, k := protowire.ConsumeTag(x)
				if k < 0 {
					return 0, protowire.ParseError(k)
				}
				x = x[k:]
				if wt != protowire.Fixed64Type || num < 1 || int(num) > len(vals) {
					m := protowire.ConsumeFieldValue(num, wt, x)
					if m < 0 {
						return 0, protowire.ParseError(m)
					}
					x = x[m:]
					continue
				}
				f, m := protowire.ConsumeFixed64(x)
				if m < 0 {
					return 0, protowire.ParseError(m)
				}
				vals[num-1] = math.Float64frombits(f)
				x = x[m:]
			}
			sb.Append(true)
			for i, k := range kids {
				k.Append(vals[i])
			}
			return n, nil
		}
	}
	panic(fmt.Sprintf("convert: no decoder for %v", t))
}

// innerBytes reads field 1 of a UUID or Geometry message (empty if unset).
func innerBytes(x []byte) ([]byte, error) {
	var out []byte
	for len(x) > 0 {
		num, wt, k := protowire.ConsumeTag(x)
		if k < 0 {
			return nil, protowire.ParseError(k)
		}
		x = x[k:]
		if num == 1 && wt == protowire.BytesType {
			v, m := protowire.ConsumeBytes(x)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			out, x = v, x[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, wt, x)
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		x = x[m:]
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// readSecondsNanos reads a Timestamp or Duration body.
func readSecondsNanos(x []byte) (int64, int64, error) {
	var s, ns int64
	for len(x) > 0 {
		num, wt, k := protowire.ConsumeTag(x)
		if k < 0 {
			return 0, 0, protowire.ParseError(k)
		}
		x = x[k:]
		if wt == protowire.VarintType && (num == 1 || num == 2) {
			v, m := protowire.ConsumeVarint(x)
			if m < 0 {
				return 0, 0, protowire.ParseError(m)
			}
			if num == 1 {
				s = int64(v)
			} else {
				ns = int64(int32(v))
			}
			x = x[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, wt, x)
		if m < 0 {
			return 0, 0, protowire.ParseError(m)
		}
		x = x[m:]
	}
	return s, ns, nil
}

// nanosOf is s·1e9 + ns, reporting overflow.
func nanosOf(s, ns int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(abs(s)), 1e9)
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	p := int64(lo)
	if s < 0 {
		p = -p
	}
	r := p + ns
	if (ns > 0 && r < p) || (ns < 0 && r > p) {
		return 0, false
	}
	return r, true
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// IDOf returns the id field of full datapoint bytes as the API returns them.
func IDOf(b []byte) ([16]byte, bool) {
	var id [16]byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return id, false
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return id, false
		}
		if num == schema.NumberID && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			inner, err := innerBytes(v)
			if err != nil || len(inner) != 16 {
				return id, false
			}
			copy(id[:], inner)
			return id, true
		}
		b = b[m:]
	}
	return id, false
}
