// Package readpath measures the hot path of issue 3 on one MODIS-like
// GeoParquet file: the decode floor (arrow-go reading every column),
// granary's Parquet reader alone, our read→map→encode→ID path, and the
// naive path (a dynamic message per row and proto.Marshal). Run it
// through benchmarks/run, which prints ratios.
package readpath

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/granaryhq/granary/benchmarks/modis"
	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/ingest"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

const batchSize = 8192

// BenchmarkDecodeFloor reads every column with arrow-go and nothing else.
func BenchmarkDecodeFloor(b *testing.B) {
	path, rows := modis.Input(b)
	// The pooling allocator granary's Parquet reader uses by default, so
	// the ratio compares our work, not two allocators.
	mem := ingest.NewPoolAllocator(ingest.ReadPoolRetain)
	b.ReportAllocs()
	for b.Loop() {
		// The reader settings granary's Parquet source uses: pages
		// streamed through a small buffer into pooled page buffers.
		props := parquet.NewReaderProperties(mem)
		props.BufferedStreamEnabled = true
		props.BufferSize = ingest.ParquetReadBuffer
		rf, err := file.OpenParquetFile(path, false, file.WithReadProps(props))
		if err != nil {
			b.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(rf, pqarrow.ArrowReadProperties{BatchSize: batchSize, Parallel: false}, mem)
		if err != nil {
			b.Fatal(err)
		}
		rr, err := fr.GetRecordReader(context.Background(), nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rr.Next() {
			n += int(rr.RecordBatch().NumRows())
		}
		if err := rr.Err(); err != nil {
			b.Fatal(err)
		}
		rr.Release()
		rf.Close()
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkGranary is our path: ingest reader, mapping onto the schema,
// direct wire encoding and IDs.
func BenchmarkGranary(b *testing.B) {
	path, rows := modis.Input(b)
	ds := modis.Dataset()
	b.ReportAllocs()
	var buf []byte
	var dps []store.Datapoint
	// One pool for the run, as the decode floor has (each iteration reads
	// the file again, like the next file of a multi-file ingest).
	mem := ingest.NewPoolAllocator(ingest.ReadPoolRetain)
	for b.Loop() {
		n := 0
		err := each(path, ds, mem, func(rec arrow.RecordBatch, enc *convert.Encoder) error {
			var err error
			buf, dps, err = enc.Encode(rec, buf[:0], dps[:0])
			n += len(dps)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != rows {
			b.Fatalf("encoded %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkNaive builds a dynamic message per row and marshals it, the way
// a client without a direct encoder would.
func BenchmarkNaive(b *testing.B) {
	path, rows := modis.Input(b)
	ds := modis.Dataset()
	ds.GroupID[0] = 1
	md, err := ds.MessageDescriptor()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	mem := ingest.NewPoolAllocator(ingest.ReadPoolRetain)
	for b.Loop() {
		n := 0
		err := each(path, ds, mem, func(rec arrow.RecordBatch, _ *convert.Encoder) error {
			for row := range int(rec.NumRows()) {
				m := naiveMessage(md, ds, rec, row)
				data, millis, err := convert.Canonical(m)
				if err != nil {
					return err
				}
				if _, err := convert.ID(millis, data); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != rows {
			b.Fatalf("encoded %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReader is granary's Parquet source alone (no mapping, encoding
// or IDs): how its decoding compares with the floor's, and what the rest
// of our path adds to it. It comes last, so that floor, ours and naive
// run back to back as before.
func BenchmarkReader(b *testing.B) {
	path, rows := modis.Input(b)
	b.ReportAllocs()
	mem := ingest.NewPoolAllocator(ingest.ReadPoolRetain)
	for b.Loop() {
		src, err := ingest.Open(path, ingest.WithBatchSize(batchSize), ingest.WithAllocator(mem))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for batch, err := range src.Batches() {
			if err != nil {
				b.Fatal(err)
			}
			n += int(batch.Record.NumRows())
		}
		src.Close()
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// each streams the file through the mapper and calls fn per record, as
// granary ingest does for each file of a run: reader and mapper draw on
// mem, the run's buffer pool.
func each(path string, ds *schema.Dataset, mem *ingest.PoolAllocator, fn func(arrow.RecordBatch, *convert.Encoder) error) error {
	src, err := ingest.Open(path, ingest.WithBatchSize(batchSize), ingest.WithAllocator(mem))
	if err != nil {
		return err
	}
	defer src.Close()
	mapper, err := ingest.NewMapper(src.Schema(), ds, ingest.Mapping{}, path, ingest.WithAllocator(mem))
	if err != nil {
		return err
	}
	var enc *convert.Encoder
	for batch, err := range src.Batches() {
		if err != nil {
			return err
		}
		rec, err := mapper.Map(batch)
		if err != nil {
			return err
		}
		if enc == nil {
			if enc, err = convert.NewEncoder(ds, rec.Schema()); err != nil {
				rec.Release()
				return err
			}
		}
		err = fn(rec, enc)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// naiveMessage fills a dynamic message from canonical columns.
func naiveMessage(md protoreflect.MessageDescriptor, ds *schema.Dataset, rec arrow.RecordBatch, row int) *dynamicpb.Message {
	m := dynamicpb.NewMessage(md)
	for i, f := range rec.Schema().Fields() {
		col := rec.Column(i)
		if col.IsNull(row) {
			continue
		}
		sf, _ := ds.Field(f.Name)
		fd := md.Fields().ByNumber(protoreflect.FieldNumber(sf.Number))
		switch a := col.(type) {
		case *array.String:
			m.Set(fd, protoreflect.ValueOfString(a.Value(row)))
		case *array.Int64:
			m.Set(fd, protoreflect.ValueOfInt64(a.Value(row)))
		case *array.Uint64:
			m.Set(fd, protoreflect.ValueOfUint64(a.Value(row)))
		case *array.Binary: // geometry
			v := m.NewField(fd)
			v.Message().Set(v.Message().Descriptor().Fields().ByNumber(1), protoreflect.ValueOfBytes(a.Value(row)))
			m.Set(fd, v)
		case *array.Timestamp:
			ns := int64(a.Value(row))
			v := m.NewField(fd)
			fs := v.Message().Descriptor().Fields()
			v.Message().Set(fs.ByNumber(1), protoreflect.ValueOfInt64(ns/1e9))
			v.Message().Set(fs.ByNumber(2), protoreflect.ValueOfInt32(int32(ns%1e9)))
			m.Set(fd, v)
		default:
			panic(fmt.Sprintf("naive: column %s has type %s", f.Name, col.DataType()))
		}
	}
	return m
}
