// Package modis generates MODIS-like granule tables for benchmarks: one row
// per 5-minute swath granule with a footprint polygon, tile numbers, sizes,
// checksums and times, written as GeoParquet. The data is synthetic but
// shaped like a real granule catalogue (time-ordered, ~100-byte polygons,
// low-cardinality strings, a nullable column).
package modis

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// SchemaYAML is the granary schema the generated files map onto by name.
const SchemaYAML = `group: bench
code_name: modis
name: MODIS-like granules
kind: spatiotemporal
fields:
  - {name: end_time, type: timestamp}
  - {name: granule_name, type: string}
  - {name: horizontal_tile, type: int64}
  - {name: vertical_tile, type: int64}
  - {name: file_size, type: uint64}
  - {name: checksum, type: string}
  - {name: day_night_flag, type: string}
  - {name: published_at, type: timestamp}
`

// Dataset parses SchemaYAML.
func Dataset() *schema.Dataset {
	ds, err := schema.Parse("modis.yaml", []byte(SchemaYAML))
	if err != nil {
		panic(err)
	}
	return ds
}

// arrowSchema is the file's schema: microsecond timestamps as most Parquet
// writers produce, WKB geometry.
func arrowSchema() *arrow.Schema {
	us := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	geoMeta := `{"version":"1.1.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB","geometry_types":["Polygon"],"crs":null}}}`
	md := arrow.NewMetadata([]string{"geo"}, []string{geoMeta})
	return arrow.NewSchema([]arrow.Field{
		{Name: "time", Type: us},
		{Name: "end_time", Type: us},
		{Name: "granule_name", Type: arrow.BinaryTypes.String},
		{Name: "geometry", Type: arrow.BinaryTypes.Binary},
		{Name: "horizontal_tile", Type: arrow.PrimitiveTypes.Int64},
		{Name: "vertical_tile", Type: arrow.PrimitiveTypes.Int64},
		{Name: "file_size", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "checksum", Type: arrow.BinaryTypes.String},
		{Name: "day_night_flag", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "published_at", Type: us},
	}, &md)
}

// Write generates rows rows into a GeoParquet file at path.
func Write(ctx context.Context, path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := arrowSchema()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy), parquet.WithMaxRowGroupLength(128<<10))
	w, err := pqarrow.NewFileWriter(sc, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(2024, 1))
	start := int64(1704067200) * 1e6 // 2024-01-01 in µs
	const batch = 64 << 10
	for lo := 0; lo < rows; lo += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := makeBatch(sc, rng, start, lo, min(batch, rows-lo))
		err := w.WriteBuffered(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	// Closing the writer closes the file too.
	return w.Close()
}

func makeBatch(sc *arrow.Schema, rng *rand.Rand, start int64, first, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	flags := []string{"Day", "Night", "Both"}
	for i := first; i < first+n; i++ {
		t := start + int64(i)*300e6 // one granule per 5 minutes
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(t))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(t + 299e6))
		doy := 1 + (i/288)%366
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("MOD09GA.A2024%03d.%04d.061.%013d.hdf", doy, (i%288)*5, 2024000000000+int64(i)))
		wkb, _ := geo.MarshalWKB(footprint(rng))
		b.Field(3).(*array.BinaryBuilder).Append(wkb)
		b.Field(4).(*array.Int64Builder).Append(int64(rng.IntN(36)))
		b.Field(5).(*array.Int64Builder).Append(int64(rng.IntN(18)))
		b.Field(6).(*array.Uint64Builder).Append(uint64(20e6 + rng.IntN(80e6)))
		b.Field(7).(*array.StringBuilder).Append(fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()))
		if rng.IntN(10) == 0 {
			b.Field(8).AppendNull()
		} else {
			b.Field(8).(*array.StringBuilder).Append(flags[rng.IntN(len(flags))])
		}
		b.Field(9).(*array.TimestampBuilder).Append(arrow.Timestamp(t + int64(3600+rng.IntN(86400))*1e6))
	}
	return b.NewRecordBatch()
}

// footprint is a swath-like quadrilateral, about 10° across, that never
// crosses the antimeridian (so benchmarks measure the common case).
func footprint(rng *rand.Rand) orb.Polygon {
	lon := -170 + rng.Float64()*330
	lat := -70 + rng.Float64()*130
	w := 8 + rng.Float64()*4
	h := 8 + rng.Float64()*4
	skew := (rng.Float64() - 0.5) * 2
	r := orb.Ring{
		{lon, lat}, {lon + w, lat + skew}, {lon + w + skew, math.Min(lat+h, 89)}, {lon + skew, math.Min(lat+h+skew, 89)}, {lon, lat},
	}
	return orb.Polygon{r}
}
