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
// and GeoJSON values (binary, text, view or dictionary columns, --set
// values) and to native
// GeoArrow coordinates with z/m; Stats.GeometriesFlattened counts the
// geometries that had any. Mapping options only.
func WithForce2D() Option { return func(o *options) { o.force2D = true } }

// force2DColumn returns src (a binary or text column of geometries, plain,
// view or dictionary-encoded) with every geometry made 2-D, and how many
// rows had Z or M. A value Force2D cannot read is kept as it is, for the
// conversion to report. When no value changes, src comes back retained.
func force2DColumn(src arrow.Array, mem memory.Allocator) (arrow.Array, int64) {
	if e, ok := src.(array.ExtensionArray); ok {
		src = e.Storage()
	}
	if d, ok := src.(*array.Dictionary); ok {
		changed, n := force2DValues(d.Dictionary())
		if n == 0 {
			src.Retain()
			return src, 0
		}
		var rows int64
		for i := range d.Len() {
			if d.IsValid(i) && changed[d.GetValueIndex(i)] != nil {
				rows++
			}
		}
		if rows == 0 {
			src.Retain()
			return src, 0
		}
		values := rebuild(d.Dictionary(), changed, mem)
		defer values.Release()
		return array.NewDictionaryArray(d.DataType(), d.Indices(), values), rows
	}
	flat, rows := force2DValues(src)
	if rows == 0 {
		src.Retain()
		return src, 0
	}
	return rebuild(src, flat, mem), rows
}

// force2DValues flattens each value of a binary or text array: the new
// bytes per row (nil: unchanged or null) and how many changed. Other
// arrays are left alone (a Z geometry then fails its conversion).
func force2DValues(src arrow.Array) ([][]byte, int64) {
	get := geometryBytes(src)
	if get == nil {
		return nil, 0
	}
	flat := make([][]byte, src.Len())
	var changed int64
	for i := range src.Len() {
		if src.IsNull(i) {
			continue
		}
		if out, ok, err := geo.Force2D(get(i)); err == nil && ok {
			flat[i] = out
			changed++
		}
	}
	return flat, changed
}

// rebuild copies src with the values in flat (where not nil) replaced.
func rebuild(src arrow.Array, flat [][]byte, mem memory.Allocator) arrow.Array {
	get := geometryBytes(src)
	b := array.NewBuilder(mem, src.DataType())
	defer b.Release()
	var add func([]byte)
	switch x := b.(type) {
	case *array.BinaryBuilder:
		add = x.Append
	case *array.StringBuilder:
		add = x.BinaryBuilder.Append
	case *array.LargeStringBuilder:
		add = x.BinaryBuilder.Append
	case *array.BinaryViewBuilder:
		add = x.Append
	case *array.StringViewBuilder:
		add = x.BinaryViewBuilder.Append
	}
	b.Reserve(src.Len())
	for i := range src.Len() {
		switch {
		case src.IsNull(i):
			b.AppendNull()
		case flat[i] != nil:
			add(flat[i])
		default:
			add(get(i))
		}
	}
	return b.NewArray()
}

// geometryBytes reads the values of a binary or text array as bytes, nil
// for any other array.
func geometryBytes(src arrow.Array) func(int) []byte {
	switch dt := src.DataType(); {
	case isText(dt):
		get := textOf(src)
		return func(i int) []byte { return []byte(get(i)) }
	case isBinary(dt) && dt.ID() != arrow.FIXED_SIZE_BINARY:
		return bytesOf(src)
	}
	return nil
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
