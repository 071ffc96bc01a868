package ingest

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/granaryhq/granary/geo"
)

// WithForce2D makes the Mapper drop the Z and M ordinates of geometries,
// as PostGIS's ST_Force2D does, instead of refusing them: granary stores
// 2-D geometries and drops nothing unasked. It applies to WKB/EWKB, WKT
// and GeoJSON values (binary or text columns, --set values) and to native
// GeoArrow coordinates with z/m; Stats.GeometriesFlattened counts the
// geometries that had any. Mapping options only.
func WithForce2D() Option { return func(o *options) { o.force2D = true } }

// force2DColumn returns src (a binary or text column of geometries) with
// every geometry made 2-D, and how many had Z or M. A value Force2D cannot
// read is kept as it is, for the conversion to report. When no value
// changes, src itself comes back (retained).
func force2DColumn(src arrow.Array, mem memory.Allocator) (arrow.Array, int64) {
	if e, ok := src.(array.ExtensionArray); ok {
		src = e.Storage()
	}
	var get func(int) []byte
	switch a := src.(type) {
	case *array.Binary:
		get = a.Value
	case *array.LargeBinary:
		get = a.Value
	case *array.String:
		get = func(i int) []byte { return []byte(a.Value(i)) }
	case *array.LargeString:
		get = func(i int) []byte { return []byte(a.Value(i)) }
	default:
		// Views and dictionaries: left as they are (a Z geometry then
		// fails the conversion with ErrNot2D).
		src.Retain()
		return src, 0
	}
	n := src.Len()
	flat := make([][]byte, n) // nil: unchanged
	var changed int64
	for i := range n {
		if src.IsNull(i) {
			continue
		}
		if out, ok, err := geo.Force2D(get(i)); err == nil && ok {
			flat[i] = out
			changed++
		}
	}
	if changed == 0 {
		src.Retain()
		return src, 0
	}
	b := array.NewBuilder(mem, src.DataType())
	defer b.Release()
	var bb *array.BinaryBuilder
	switch x := b.(type) {
	case *array.BinaryBuilder:
		bb = x
	case *array.StringBuilder:
		bb = x.BinaryBuilder
	case *array.LargeStringBuilder:
		bb = x.BinaryBuilder
	}
	bb.Reserve(n)
	for i := range n {
		switch {
		case src.IsNull(i):
			bb.AppendNull()
		case flat[i] != nil:
			bb.Append(flat[i])
		default:
			bb.Append(get(i))
		}
	}
	return b.NewArray(), changed
}

// coordDims is the number of ordinates of GeoArrow coordinate type dt
// (struct<x, y, …> or fixed_size_list<double>[n]), 0 if it is neither.
func coordDims(dt arrow.DataType) int {
	switch d := dt.(type) {
	case *arrow.StructType:
		return d.NumFields()
	case *arrow.FixedSizeListType:
		return int(d.Len())
	}
	return 0
}

// isNativeGeoColumn reports whether col holds native GeoArrow geometries
// (coordinates in arrays rather than encoded values).
func isNativeGeoColumn(col arrow.Field) bool {
	c, ok := geoColumnFromField(col, nil)
	return ok && isNativeEncoding(c.Encoding)
}
