package ingest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/granaryhq/granary/schema"
)

func TestPoolAllocator(t *testing.T) {
	p := NewPoolAllocator(1 << 20)
	aligned := func(b []byte) bool { return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%64 == 0 }
	a := p.Allocate(100)
	if len(a) != 100 || cap(a) != 128 || !aligned(a) {
		t.Fatalf("len %d cap %d aligned %v", len(a), cap(a), aligned(a))
	}
	for i := range a {
		a[i] = 0xff
	}
	p.Free(a)
	if p.Held() != 128 || p.Live() != 0 {
		t.Fatalf("held %d live %d", p.Held(), p.Live())
	}
	b := p.Allocate(120) // reuses a's buffer, zeroed
	if &b[0] != &a[0] {
		t.Error("the freed buffer was not reused")
	}
	for _, c := range b {
		if c != 0 {
			t.Fatal("a reused buffer is not zeroed")
		}
	}
	b[0] = 7
	b = p.Reallocate(60, b) // shrink in place
	b = p.Reallocate(128, b)
	if b[0] != 7 || b[100] != 0 {
		t.Errorf("reallocate: %d %d", b[0], b[100])
	}
	c := p.Reallocate(1000, b) // grows into a new class
	if len(c) != 1000 || cap(c) != 1024 || c[0] != 7 || c[999] != 0 {
		t.Errorf("grow: len %d cap %d", len(c), cap(c))
	}
	p.Free(c)
	big := p.Allocate(100 << 20) // beyond the classes
	if len(big) != 100<<20 || !aligned(big) {
		t.Error("large allocation")
	}
	p.Free(big)
	if p.Live() != 0 || p.Held() > 1<<20 {
		t.Errorf("live %d held %d", p.Live(), p.Held())
	}
	// The limit allocator fails cleanly.
	lim := newLimitAllocator(p, 1000)
	x := lim.Allocate(600)
	func() {
		defer func() {
			r := recover()
			if e, ok := r.(*memLimitPanic); !ok || !strings.Contains(e.Error(), "memory limit exceeded") {
				t.Errorf("want a memory limit panic, got %v", r)
			}
		}()
		lim.Allocate(600)
	}()
	lim.Free(x)
	lim.Free(lim.Allocate(1000))
}

// TestPoolAllocatorCorpus reads every readable Parquet and Arrow file of
// the corpus with the pool and with Go's allocator: the data must match.
func TestPoolAllocatorCorpus(t *testing.T) {
	dir := corpusDir(t)
	pool := NewPoolAllocator(0)
	n := 0
	for _, e := range columnarManifest(t, dir) {
		if policyOf(e.section) != "read" {
			continue
		}
		path := filepath.Join(dir, e.dir, e.file)
		if r := readColumnar(path); r.err != nil {
			continue
		}
		// Read twice with the pool, so that the second read reuses buffers.
		for round := 0; round < 2; round++ {
			_, a := readAllRecords(t, path, WithBatchSize(100))
			_, b := readAllRecords(t, path, WithBatchSize(100), WithAllocator(pool))
			if len(a) != len(b) {
				t.Fatalf("%s: %d vs %d batches", e.file, len(a), len(b))
			}
			for i := range a {
				if !array.RecordApproxEqual(a[i], b[i], array.WithNaNsEqual(true), array.WithAbsTolerance(0)) {
					t.Errorf("%s: batch %d differs with the pool", e.file, i)
				}
			}
			releaseAll(a)
			releaseAll(b)
		}
		n++
	}
	// arrow-go's DataPage V2 and DELTA decoders drop a few buffers without
	// freeing them (the garbage collector takes them): reported, not failed.
	t.Logf("%d files; pool holds %d KiB, %d bytes never freed", n, pool.Held()>>10, pool.Live())
}

// granuleFile writes (once per temp dir) a MODIS-granule-like Parquet file
// of n rows, as the MANIFEST appendix describes: two timestamp[us], a
// 16-byte id, float64, int64, a low-cardinality string, a ~93-byte WKB
// polygon and a list<float64> of 4, SNAPPY, 131072-row row groups.
func granuleFile(tb testing.TB, n int) string {
	tb.Helper()
	dir := filepath.Join(os.TempDir(), "granary-ingest-bench")
	path := filepath.Join(dir, fmt.Sprintf("granules-%d.parquet", n))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "time", Type: ts},
		{Name: "ingestion_time", Type: ts},
		{Name: "granule_id", Type: &arrow.FixedSizeBinaryType{ByteWidth: 16}},
		{Name: "cloud_cover", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "file_size", Type: arrow.PrimitiveTypes.Int64},
		{Name: "platform", Type: arrow.BinaryTypes.String},
		{Name: "geometry", Type: arrow.BinaryTypes.Binary},
		{Name: "quality", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)},
	}, nil)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		tb.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithMaxRowGroupLength(131072))
	w, err := pqarrow.NewFileWriter(sc, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		tb.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	rng := rand.New(rand.NewPCG(1, 2))
	platforms := []string{"Terra", "Aqua", "Suomi NPP", "NOAA-20"}
	const chunk = 65536
	for start := 0; start < n; start += chunk {
		m := min(chunk, n-start)
		rb := array.NewRecordBuilder(mem, sc)
		for i := 0; i < m; i++ {
			row := int64(start + i)
			t0 := arrow.Timestamp(1_600_000_000_000_000 + row*300_000_000)
			rb.Field(0).(*array.TimestampBuilder).Append(t0)
			rb.Field(1).(*array.TimestampBuilder).Append(t0 + 3_600_000_000)
			var id [16]byte
			for k := range id {
				id[k] = byte(rng.Uint32())
			}
			rb.Field(2).(*array.FixedSizeBinaryBuilder).Append(id[:])
			if row%17 == 0 {
				rb.Field(3).AppendNull()
			} else {
				rb.Field(3).(*array.Float64Builder).Append(rng.Float64() * 100)
			}
			rb.Field(4).(*array.Int64Builder).Append(int64(rng.IntN(1 << 30)))
			rb.Field(5).(*array.StringBuilder).Append(platforms[row%4])
			lon, lat := rng.Float64()*350-175, rng.Float64()*170-85
			wkt := fmt.Sprintf("POLYGON ((%f %f, %f %f, %f %f, %f %f, %f %f))", lon, lat, lon+1, lat, lon+1, lat+1, lon, lat+1, lon, lat)
			rb.Field(6).(*array.BinaryBuilder).Append(wkbOf(tb, wkt))
			lb := rb.Field(7).(*array.ListBuilder)
			lb.Append(true)
			lb.ValueBuilder().(*array.Float64Builder).AppendValues([]float64{rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64()}, nil)
		}
		rec := rb.NewRecordBatch()
		if err := w.WriteBuffered(rec); err != nil {
			tb.Fatal(err)
		}
		rec.Release()
		rb.Release()
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkParquetAllocators reads (and maps) a 1M-row granule file with
// Go's allocator and with the PoolAllocator.
//
//	go test -run XXX -bench ParquetAllocators -benchtime 3x ./ingest
func BenchmarkParquetAllocators(b *testing.B) {
	const rows = 1_000_000
	path := granuleFile(b, rows)
	ds, err := schema.New("g", "granules", "Granules", schema.SpatioTemporal, []schema.Field{
		{Name: "ingestion_ts", Type: schema.Timestamp}, {Name: "granule_id", Type: schema.UUID},
		{Name: "cloud_cover", Type: schema.Float64}, {Name: "file_size", Type: schema.Int64},
		{Name: "platform", Type: schema.String}, {Name: "quality", Type: schema.Float64, Array: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	m := Mapping{Rename: map[string]string{"ingestion_time": "ingestion_ts"}}
	for _, mode := range []string{"read", "read-noval", "read+map"} {
		for _, alloc := range []string{"go", "pool"} {
			b.Run(mode+"/"+alloc, func(b *testing.B) {
				var mem memory.Allocator = memory.NewGoAllocator()
				if alloc == "pool" {
					mem = NewPoolAllocator(0)
				}
				b.ReportAllocs()
				for b.Loop() {
					src, err := Open(path, WithAllocator(mem), WithBatchSize(65536), WithValidation(mode != "read-noval"))
					if err != nil {
						b.Fatal(err)
					}
					var mp *Mapper
					if mode == "read+map" {
						if mp, err = NewMapper(src.Schema(), ds, m, "granules", WithAllocator(mem)); err != nil {
							b.Fatal(err)
						}
					}
					var n int64
					for batch, err := range src.Batches() {
						if err != nil {
							b.Fatal(err)
						}
						n += batch.Record.NumRows()
						if mp != nil {
							rec, err := mp.Map(batch)
							if err != nil {
								b.Fatal(err)
							}
							rec.Release()
						}
					}
					src.Close()
					if n != rows {
						b.Fatalf("%d rows", n)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
			})
		}
	}
}
