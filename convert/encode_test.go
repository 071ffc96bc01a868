package convert

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/granaryhq/granary/schema"
)

// everyType is a dataset with one scalar and one array field of each type.
func everyType(t testing.TB) *schema.Dataset {
	t.Helper()
	var fields []schema.Field
	for _, typ := range schema.Types() {
		fields = append(fields, schema.Field{Name: "f_" + typ.String(), Type: typ})
		fields = append(fields, schema.Field{Name: "a_" + typ.String(), Type: typ, Array: true})
	}
	ds, err := schema.New("test", "every_type", "Every type", schema.SpatioTemporal, fields)
	if err != nil {
		t.Fatal(err)
	}
	ds.GroupID = uuid.MustParse("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	return ds
}

// nullOneIn is the odds (one in) of a null value in randomRecord; 0 for none.
var nullOneIn = 6

// randomRecord builds n rows of canonical columns with edge values: nulls,
// zeros, -0, NaN, extremes, empty and null-holding lists.
func randomRecord(t testing.TB, ds *schema.Dataset, n int, rng *rand.Rand) arrow.RecordBatch {
	t.Helper()
	sc := ds.ArrowSchema()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i, f := range ds.Fields {
		fb := b.Field(i)
		for row := range n {
			if f.Name == schema.FieldTime {
				// 1970 .. 2100, with nanoseconds.
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(rng.Int64N(4102444800e9)))
				continue
			}
			if nullOneIn > 0 && rng.IntN(nullOneIn) == 0 {
				fb.AppendNull()
				continue
			}
			_ = row
			if f.Array {
				lb := fb.(*array.ListBuilder)
				lb.Append(true)
				for range rng.IntN(4) {
					if rng.IntN(5) == 0 {
						lb.ValueBuilder().AppendNull()
					} else {
						appendRandom(lb.ValueBuilder(), f.Type, rng)
					}
				}
				continue
			}
			appendRandom(fb, f.Type, rng)
		}
	}
	return b.NewRecordBatch()
}

func appendRandom(b array.Builder, t schema.Type, rng *rand.Rand) {
	pick := rng.IntN(4)
	switch t {
	case schema.String:
		b.(*array.StringBuilder).Append([]string{"", "a", "héllo wörld", "x\x00y"}[pick])
	case schema.Int64:
		b.(*array.Int64Builder).Append([]int64{0, -1, math.MinInt64, rng.Int64()}[pick])
	case schema.Uint64:
		b.(*array.Uint64Builder).Append([]uint64{0, 1, math.MaxUint64, rng.Uint64()}[pick])
	case schema.Float64:
		b.(*array.Float64Builder).Append([]float64{0, math.Copysign(0, -1), math.NaN(), rng.NormFloat64() * 1e6}[pick])
	case schema.Bool:
		b.(*array.BooleanBuilder).Append(pick%2 == 0)
	case schema.Bytes:
		b.(*array.BinaryBuilder).Append([][]byte{{}, {0}, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 200)}[pick])
	case schema.Geometry:
		b.(*array.BinaryBuilder).Append([][]byte{{}, {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x24, 0x40, 0, 0, 0, 0, 0, 0, 0x49, 0x40}, {1}, bytes.Repeat([]byte{7}, 300)}[pick])
	case schema.Duration:
		b.(*array.DurationBuilder).Append(arrow.Duration([]int64{0, -1500000000, 1, rng.Int64()}[pick]))
	case schema.Timestamp:
		b.(*array.TimestampBuilder).Append(arrow.Timestamp([]int64{0, -1, 1, rng.Int64()}[pick]))
	case schema.UUID:
		u := uuid.New()
		if pick == 0 {
			u = uuid.Nil
		}
		b.(*array.FixedSizeBinaryBuilder).Append(u[:])
	default: // struct of float64
		sb := b.(*array.StructBuilder)
		sb.Append(true)
		for i := range sb.NumField() {
			vals := []float64{0, 1.5, math.Copysign(0, -1), rng.Float64()}
			sb.FieldBuilder(i).(*array.Float64Builder).Append(vals[rng.IntN(4)])
		}
	}
}

// referenceMessage is the slow path the encoder must match: a dynamic
// message filled from the same Arrow values.
func referenceMessage(md protoreflect.MessageDescriptor, ds *schema.Dataset, rec arrow.RecordBatch, row int) *dynamicpb.Message {
	m := dynamicpb.NewMessage(md)
	for i, f := range ds.Fields {
		col := rec.Column(i)
		if f.Name == schema.FieldID || f.Name == schema.FieldIngestionTime || col.IsNull(row) {
			continue
		}
		fd := md.Fields().ByNumber(protoreflect.FieldNumber(f.Number))
		if f.Array {
			l := col.(*array.List)
			lo, hi := l.ValueOffsets(row)
			list := m.Mutable(fd).List()
			for j := int(lo); j < int(hi); j++ {
				if l.ListValues().IsValid(j) {
					list.Append(referenceValue(fd, f.Type, l.ListValues(), j, list.NewElement))
				}
			}
			continue
		}
		m.Set(fd, referenceValue(fd, f.Type, col, row, func() protoreflect.Value { return m.NewField(fd) }))
	}
	return m
}

func referenceValue(fd protoreflect.FieldDescriptor, t schema.Type, a arrow.Array, i int, newMsg func() protoreflect.Value) protoreflect.Value {
	setMsg := func(vals ...protoreflect.Value) protoreflect.Value {
		v := newMsg()
		m := v.Message()
		for k, x := range vals {
			f := m.Descriptor().Fields().ByNumber(protoreflect.FieldNumber(k + 1))
			m.Set(f, x)
		}
		return v
	}
	switch t {
	case schema.String:
		return protoreflect.ValueOfString(a.(*array.String).Value(i))
	case schema.Int64:
		return protoreflect.ValueOfInt64(a.(*array.Int64).Value(i))
	case schema.Uint64:
		return protoreflect.ValueOfUint64(a.(*array.Uint64).Value(i))
	case schema.Float64:
		return protoreflect.ValueOfFloat64(a.(*array.Float64).Value(i))
	case schema.Bool:
		return protoreflect.ValueOfBool(a.(*array.Boolean).Value(i))
	case schema.Bytes:
		return protoreflect.ValueOfBytes(a.(*array.Binary).Value(i))
	case schema.Geometry:
		return setMsg(protoreflect.ValueOfBytes(a.(*array.Binary).Value(i)))
	case schema.UUID:
		return setMsg(protoreflect.ValueOfBytes(a.(*array.FixedSizeBinary).Value(i)))
	case schema.Timestamp:
		s, n := splitTimestamp(int64(a.(*array.Timestamp).Value(i)))
		return setMsg(protoreflect.ValueOfInt64(s), protoreflect.ValueOfInt32(n))
	case schema.Duration:
		s, n := splitDuration(int64(a.(*array.Duration).Value(i)))
		return setMsg(protoreflect.ValueOfInt64(s), protoreflect.ValueOfInt32(n))
	default:
		st := a.(*array.Struct)
		var vals []protoreflect.Value
		for k := range st.NumField() {
			vals = append(vals, protoreflect.ValueOfFloat64(st.Field(k).(*array.Float64).Value(i)))
		}
		return setMsg(vals...)
	}
}

// TestEncoderMatchesProtoMarshal is the property the hot path rests on: our
// bytes equal deterministic proto.Marshal of the same datapoint.
func TestEncoderMatchesProtoMarshal(t *testing.T) {
	ds := everyType(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		rec := randomRecord(t, ds, 200, rng)
		checkEncoder(t, ds, rec, round)
		rec.Release()
	}
}

// TestEncoderFastPathsMatchProtoMarshal covers the encoder's specialised
// paths: columns without nulls, sliced records (non-zero array offsets)
// and records longer than one encoding block.
func TestEncoderFastPathsMatchProtoMarshal(t *testing.T) {
	ds := everyType(t)
	rng := rand.New(rand.NewPCG(3, 4))
	defer func(n int) { nullOneIn = n }(nullOneIn)
	for round, odds := range []int{0, 0, 6, 2, 0, 6} {
		nullOneIn = odds
		rec := randomRecord(t, ds, 3*encodeBlock+17, rng)
		checkEncoder(t, ds, rec, round)
		for _, sl := range [][2]int64{{1, 2}, {7, 300}, {encodeBlock - 1, 2*encodeBlock + 5}, {0, 0}} {
			part := rec.NewSlice(sl[0], sl[1])
			checkEncoder(t, ds, part, round)
			part.Release()
		}
		rec.Release()
	}
}

// checkEncoder encodes rec and compares every row with proto.Marshal of the
// reference dynamic message.
func checkEncoder(t *testing.T, ds *schema.Dataset, rec arrow.RecordBatch, round int) {
	t.Helper()
	md, err := ds.MessageDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	canon := NewCanonicalizer(ds, md)
	enc, err := NewEncoder(ds, rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("keep")
	buf, dps, err := enc.Encode(rec, prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf, prefix) {
		t.Fatalf("round %d: Encode lost the buffer's existing bytes", round)
	}
	if len(dps) != int(rec.NumRows()) {
		t.Fatalf("round %d: %d datapoints for %d rows", round, len(dps), rec.NumRows())
	}
	for row, dp := range dps {
		ref := referenceMessage(md, ds, rec, row)
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(ref)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dp.Data, want) {
			t.Fatalf("round %d row %d: encoder bytes differ from proto.Marshal\n got %x\nwant %x", round, row, dp.Data, want)
		}
		// The canonical check must accept them without decoding.
		if _, ok := canon.scan(dp.Data); !ok {
			t.Fatalf("round %d row %d: canonical bytes not recognised by scan: %x", round, row, dp.Data)
		}
		got, millis, err := canon.Canonical(want)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Canonical: %v", err)
		}
		id, _ := ID(millis, got)
		if id != dp.ID {
			t.Fatalf("row %d: ID from canonicalizer %x != encoder %x", row, id, dp.ID)
		}
	}
}

// TestCanonicalizerNormalises sends the same datapoint in non-canonical
// shapes; each must get the canonical bytes (and so the same ID).
func TestCanonicalizerNormalises(t *testing.T) {
	ds := everyType(t)
	md, _ := ds.MessageDescriptor()
	canon := NewCanonicalizer(ds, md)
	rng := rand.New(rand.NewPCG(3, 4))
	rec := randomRecord(t, ds, 50, rng)
	defer rec.Release()
	for row := range 50 {
		ref := referenceMessage(md, ds, rec, row)
		want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(ref)
		// With id and ingestion_time set, fields reversed in order.
		withID := proto.Clone(ref).(*dynamicpb.Message)
		idf := md.Fields().ByName("id")
		idm := withID.NewField(idf)
		idm.Message().Set(idm.Message().Descriptor().Fields().ByNumber(1), protoreflect.ValueOfBytes(bytes.Repeat([]byte{9}, 16)))
		withID.Set(idf, idm)
		raw, _ := proto.Marshal(withID)
		reversed := reverseFields(t, raw)
		for name, in := range map[string][]byte{"with id": raw, "reversed": reversed} {
			got, _, err := canon.Canonical(in)
			if err != nil {
				t.Fatalf("row %d %s: %v", row, name, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("row %d %s: not canonical\n got %x\nwant %x", row, name, got, want)
			}
		}
	}
	// Garbage and unknown fields are errors, not datapoints.
	for name, in := range map[string][]byte{
		"garbage":       {0xff, 0xff, 0xff},
		"unknown field": append(append([]byte(nil), mustMarshal(t, referenceMessage(md, ds, rec, 0))...), 0xf8, 0x3f, 0x01),
		"no time":       {0x2a, 0x00},
	} {
		if _, _, err := canon.Canonical(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reverseFields re-emits the top-level fields of b with the field numbers
// in reverse order (elements of a repeated field keep their order).
func reverseFields(t *testing.T, b []byte) []byte {
	var nums []protowire.Number
	groups := map[protowire.Number][]byte{}
	for len(b) > 0 {
		num, _, _ := protowire.ConsumeTag(b)
		n := consumeField(b)
		if n < 0 {
			t.Fatal("bad wire bytes")
		}
		if _, ok := groups[num]; !ok {
			nums = append(nums, num)
		}
		groups[num] = append(groups[num], b[:n]...)
		b = b[n:]
	}
	var out []byte
	for i := len(nums) - 1; i >= 0; i-- {
		out = append(out, groups[nums[i]]...)
	}
	return out
}

func TestEncodeRejectsMissingAndOutOfRangeTime(t *testing.T) {
	ds, _ := schema.New("g", "t", "T", schema.Temporal, nil)
	for name, vals := range map[string][]arrow.Timestamp{"before 1970": {-1}} {
		b := array.NewRecordBuilder(memory.DefaultAllocator, ds.ArrowSchema())
		b.Field(0).(*array.TimestampBuilder).AppendValues(vals, nil)
		for i := 1; i < 3; i++ {
			b.Field(i).AppendNulls(len(vals))
		}
		rec := b.NewRecordBatch()
		enc, _ := NewEncoder(ds, rec.Schema())
		if _, _, err := enc.Encode(rec, nil, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, ds.ArrowSchema())
	b.Field(0).AppendNull()
	b.Field(1).AppendNull()
	b.Field(2).AppendNull()
	rec := b.NewRecordBatch()
	enc, _ := NewEncoder(ds, rec.Schema())
	_, _, err := enc.Encode(rec, nil, nil)
	var re *RowError
	if err == nil || !asRowError(err, &re) || re.Row != 0 || re.Field != "time" {
		t.Fatalf("missing time: %v", err)
	}
}
