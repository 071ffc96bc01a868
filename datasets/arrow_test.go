package datasets_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/ingest"
	"github.com/granaryhq/granary/schema"
)

// embeddedCollection creates dataset s and a collection "main" in a new
// embedded store, closed when the test ends.
func embeddedCollection(t *testing.T, s *schema.Dataset) (*datasets.Client, *datasets.Dataset, *datasets.Collection) {
	t.Helper()
	c, err := datasets.NewClient(datasets.WithStorePath(filepath.Join(t.TempDir(), "g.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ds, err := c.Datasets.Create(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	col, err := c.Collections.Create(t.Context(), ds.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	return c, ds, col
}

func TestArrowRecordsRoundTrip(t *testing.T) {
	ctx := t.Context()
	s, _ := schema.New("etl", "readings", "Readings", schema.Temporal,
		[]schema.Field{{Name: "value", Type: schema.Float64}, {Name: "sensor", Type: schema.String}, {Name: "tags", Type: schema.String, Array: true}})
	c, ds, col := embeddedCollection(t, s)
	// ETL-style columns: millisecond times, float32, a column to drop via names.
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
		{Name: "value", Type: arrow.PrimitiveTypes.Float32},
		{Name: "sensor", Type: arrow.BinaryTypes.String},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	}, nil)
	records := func(yield func(arrow.RecordBatch, error) bool) {
		for k := range 3 {
			b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
			for i := range 5000 {
				n := k*5000 + i
				b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(1_704_067_200_000 + int64(n)*1000))
				b.Field(1).(*array.Float32Builder).Append(float32(n) / 4)
				b.Field(2).(*array.StringBuilder).Append("s1")
				lb := b.Field(3).(*array.ListBuilder)
				lb.Append(true)
				lb.ValueBuilder().(*array.StringBuilder).Append("a")
			}
			rec := b.NewRecordBatch()
			b.Release()
			ok := yield(rec, nil)
			rec.Release()
			if !ok {
				return
			}
		}
	}
	resp, err := c.Datapoints.IngestRecords(ctx, ds, col.ID, records, false, datasets.WithMaxCallBytes(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	if resp.NumCreated != 15000 || len(resp.DatapointIDs) != 15000 {
		t.Fatalf("created %d, %d ids", resp.NumCreated, len(resp.DatapointIDs))
	}
	// Re-running creates nothing.
	resp, err = c.Datapoints.IngestRecords(ctx, ds, col.ID, records, true)
	if err != nil || resp.NumExisting != 15000 {
		t.Fatalf("re-run: %+v %v", resp, err)
	}
	n := 0
	all := datasets.IDInterval{StartID: uuid.Nil, EndID: uuid.Max}
	for rec, err := range c.Datapoints.QueryRecords(ctx, ds, []datasets.QueryOption{datasets.WithTemporalExtent(all)}, datasets.WithRecordRows(4096)) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.NumRows() > 4096 || rec.Schema().Field(1).Name != "id" {
			t.Fatalf("record of %d rows, schema %s", rec.NumRows(), rec.Schema())
		}
		vals := rec.Column(3).(*array.Float64)
		ids := rec.Column(1).(*array.FixedSizeBinary)
		for i := range int(rec.NumRows()) {
			if vals.Value(i) != float64(n)/4 || uuid.UUID(ids.Value(i)) != resp.DatapointIDs[n] {
				t.Fatalf("row %d: value %v id %x", n, vals.Value(i), ids.Value(i))
			}
			n++
		}
	}
	if n != 15000 {
		t.Fatalf("%d rows back", n)
	}
}

// TestIngestRecordsMapperOptions: mapping options reach IngestRecords'
// mapper (here: Z geometries are refused, then flattened on request).
func TestIngestRecordsMapperOptions(t *testing.T) {
	ctx := t.Context()
	s, _ := schema.New("etl", "footprints", "Footprints", schema.SpatioTemporal, nil)
	c, ds, col := embeddedCollection(t, s)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Second}},
		{Name: "geometry", Type: arrow.BinaryTypes.String},
	}, nil)
	records := func(yield func(arrow.RecordBatch, error) bool) {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		defer b.Release()
		b.Field(0).(*array.TimestampBuilder).Append(1_704_067_200)
		b.Field(1).(*array.StringBuilder).Append("POINT Z (13.4 52.5 34)")
		rec := b.NewRecordBatch()
		defer rec.Release()
		yield(rec, nil)
	}
	if _, err := c.Datapoints.IngestRecords(ctx, ds, col.ID, records, false); err == nil || !strings.Contains(err.Error(), "2-D only") {
		t.Fatalf("a Z point without WithForce2D: %v", err)
	}
	resp, err := c.Datapoints.IngestRecords(ctx, ds, col.ID, records, false, datasets.WithMapperOptions(ingest.WithForce2D()))
	if err != nil || resp.NumCreated != 1 {
		t.Fatalf("with WithForce2D: %+v, %v", resp, err)
	}
}
