package convert

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/granaryhq/granary/schema"
)

// Canonicalizer checks datapoint bytes that arrive from a client against a
// dataset's message type and returns their canonical form (deterministic
// encoding without id and ingestion_time), from which the ID follows.
//
// Bytes that are already canonical — what our encoder and protobuf-go's
// deterministic marshalling write — are recognised by one scan without
// decoding them into a message; anything else is decoded and re-marshalled,
// so a client that orders fields differently still gets the same ID.
type Canonicalizer struct {
	md     protoreflect.MessageDescriptor
	fields map[protowire.Number]schema.Field
}

// NewCanonicalizer prepares checks for dataset ds with message type md.
func NewCanonicalizer(ds *schema.Dataset, md protoreflect.MessageDescriptor) *Canonicalizer {
	c := &Canonicalizer{md: md, fields: make(map[protowire.Number]schema.Field, len(ds.Fields))}
	for _, f := range ds.Fields {
		c.fields[protowire.Number(f.Number)] = f
	}
	return c
}

// Canonical returns the canonical bytes of value and its time in unix
// milliseconds. The result may alias value.
func (c *Canonicalizer) Canonical(value []byte) ([]byte, int64, error) {
	if millis, ok := c.scan(value); ok {
		return value, millis, nil
	}
	return c.slow(value)
}

// scan reports whether value is canonical, and its time.
func (c *Canonicalizer) scan(b []byte) (int64, bool) {
	var last protowire.Number
	var millis int64 = -1
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || n != protowire.SizeTag(num) {
			return 0, false
		}
		f, known := c.fields[num]
		if !known || num == schema.NumberID || num == schema.NumberIngestionTime {
			return 0, false
		}
		if num < last || (num == last && (!f.Array || packed(f.Type))) {
			return 0, false
		}
		last = num
		b = b[n:]
		var ok bool
		if num == schema.NumberTime {
			if typ != protowire.BytesType {
				return 0, false
			}
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return 0, false
			}
			s, ns, valid := secondsNanos(v, false)
			if !valid || s < 0 {
				return 0, false
			}
			millis = TimeMillis(s, ns)
			b = b[m:]
			continue
		}
		if b, ok = scanValue(f, typ, b); !ok {
			return 0, false
		}
	}
	return millis, millis >= 0
}

func packed(t schema.Type) bool {
	switch t {
	case schema.Int64, schema.Uint64, schema.Float64, schema.Bool:
		return true
	}
	return false
}

// scanValue checks one canonical value of f and returns the rest of b.
func scanValue(f schema.Field, typ protowire.Type, b []byte) ([]byte, bool) {
	if f.Array && packed(f.Type) {
		if typ != protowire.BytesType {
			return nil, false
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 || len(v) == 0 {
			return nil, false
		}
		for len(v) > 0 {
			var ok bool
			if v, ok = scanScalar(f.Type, v); !ok {
				return nil, false
			}
		}
		return b[n:], true
	}
	switch f.Type {
	case schema.Int64, schema.Uint64, schema.Bool:
		if typ != protowire.VarintType {
			return nil, false
		}
		return scanScalar(f.Type, b)
	case schema.Float64:
		if typ != protowire.Fixed64Type {
			return nil, false
		}
		return scanScalar(f.Type, b)
	}
	if typ != protowire.BytesType {
		return nil, false
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 || n != protowire.SizeBytes(len(v)) {
		return nil, false
	}
	switch f.Type {
	case schema.String:
		if !utf8.Valid(v) {
			return nil, false
		}
	case schema.Bytes:
	case schema.Timestamp:
		if _, _, ok := secondsNanos(v, false); !ok {
			return nil, false
		}
	case schema.Duration:
		if _, _, ok := secondsNanos(v, true); !ok {
			return nil, false
		}
	case schema.UUID, schema.Geometry:
		if len(v) > 0 {
			num, t, m := protowire.ConsumeTag(v)
			if m != 1 || num != 1 || t != protowire.BytesType {
				return nil, false
			}
			inner, k := protowire.ConsumeBytes(v[1:])
			if k < 0 || 1+k != len(v) || len(inner) == 0 || k != protowire.SizeBytes(len(inner)) {
				return nil, false
			}
		}
	case schema.Vec3, schema.Quaternion, schema.LatLon, schema.LatLonAlt:
		var last protowire.Number
		members := protowire.Number(len(schema.StructFields(f.Type)))
		for len(v) > 0 {
			num, t, m := protowire.ConsumeTag(v)
			if m != 1 || t != protowire.Fixed64Type || num <= last || num > members {
				return nil, false
			}
			x, k := protowire.ConsumeFixed64(v[1:])
			if k < 0 || x == 0 {
				return nil, false
			}
			last, v = num, v[1+k:]
		}
	default:
		return nil, false
	}
	return b[n:], true
}

func scanScalar(t schema.Type, b []byte) ([]byte, bool) {
	if t == schema.Float64 {
		_, n := protowire.ConsumeFixed64(b)
		if n < 0 {
			return nil, false
		}
		return b[n:], true
	}
	x, n := protowire.ConsumeVarint(b)
	if n < 0 || n != protowire.SizeVarint(x) || (t == schema.Bool && x > 1) {
		return nil, false
	}
	return b[n:], true
}

// secondsNanos decodes a canonical Timestamp (or Duration, signed) body.
func secondsNanos(b []byte, signed bool) (int64, int32, bool) {
	var s int64
	var ns int64
	var last protowire.Number
	for len(b) > 0 {
		num, t, m := protowire.ConsumeTag(b)
		if m != 1 || t != protowire.VarintType || num <= last || num > 2 {
			return 0, 0, false
		}
		x, k := protowire.ConsumeVarint(b[1:])
		if k < 0 || k != protowire.SizeVarint(x) || x == 0 {
			return 0, 0, false
		}
		if num == 1 {
			s = int64(x)
		} else {
			ns = int64(int32(x))
			if int64(x) != ns {
				return 0, 0, false
			}
		}
		last, b = num, b[1+k:]
	}
	if signed {
		if ns <= -1e9 || ns >= 1e9 || (s > 0 && ns < 0) || (s < 0 && ns > 0) {
			return 0, 0, false
		}
	} else if ns < 0 || ns >= 1e9 {
		return 0, 0, false
	}
	return s, int32(ns), true
}

// slow decodes value as a dynamic message and re-marshals it canonically.
func (c *Canonicalizer) slow(value []byte) ([]byte, int64, error) {
	m := dynamicpb.NewMessage(c.md)
	if err := (proto.UnmarshalOptions{}).Unmarshal(value, m); err != nil {
		return nil, 0, fmt.Errorf("not a %s datapoint: %w", c.md.FullName(), err)
	}
	if len(m.GetUnknown()) > 0 {
		num, _, _ := protowire.ConsumeTag(m.GetUnknown())
		return nil, 0, fmt.Errorf("unknown field number %d for %s", num, c.md.FullName())
	}
	return Canonical(m)
}

// ErrNoTime is returned for a datapoint without time.
var ErrNoTime = errors.New("datapoint has no time")

// Canonical returns the canonical bytes of a datapoint message and its time
// in unix milliseconds. m is not modified.
func Canonical(m proto.Message) ([]byte, int64, error) {
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	tf := fields.ByNumber(schema.NumberTime)
	if tf == nil || !r.Has(tf) {
		return nil, 0, ErrNoTime
	}
	if idf, itf := fields.ByNumber(schema.NumberID), fields.ByNumber(schema.NumberIngestionTime); (idf != nil && r.Has(idf)) || (itf != nil && r.Has(itf)) {
		m = proto.Clone(m)
		r = m.ProtoReflect()
		if idf != nil {
			r.Clear(idf)
		}
		if itf != nil {
			r.Clear(itf)
		}
	}
	ts := r.Get(tf).Message()
	s := ts.Get(ts.Descriptor().Fields().ByNumber(1)).Int()
	ns := ts.Get(ts.Descriptor().Fields().ByNumber(2)).Int()
	if ns < 0 || ns >= 1e9 {
		return nil, 0, fmt.Errorf("time has invalid nanos %d", ns)
	}
	if s < 0 {
		return nil, 0, fmt.Errorf("%w: %s is before 1970-01-01", ErrTimeRange, time.Unix(s, ns).UTC().Format(time.RFC3339Nano))
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, 0, err
	}
	return b, TimeMillis(s, int32(ns)), nil
}

// Splice returns the full datapoint: canonical bytes with the id and
// ingestion_time fields put after the time field (which comes first), so
// the result stays in field-number order. With skipData the fields after
// time are left out.
func Splice(dst, canonical []byte, id [16]byte, ingested time.Time, skipData bool) []byte {
	head := 0
	if num, typ, n := protowire.ConsumeTag(canonical); n > 0 && num == schema.NumberTime {
		if m := protowire.ConsumeFieldValue(num, typ, canonical[n:]); m > 0 {
			head = n + m
		}
	}
	dst = append(dst, canonical[:head]...)
	dst = appendBytesMessage(dst, schema.NumberID, id[:])
	if !ingested.IsZero() {
		ns := ingested.UnixNano()
		s, n := splitTimestamp(ns)
		dst = appendSecondsNanos(dst, schema.NumberIngestionTime, s, n)
	}
	if !skipData {
		dst = append(dst, canonical[head:]...)
	}
	return dst
}

// TimeOf returns the time field of canonical (or full) datapoint bytes.
func TimeOf(b []byte) (time.Time, bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != schema.NumberTime || typ != protowire.BytesType {
		return time.Time{}, false
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 {
		return time.Time{}, false
	}
	var s, ns int64
	for len(v) > 0 {
		num, t, k := protowire.ConsumeTag(v)
		if k < 0 || t != protowire.VarintType {
			return time.Time{}, false
		}
		x, j := protowire.ConsumeVarint(v[k:])
		if j < 0 {
			return time.Time{}, false
		}
		switch num {
		case 1:
			s = int64(x)
		case 2:
			ns = int64(int32(x))
		}
		v = v[k+j:]
	}
	return time.Unix(s, ns).UTC(), true
}
