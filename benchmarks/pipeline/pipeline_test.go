// Package pipeline measures issue 5's streaming pipeline on the MODIS-like
// GeoParquet file of benchmarks/modis (1M rows unless GRANARY_BENCH_ROWS
// says otherwise; generated into benchmarks/testdata when missing):
//
//   - BenchmarkIngestEndToEnd: file → map → encode → batch.Ingester →
//     datasets client → embedded SQLite store, as `granary ingest` runs it;
//   - BenchmarkStoreFloor: the same rows pre-encoded, straight into
//     sqlite.Store.Ingest in 8192-row calls: what the store alone costs;
//   - BenchmarkTileboxStyle: a dynamic message per row, proto.Marshal,
//     sequential 8192-row IngestEncoded calls into the same store;
//   - BenchmarkExportGeoParquet: query → decode → GeoParquet file, and
//     BenchmarkExportReadBack, the decode floor of reading that file back;
//   - BenchmarkPeakRSS: the granary binary ingesting the file, its peak
//     resident memory (ru_maxrss) as a metric.
//
// Each iteration writes into a fresh store. Run them with benchmarks/run,
// or alone:
//
//	go test -run '^$' -bench . -benchtime 1x ./benchmarks/pipeline/
//	GRANARY_BENCH_ROWS=10000000 go test -run '^$' -bench PeakRSS -benchtime 1x ./benchmarks/pipeline/
//
// The 10M-row file takes ~1.5 GB in benchmarks/testdata and a few minutes
// to generate.
package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/granaryhq/granary/batch"
	"github.com/granaryhq/granary/benchmarks/modis"
	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/export"
	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/ingest"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/postgres"
	"github.com/granaryhq/granary/store/postgres/pgtest"
	"github.com/granaryhq/granary/store/sqlite"
)

// opener opens an empty store for one benchmark run.
type opener func(b *testing.B) store.Store

func embedded(b *testing.B) store.Store {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "granary.db"))
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// postgresStore opens a PostgreSQL store in a fresh schema of
// $GRANARY_TEST_POSTGRES (the benchmark is skipped without one).
func postgresStore(b *testing.B) store.Store {
	url := pgtest.URL(b)
	st, err := postgres.Open(b.Context(), url, postgres.WithSchema(pgtest.Schema(b, url)))
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// fresh opens an empty store with the MODIS dataset and a collection.
func fresh(b *testing.B, open opener) (store.Store, *datasets.Client, *datasets.Dataset, uuid.UUID) {
	b.Helper()
	st := open(b)
	c, err := datasets.NewClient(datasets.WithStore(st))
	if err != nil {
		b.Fatal(err)
	}
	ds, err := c.Datasets.Create(b.Context(), modis.Dataset())
	if err != nil {
		b.Fatal(err)
	}
	col, err := c.Collections.Create(b.Context(), ds.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return st, c, ds, col.ID
}

// chunks reads, maps and encodes the file as batch chunks.
func chunks(path string, ds *schema.Dataset) func(yield func(batch.Chunk, error) bool) {
	return func(yield func(batch.Chunk, error) bool) {
		src, err := ingest.Open(path)
		if err != nil {
			yield(batch.Chunk{}, err)
			return
		}
		defer src.Close()
		m, err := ingest.NewMapper(src.Schema(), ds, ingest.Mapping{}, path)
		if err != nil {
			yield(batch.Chunk{}, err)
			return
		}
		enc, err := convert.NewEncoder(ds, m.Schema())
		if err != nil {
			yield(batch.Chunk{}, err)
			return
		}
		var buf []byte
		var dps []store.Datapoint
		for bt, err := range src.Batches() {
			if err != nil {
				yield(batch.Chunk{}, err)
				return
			}
			rec, err := m.Map(bt)
			if err != nil {
				yield(batch.Chunk{}, err)
				return
			}
			buf, dps, err = enc.Encode(rec, buf[:0], dps[:0])
			rec.Release()
			if err != nil {
				yield(batch.Chunk{}, err)
				return
			}
			if !yield(batch.Chunk{Source: path, FirstRow: bt.FirstRow, Datapoints: dps}, nil) {
				return
			}
		}
	}
}

func report(b *testing.B, rows int) {
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N*rows)
	b.ReportMetric(per, "ns/row")
	b.ReportMetric(1e9/per, "rows/s")
}

// BenchmarkIngestEndToEnd is `granary ingest` at default settings, minus
// process start.
func BenchmarkIngestEndToEnd(b *testing.B) { ingestEndToEnd(b, embedded) }

// BenchmarkPostgresEndToEnd is the same into PostgreSQL (with PostGIS when
// the server has it); skipped without $GRANARY_TEST_POSTGRES.
func BenchmarkPostgresEndToEnd(b *testing.B) {
	pgtest.URL(b)
	ingestEndToEnd(b, postgresStore)
}

func ingestEndToEnd(b *testing.B, open opener) {
	path, rows := modis.Input(b)
	for b.Loop() {
		b.StopTimer()
		st, c, ds, col := fresh(b, open)
		b.StartTimer()
		res, err := batch.NewIngester(c.Datapoints, col, batch.WithExists(batch.QueryExists(c.Datapoints, ds.ID, col))).
			Run(b.Context(), chunks(path, ds.Schema))
		if err != nil || res.Created != int64(rows) {
			b.Fatalf("%+v %v", res, err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	report(b, rows)
}

// encodeAll pre-encodes the whole file (outside the timer), with the
// bounds the service computes for the store's spatial index.
func encodeAll(b *testing.B, path string, ds *schema.Dataset) [][]store.Datapoint {
	dec, err := convert.NewDecoder(ds, nil, schema.FieldGeometry)
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Release()
	var calls [][]store.Datapoint
	for ch, err := range chunks(path, ds) {
		if err != nil {
			b.Fatal(err)
		}
		dps := make([]store.Datapoint, len(ch.Datapoints))
		for i, dp := range ch.Datapoints {
			dps[i] = store.Datapoint{ID: dp.ID, Data: append([]byte(nil), dp.Data...)}
			if err := dec.Append(dp.Data); err != nil {
				b.Fatal(err)
			}
		}
		rec := dec.NewRecordBatch()
		geoms := rec.Column(0).(*array.Binary)
		for i := range dps {
			g, err := geo.ParseWKB(geoms.Value(i))
			if err != nil {
				b.Fatal(err)
			}
			dps[i].Bounds = geo.SphericalBounds(g)
		}
		rec.Release()
		calls = append(calls, dps)
	}
	return calls
}

// BenchmarkStoreFloor is the store's own bulk insert of the same rows,
// pre-encoded, with the bounds its spatial index keeps precomputed: the
// floor the end-to-end run is measured against.
func BenchmarkStoreFloor(b *testing.B) { storeFloor(b, embedded) }

// BenchmarkPostgresFloor is PostgreSQL's bulk insert (COPY into the table)
// of the same pre-encoded rows; skipped without $GRANARY_TEST_POSTGRES.
func BenchmarkPostgresFloor(b *testing.B) {
	pgtest.URL(b)
	storeFloor(b, postgresStore)
}

func storeFloor(b *testing.B, open opener) {
	path, rows := modis.Input(b)
	calls := encodeAll(b, path, modis.Dataset())
	for b.Loop() {
		b.StopTimer()
		st, _, _, col := fresh(b, open)
		b.StartTimer()
		for _, dps := range calls {
			if _, err := st.Ingest(b.Context(), col, dps, false); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	report(b, rows)
}

// BenchmarkTileboxStyle ingests the way a tilebox-go client does: a
// dynamic message per row filled field by field, proto.Marshal, and
// sequential calls of 8192 datapoints into the same embedded store.
func BenchmarkTileboxStyle(b *testing.B) {
	path, rows := modis.Input(b)
	for b.Loop() {
		b.StopTimer()
		st, c, ds, col := fresh(b, embedded)
		b.StartTimer()
		n := tileboxIngest(b, path, c, ds, col)
		if n != rows {
			b.Fatalf("%d rows", n)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	report(b, rows)
}

func tileboxIngest(b *testing.B, path string, c *datasets.Client, ds *datasets.Dataset, col uuid.UUID) int {
	src, err := ingest.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	m, err := ingest.NewMapper(src.Schema(), ds.Schema, ingest.Mapping{}, path)
	if err != nil {
		b.Fatal(err)
	}
	md := ds.MessageDescriptor()
	var values [][]byte
	n := 0
	flush := func() {
		if _, err := c.Datapoints.IngestEncoded(b.Context(), col, values, false); err != nil {
			b.Fatal(err)
		}
		values = values[:0]
	}
	for bt, err := range src.Batches() {
		if err != nil {
			b.Fatal(err)
		}
		rec, err := m.Map(bt)
		if err != nil {
			b.Fatal(err)
		}
		setters := make([]func(*dynamicpb.Message, int), rec.NumCols())
		for i, f := range rec.Schema().Fields() {
			setters[i] = messageSetter(md.Fields().ByName(protoreflect.Name(f.Name)), rec.Column(i))
		}
		for row := range int(rec.NumRows()) {
			msg := dynamicpb.NewMessage(md)
			for _, set := range setters {
				set(msg, row)
			}
			v, err := proto.Marshal(msg)
			if err != nil {
				b.Fatal(err)
			}
			values = append(values, v)
			if len(values) == datasets.MaxBatch {
				flush()
			}
			n++
		}
		rec.Release()
	}
	if len(values) > 0 {
		flush()
	}
	return n
}

// messageSetter copies one canonical column into a dynamic message field
// (the MODIS fields: timestamps, strings, integers and the geometry).
func messageSetter(fd protoreflect.FieldDescriptor, col arrow.Array) func(*dynamicpb.Message, int) {
	switch a := col.(type) {
	case *array.Timestamp:
		return func(m *dynamicpb.Message, i int) {
			if a.IsNull(i) {
				return
			}
			ns := int64(a.Value(i))
			ts := m.NewField(fd).Message()
			ts.Set(ts.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(ns/1e9))
			ts.Set(ts.Descriptor().Fields().ByNumber(2), protoreflect.ValueOfInt32(int32(ns%1e9)))
			m.Set(fd, protoreflect.ValueOfMessage(ts))
		}
	case *array.String:
		return func(m *dynamicpb.Message, i int) {
			if !a.IsNull(i) {
				m.Set(fd, protoreflect.ValueOfString(a.Value(i)))
			}
		}
	case *array.Int64:
		return func(m *dynamicpb.Message, i int) {
			if !a.IsNull(i) {
				m.Set(fd, protoreflect.ValueOfInt64(a.Value(i)))
			}
		}
	case *array.Uint64:
		return func(m *dynamicpb.Message, i int) {
			if !a.IsNull(i) {
				m.Set(fd, protoreflect.ValueOfUint64(a.Value(i)))
			}
		}
	case *array.Binary: // geometry
		return func(m *dynamicpb.Message, i int) {
			if a.IsNull(i) {
				return
			}
			g := m.NewField(fd).Message()
			g.Set(g.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfBytes(a.Value(i)))
			m.Set(fd, protoreflect.ValueOfMessage(g))
		}
	}
	panic(fmt.Sprintf("no setter for %s", col.DataType()))
}

// stored is one store holding the file, shared by the export benchmarks.
var stored struct {
	once sync.Once
	dir  string
	c    *datasets.Client
	ds   *datasets.Dataset
	col  uuid.UUID
	rows int
	err  error
}

func storedFile(b *testing.B) {
	path, rows := modis.Input(b)
	stored.once.Do(func() {
		stored.dir, stored.err = os.MkdirTemp("", "granary-bench")
		if stored.err != nil {
			return
		}
		st, err := sqlite.Open(filepath.Join(stored.dir, "granary.db"))
		if err != nil {
			stored.err = err
			return
		}
		c, _ := datasets.NewClient(datasets.WithStore(st))
		ds, err := c.Datasets.Create(context.Background(), modis.Dataset())
		if err != nil {
			stored.err = err
			return
		}
		col, _ := c.Collections.Create(context.Background(), ds.ID, "bench")
		_, stored.err = batch.NewIngester(c.Datapoints, col.ID).Run(context.Background(), chunks(path, ds.Schema))
		stored.c, stored.ds, stored.col, stored.rows = c, ds, col.ID, rows
	})
	if stored.err != nil {
		b.Fatal(stored.err)
	}
}

func exportGeoParquet(b *testing.B, out string) int64 {
	f, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	dec, err := convert.NewDecoder(stored.ds.Schema, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Release()
	w, err := export.NewWriter(f, export.GeoParquet, stored.ds.Schema, dec.Schema())
	if err != nil {
		b.Fatal(err)
	}
	all := datasets.IDInterval{StartID: uuid.Nil, EndID: uuid.Max}
	n, err := export.Datapoints(w, dec, stored.c.Datapoints.Query(b.Context(), stored.ds.ID,
		datasets.WithTemporalExtent(all), datasets.WithCollections(stored.col), datasets.WithPageSize(8192)), 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkExportGeoParquet is `granary query -o out.parquet` over every
// datapoint: query pages, decode, write GeoParquet (zstd).
func BenchmarkExportGeoParquet(b *testing.B) {
	storedFile(b)
	out := filepath.Join(b.TempDir(), "out.parquet")
	for b.Loop() {
		if n := exportGeoParquet(b, out); n != int64(stored.rows) {
			b.Fatalf("%d rows", n)
		}
	}
	report(b, stored.rows)
}

// BenchmarkExportReadBack reads the exported GeoParquet file back with
// arrow-go, every column: the decode floor the export is compared with.
func BenchmarkExportReadBack(b *testing.B) {
	storedFile(b)
	out := filepath.Join(b.TempDir(), "out.parquet")
	exportGeoParquet(b, out)
	for b.Loop() {
		rf, err := file.OpenParquetFile(out, false)
		if err != nil {
			b.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(rf, pqarrow.ArrowReadProperties{BatchSize: 8192}, memory.DefaultAllocator)
		if err != nil {
			b.Fatal(err)
		}
		rr, err := fr.GetRecordReader(b.Context(), nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rr.Next() {
			n += int(rr.RecordBatch().NumRows())
		}
		rr.Release()
		rf.Close()
		if n != stored.rows {
			b.Fatalf("%d rows", n)
		}
	}
	report(b, stored.rows)
}

// BenchmarkPeakRSS runs the granary binary on the file at default
// settings and reports its peak resident set size.
func BenchmarkPeakRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	path, rows := modis.Input(b)
	bin := filepath.Join(b.TempDir(), "granary")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/granaryhq/granary/cmd/granary").CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	yaml := filepath.Join(b.TempDir(), "modis.yaml")
	if err := os.WriteFile(yaml, []byte(modis.SchemaYAML), 0o644); err != nil {
		b.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	var peak int64 // KiB
	for b.Loop() {
		dir := b.TempDir()
		cmd := exec.Command(bin, "--quiet", "--store", filepath.Join(dir, "g.db"), "ingest", "--schema", yaml,
			"--dataset", "bench.modis", "--collection", "c", abs)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		// ru_maxrss of a child counts the parent's pages it shared before
		// exec, so poll the child's own high-water mark instead.
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	poll:
		for {
			select {
			case err := <-done:
				if err != nil {
					b.Fatal(err)
				}
				break poll
			case <-time.After(20 * time.Millisecond):
				if kb := vmHWM(status); kb > peak {
					peak = kb
				}
			}
		}
	}
	b.ReportMetric(float64(peak)/1024, "peak_RSS_MiB")
	report(b, rows)
}

// vmHWM reads a process's peak resident set size in KiB (0 if gone).
func vmHWM(status string) int64 {
	raw, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
