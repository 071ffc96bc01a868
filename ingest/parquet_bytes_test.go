package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// withPQArrowOnly reads byte-array columns through pqarrow as well: the
// reference byteColumn is compared with.
func withPQArrowOnly() Option { return func(o *options) { o.pqarrowOnly = true } }

// readBatches reads every batch of a file (retained) or the error.
func readBatches(t *testing.T, path string, opts ...Option) ([]arrow.RecordBatch, error) {
	t.Helper()
	src, err := Open(path, opts...)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var out []arrow.RecordBatch
	for b, err := range src.Batches() {
		if err != nil {
			for _, r := range out {
				r.Release()
			}
			return nil, err
		}
		b.Record.Retain()
		out = append(out, b.Record)
	}
	return out, nil
}

// sameBatches reads path with byteColumn and with pqarrow alone and fails
// unless both give equal batches (or both fail) and byteColumn leaves no
// more memory unreleased than pqarrow (arrow-go's delta decoders keep a few
// buffers of the allocator's).
func sameBatches(t *testing.T, path string, opts ...Option) (batches int, err error) {
	t.Helper()
	read := func(opts ...Option) ([]arrow.RecordBatch, error, *memory.CheckedAllocator) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rs, err := readBatches(t, path, append(opts, WithAllocator(mem))...)
		return rs, err, mem
	}
	got, gotErr, gotMem := read(opts...)
	want, wantErr, wantMem := read(append(opts, withPQArrowOnly())...)
	defer func() {
		for _, r := range append(got, want...) {
			r.Release()
		}
		if g, w := gotMem.CurrentAlloc(), wantMem.CurrentAlloc(); g > w {
			t.Errorf("%s: %d bytes not released, pqarrow alone %d", path, g, w)
		}
	}()
	switch {
	case (gotErr == nil) != (wantErr == nil):
		t.Fatalf("%s: byteColumn: %v; pqarrow: %v", path, gotErr, wantErr)
	case gotErr != nil:
		return 0, gotErr
	case len(got) != len(want):
		t.Fatalf("%s: %d batches, pqarrow %d", path, len(got), len(want))
	}
	for i := range got {
		if !got[i].Schema().Equal(want[i].Schema()) {
			t.Fatalf("%s: batch %d: schema\n%s\nwant\n%s", path, i, got[i].Schema(), want[i].Schema())
		}
		for j, col := range got[i].Columns() {
			// Exact, but NaN equals NaN.
			if !array.ApproxEqual(col, want[i].Column(j), array.WithAbsTolerance(0), array.WithNaNsEqual(true)) {
				t.Fatalf("%s: batch %d, column %q differs:\n%v\nwant\n%v", path, i, got[i].ColumnName(j), col, want[i].Column(j))
			}
		}
	}
	return len(got), nil
}

// Every Parquet file of the corpus decodes to the same batches through
// byteColumn as through pqarrow alone, at the default batch size and at one
// that cuts pages and row groups anywhere.
func TestByteColumnsCorpus(t *testing.T) {
	dir := corpusDir(t)
	files, failed := 0, 0
	for _, sub := range []string{"parquet", "geoparquet"} {
		err := filepath.WalkDir(filepath.Join(dir, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
				return err
			}
			files++
			for _, n := range []int{DefaultBatchSize, 7} {
				if _, err := sameBatches(t, path, WithBatchSize(n)); err != nil {
					failed++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d files, %d reads failed alike", files, failed)
}

// Generated files cover what the corpus may not: many pages and row
// groups, dictionary fallback, nulls everywhere, empty values, DataPage V2,
// delta encodings, 8 MB pages, and files whose every column is a byte array.
func TestByteColumnsWritten(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 40<<10)
	cases := []struct {
		name  string
		rows  int
		props []parquet.WriterProperty
		only  bool // byte-array columns only
	}{
		{name: "defaults", rows: 20000},
		{name: "small pages and row groups", rows: 20000, props: []parquet.WriterProperty{
			parquet.WithDataPageSize(512), parquet.WithMaxRowGroupLength(1000), parquet.WithDictionaryPageSizeLimit(2 << 10)}},
		{name: "plain v2 zstd", rows: 5000, props: []parquet.WriterProperty{
			parquet.WithDictionaryDefault(false), parquet.WithDataPageVersion(parquet.DataPageV2), parquet.WithCompression(compress.Codecs.Zstd)}},
		{name: "delta", rows: 5000, props: []parquet.WriterProperty{
			parquet.WithDictionaryDefault(false), parquet.WithEncodingFor("s", parquet.Encodings.DeltaLengthByteArray),
			parquet.WithEncodingFor("b", parquet.Encodings.DeltaByteArray)}},
		{name: "byte arrays only", rows: 3000, only: true, props: []parquet.WriterProperty{parquet.WithMaxRowGroupLength(700)}},
		{name: "large pages", rows: 200, only: true, props: []parquet.WriterProperty{
			parquet.WithDictionaryDefault(false), parquet.WithDataPageSize(16 << 20)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fields := []arrow.Field{
				{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
				{Name: "b", Type: arrow.BinaryTypes.Binary, Nullable: false},
			}
			if !tc.only {
				fields = append([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64}}, fields...)
				fields = append(fields, arrow.Field{Name: "l", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true})
			}
			sc := arrow.NewSchema(fields, nil)
			bld := array.NewRecordBuilder(memory.DefaultAllocator, sc)
			defer bld.Release()
			for r := range tc.rows {
				for i, f := range sc.Fields() {
					switch f.Name {
					case "i":
						bld.Field(i).(*array.Int64Builder).Append(int64(r))
					case "s":
						switch {
						case r%5 == 0:
							bld.Field(i).AppendNull()
						case r%7 == 0:
							bld.Field(i).(*array.StringBuilder).Append("")
						default:
							bld.Field(i).(*array.StringBuilder).Append(fmt.Sprintf("granule-%d-%s", r, strings.Repeat("é", r%9)))
						}
					case "b":
						if tc.name == "large pages" {
							bld.Field(i).(*array.BinaryBuilder).Append(big[:len(big)-r])
						} else {
							bld.Field(i).(*array.BinaryBuilder).Append([]byte(fmt.Sprint(r % 50)))
						}
					case "l":
						lb := bld.Field(i).(*array.ListBuilder)
						lb.Append(true)
						lb.ValueBuilder().(*array.StringBuilder).Append("x")
					}
				}
			}
			rec := bld.NewRecordBatch()
			defer rec.Release()
			path := filepath.Join(t.TempDir(), "f.parquet")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := pqarrow.WriteTable(array.NewTableFromRecords(sc, []arrow.RecordBatch{rec}), f, 4096,
				parquet.NewWriterProperties(tc.props...), pqarrow.DefaultWriterProps()); err != nil {
				t.Fatal(err)
			}
			// byteColumn reads s and b, pqarrow the rest.
			src, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range src.Batches() {
				if err != nil {
					t.Fatal(err)
				}
			}
			if ps := src.(*parquetSource); len(ps.bytes) != 2 {
				t.Errorf("byteColumn reads %d columns, want 2", len(ps.bytes))
			}
			src.Close()
			for _, n := range []int{DefaultBatchSize, 999, 1} {
				if n == 1 && tc.rows > 5000 {
					continue
				}
				if _, err := sameBatches(t, path, WithBatchSize(n)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// Damaged files: whatever pqarrow alone reads, byteColumn reads the same,
// except that it refuses definition levels out of range, which pqarrow
// takes for values; whatever fails, fails with an error (never a panic).
func FuzzByteColumns(f *testing.F) {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int32},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.Binary},
	}, nil)
	bld := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer bld.Release()
	for r := range 40 {
		bld.Field(0).(*array.Int32Builder).Append(int32(r))
		if r%3 == 0 {
			bld.Field(1).AppendNull()
		} else {
			bld.Field(1).(*array.StringBuilder).Append(fmt.Sprint("v", r%6))
		}
		bld.Field(2).(*array.BinaryBuilder).Append([]byte(fmt.Sprint(r * r)))
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	for _, props := range [][]parquet.WriterProperty{
		{parquet.WithCompression(compress.Codecs.Uncompressed), parquet.WithMaxRowGroupLength(16)},
		{parquet.WithCompression(compress.Codecs.Uncompressed), parquet.WithDictionaryDefault(false), parquet.WithDataPageVersion(parquet.DataPageV2)},
	} {
		var buf bytes.Buffer
		if err := pqarrow.WriteTable(array.NewTableFromRecords(sc, []arrow.RecordBatch{rec}), &buf, 64,
			parquet.NewWriterProperties(append(props, parquet.WithDataPageSize(64))...), pqarrow.DefaultWriterProps()); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes(), uint16(0), uint8(0))
		f.Add(buf.Bytes(), uint16(40), uint8(0xff))
	}
	f.Fuzz(func(t *testing.T, data []byte, at uint16, x uint8) {
		if len(data) == 0 {
			return
		}
		// Damage one byte of the data, not the footer, which decides
		// whether there is anything to compare.
		data = bytes.Clone(data)
		data[int(at)%len(data)] ^= x
		path := filepath.Join(t.TempDir(), "f.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, gotErr := readBatches(t, path, WithBatchSize(5))
		want, wantErr := readBatches(t, path, WithBatchSize(5), withPQArrowOnly())
		defer func() {
			for _, r := range append(got, want...) {
				r.Release()
			}
		}()
		if wantErr != nil {
			return // byteColumn may fail elsewhere, or find nothing wrong in its columns
		}
		if gotErr != nil && !errors.Is(gotErr, errCorruptLevels) {
			t.Fatalf("byteColumn: %v; pqarrow reads the file", gotErr)
		}
		if gotErr != nil {
			return // pqarrow took the out-of-range level for a value
		}
		if len(got) != len(want) {
			t.Fatalf("%d batches, pqarrow %d", len(got), len(want))
		}
		for i := range got {
			if !array.RecordApproxEqual(got[i], want[i], array.WithAbsTolerance(0), array.WithNaNsEqual(true)) {
				t.Fatalf("batch %d differs:\n%v\nwant\n%v", i, got[i], want[i])
			}
		}
	})
}

// One huge value must not make the next batch reserve room for thousands
// like it: under a memory limit that fits the data, the file reads.
func TestByteColumnsHugeValueFirst(t *testing.T) {
	sc := arrow.NewSchema([]arrow.Field{{Name: "b", Type: arrow.BinaryTypes.Binary}}, nil)
	path := filepath.Join(t.TempDir(), "f.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(parquet.WithDictionaryDefault(false)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	for _, vals := range [][][]byte{{bytes.Repeat([]byte{1}, 8<<20)}, bytes.Split(bytes.Repeat([]byte("ab,"), 5000), []byte(","))} {
		bld := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
		bld.AppendValues(vals, nil)
		col := bld.NewArray()
		rec := array.NewRecordBatch(sc, []arrow.Array{col}, int64(col.Len()))
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		col.Release()
		bld.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows := 0
	n, err := sameBatches(t, path, WithBatchSize(4096), WithMemoryLimit(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(path, WithBatchSize(4096), WithMemoryLimit(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for b, err := range src.Batches() {
		if err != nil {
			t.Fatal(err)
		}
		rows += int(b.Record.NumRows())
	}
	if ps := src.(*parquetSource); len(ps.bytes) != 1 || ps.rdr.NumRowGroups() != 2 || rows != 5002 {
		t.Fatalf("%d byte columns, %d row groups, %d rows, %d batches", len(ps.bytes), ps.rdr.NumRowGroups(), rows, n)
	}
}
