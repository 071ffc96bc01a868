package convert

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// TestDecodeInvertsEncode is the property: encode → decode → encode gives
// identical bytes and IDs, for every field type, scalar and array, with
// edge values, from canonical bytes, from full bytes (id and
// ingestion_time spliced in) and from bytes in another field order.
func TestDecodeInvertsEncode(t *testing.T) {
	ds := everyType(t)
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		rec := randomRecord(t, ds, 200, rng)
		enc, err := NewEncoder(ds, rec.Schema())
		if err != nil {
			t.Fatal(err)
		}
		_, dps, err := enc.Encode(rec, nil, nil)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range []string{"canonical", "full", "reordered"} {
			dec, err := NewDecoder(ds, mem)
			if err != nil {
				t.Fatal(err)
			}
			ingested := time.Unix(1_700_000_000, 123).UTC()
			for _, dp := range dps {
				b := dp.Data
				switch form {
				case "full":
					b = Splice(nil, dp.Data, dp.ID, ingested, false)
				case "reordered":
					b = reverseFields(t, Splice(nil, dp.Data, dp.ID, ingested, false))
				}
				if err := dec.Append(b); err != nil {
					t.Fatalf("seed %d %s: %v", seed, form, err)
				}
			}
			out := dec.NewRecordBatch()
			dec.Release()
			enc2, err := NewEncoder(ds, out.Schema())
			if err != nil {
				t.Fatal(err)
			}
			_, again, err := enc2.Encode(out, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range dps {
				if !bytes.Equal(dps[i].Data, again[i].Data) || dps[i].ID != again[i].ID {
					t.Fatalf("seed %d %s row %d: bytes differ\n%x\n%x", seed, form, i, dps[i].Data, again[i].Data)
				}
			}
			if form != "canonical" {
				ids := out.Column(1).(*array.FixedSizeBinary)
				its := out.Column(2).(*array.Timestamp)
				for i := range dps {
					if store.ID(ids.Value(i)) != dps[i].ID || int64(its.Value(i)) != ingested.UnixNano() {
						t.Fatalf("%s row %d: id/ingestion_time not decoded", form, i)
					}
				}
			}
			out.Release()
		}
	}
}

func TestDecoderFieldsAndErrors(t *testing.T) {
	ds := everyType(t)
	dec, err := NewDecoder(ds, nil, "time", "id", "f_string")
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Release()
	if got := dec.Schema().NumFields(); got != 3 {
		t.Fatalf("%d fields", got)
	}
	if _, err := NewDecoder(ds, nil, "nope"); err == nil {
		t.Fatal("unknown field accepted")
	}
	var b []byte
	b = appendSecondsNanos(b, schema.NumberTime, 1_700_000_000, 5)
	f, _ := ds.Field("f_string")
	b = protowire.AppendTag(b, protowire.Number(f.Number), protowire.BytesType)
	b = protowire.AppendString(b, "hello")
	if err := dec.Append(b); err != nil {
		t.Fatal(err)
	}
	// A uuid of the wrong size is an error, and drops the pending rows.
	u, _ := ds.Field("f_uuid")
	bad := appendBytesMessage(append([]byte(nil), b...), protowire.Number(u.Number), []byte{1, 2, 3})
	dec2, _ := NewDecoder(ds, nil)
	defer dec2.Release()
	if err := dec2.Append(bad); err == nil {
		t.Fatal("3-byte uuid accepted")
	}
	if err := dec.Append([]byte{0xff}); err == nil || dec.Len() != 0 {
		t.Fatalf("garbage: %v, %d rows pending", err, dec.Len())
	}
	if err := dec.Append(b); err != nil {
		t.Fatal(err)
	}
	rec := dec.NewRecordBatch()
	defer rec.Release()
	if rec.NumRows() != 1 || rec.Column(2).(*array.String).Value(0) != "hello" || !rec.Column(1).IsNull(0) {
		t.Fatalf("record %v", rec)
	}
	if id, ok := IDOf(Splice(nil, b, [16]byte{1, 2}, time.Time{}, true)); !ok || id != [16]byte{1, 2} {
		t.Fatalf("IDOf: %x %v", id, ok)
	}
}

func BenchmarkDecode(b *testing.B) {
	ds := everyType(b)
	rec := randomRecord(b, ds, 8192, rand.New(rand.NewPCG(1, 2)))
	defer rec.Release()
	enc, _ := NewEncoder(ds, rec.Schema())
	_, dps, _ := enc.Encode(rec, nil, nil)
	dec, _ := NewDecoder(ds, nil)
	defer dec.Release()
	for b.Loop() {
		for _, dp := range dps {
			if err := dec.Append(dp.Data); err != nil {
				b.Fatal(err)
			}
		}
		dec.NewRecordBatch().Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(dps)), "ns/row")
}
