package ingest

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestParquetDurations: Arrow writers store durations as INT64 and name the
// type in the stored Arrow schema; every unit, nulls, and durations nested
// in lists, fixed-size lists, structs and maps read back with their types
// and values.
func TestParquetDurations(t *testing.T) {
	mem := memory.NewGoAllocator()
	dur := func(u arrow.TimeUnit) arrow.DataType { return &arrow.DurationType{Unit: u} }
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: dur(arrow.Second), Nullable: true},
		{Name: "ms", Type: dur(arrow.Millisecond)},
		{Name: "list_us", Type: arrow.ListOf(dur(arrow.Microsecond)), Nullable: true},
		{Name: "fixed_ns", Type: arrow.FixedSizeListOf(2, dur(arrow.Nanosecond))},
		{Name: "st", Type: arrow.StructOf(arrow.Field{Name: "d", Type: dur(arrow.Millisecond), Nullable: true}, arrow.Field{Name: "n", Type: arrow.BinaryTypes.String})},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, dur(arrow.Second)), Nullable: true},
		{Name: "plain", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	const rows = 300
	for i := range rows {
		v := arrow.Duration(int64(i)*7919 - 1000)
		if i%5 == 0 {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.DurationBuilder).Append(v)
		}
		b.Field(1).(*array.DurationBuilder).Append(-v)
		lb := b.Field(2).(*array.ListBuilder)
		switch i % 4 {
		case 0:
			lb.AppendNull()
		case 1:
			lb.Append(true) // empty
		default:
			lb.Append(true)
			lb.ValueBuilder().(*array.DurationBuilder).Append(v)
			lb.ValueBuilder().AppendNull()
			lb.ValueBuilder().(*array.DurationBuilder).Append(v + 1)
		}
		fb := b.Field(3).(*array.FixedSizeListBuilder)
		fb.Append(true)
		fb.ValueBuilder().(*array.DurationBuilder).AppendValues([]arrow.Duration{v, 1 << 62}, nil)
		sb := b.Field(4).(*array.StructBuilder)
		sb.Append(true)
		if i%3 == 0 {
			sb.FieldBuilder(0).AppendNull()
		} else {
			sb.FieldBuilder(0).(*array.DurationBuilder).Append(v * 3)
		}
		sb.FieldBuilder(1).(*array.StringBuilder).Append(strings.Repeat("x", i%7))
		mb := b.Field(5).(*array.MapBuilder)
		if i%6 == 0 {
			mb.AppendNull()
		} else {
			mb.Append(true)
			mb.KeyBuilder().(*array.StringBuilder).Append("k")
			mb.ItemBuilder().(*array.DurationBuilder).Append(v)
		}
		b.Field(6).(*array.Int64Builder).Append(int64(i))
	}
	want := b.NewRecordBatch()
	defer want.Release()
	// Written as pyarrow writes them: INT64 columns, the duration types in
	// the stored Arrow schema.
	types := make([]arrow.DataType, want.NumCols())
	for i, f := range sc.Fields() {
		types[i] = withoutDurations(f.Type)
	}
	plain := relabelColumns(want, types)
	defer plain.Release()
	md := arrow.NewMetadata([]string{"ARROW:schema"}, []string{base64.StdEncoding.EncodeToString(flight.SerializeSchema(sc, mem))})
	fs := plain.Schema().Fields()
	plain = array.NewRecordBatch(arrow.NewSchema(fs, &md), plain.Columns(), plain.NumRows())
	defer plain.Release()
	path := filepath.Join(t.TempDir(), "durations.parquet")
	writeParquet(t, path, plain, nil)

	src, err := Open(path, WithAllocator(checkedMem(t)), WithBatchSize(128))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i, f := range sc.Fields() {
		if got := src.Schema().Field(i).Type; !arrow.TypeEqual(got, f.Type) {
			t.Errorf("column %s: schema says %s, want %s", f.Name, got, f.Type)
		}
	}
	row := 0
	for batch, err := range src.Batches() {
		if err != nil {
			t.Fatal(err)
		}
		rec := batch.Record
		exp := want.NewSlice(int64(row), int64(row)+rec.NumRows())
		for c := range int(rec.NumCols()) {
			if !array.Equal(rec.Column(c), exp.Column(c)) {
				t.Errorf("rows %d+: column %s differs:\n got %v\nwant %v", row, sc.Field(c).Name, rec.Column(c), exp.Column(c))
			}
		}
		exp.Release()
		row += int(rec.NumRows())
	}
	if row != rows {
		t.Fatalf("read %d rows, want %d", row, rows)
	}
}
