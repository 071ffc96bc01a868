package ingest

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// planForColumn plans the conversion of column col onto field f. A column
// with GeoArrow metadata (GeoArrow extension types, GeoParquet geometry
// columns, Parquet GEOMETRY/GEOGRAPHY) mapped onto a geometry field has
// its CRS checked (longitude/latitude only) and native GeoArrow encodings
// converted to WKB (with po.force2D, z and m coordinates are dropped);
// everything else goes to planFor.
func planForColumn(col arrow.Field, f schema.Field, po planOpts) (*plan, error) {
	if f.Type != schema.Geometry || f.Array {
		return planFor(col.Type, f, po)
	}
	c, ok := geoColumnFromField(col, nil)
	if !ok {
		return planFor(col.Type, f, po)
	}
	if err := c.CheckCRS(); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), fmt.Sprintf("geometry column %q: ", col.Name)))
	}
	storage := col.Type
	if et, isExt := storage.(arrow.ExtensionType); isExt {
		storage = et.StorageType()
	}
	switch c.Encoding {
	case encWKB, encWKT:
		p, err := planFor(storage, f, po)
		if err != nil {
			return nil, err
		}
		return unwrapExtension(p), nil
	case encPoint, encLineString, encPolygon, encMultiPoint, encMultiLineString, encMultiPolygon, encBox:
		p, err := nativeGeometryPlan(storage, c.Encoding, po.force2D)
		if err != nil {
			return nil, fmt.Errorf("no conversion from GeoArrow %s %s to geometry: %w", c.Encoding, storage, err)
		}
		return unwrapExtension(p), nil
	}
	return nil, fmt.Errorf("unsupported geometry encoding %q", c.Encoding)
}

// unwrapExtension makes p accept registered extension arrays too.
func unwrapExtension(p *plan) *plan {
	out := &plan{text: p.text, bind: func(src arrow.Array, b array.Builder, st *Stats) cellFunc {
		if e, ok := src.(array.ExtensionArray); ok {
			src = e.Storage()
		}
		return p.bind(src, b, st)
	}}
	if p.same != nil {
		out.same = func(src arrow.Array, dt arrow.DataType) arrow.Array {
			if e, ok := src.(array.ExtensionArray); ok {
				src = e.Storage()
			}
			return p.same(src, dt)
		}
	}
	return out
}

// coordReader reads the x/y of vertex j of a GeoArrow coordinate array:
// struct<x, y> (separated) or fixed_size_list<double>[2] (interleaved).
type coordReader func(j int) (orb.Point, error)

// coordsOf plans reading a coordinate array of type dt. Only 2-D
// coordinates are accepted (package geo stores no Z or M) unless force2D
// is set, which reads the x and y of xyz, xym and xyzm coordinates.
func coordsOf(dt arrow.DataType, force2D bool) (func(arrow.Array) coordReader, error) {
	dims := coordDims(dt)
	if dims != 2 && (!force2D || dims < 2 || dims > 4) {
		if dims > 2 && dims <= 4 {
			return nil, fmt.Errorf("coordinates with %d dimensions (%s): only x/y are supported (2-D only; --force-2d drops z and m)", dims, dt)
		}
		if dims != 0 {
			return nil, fmt.Errorf("coordinates with %d dimensions (%s): only x/y are supported (2-D only)", dims, dt)
		}
	}
	switch d := dt.(type) {
	case *arrow.StructType:
		xi, yi := -1, -1
		for i, fl := range d.Fields() {
			switch strings.ToLower(fl.Name) {
			case "x":
				xi = i
			case "y":
				yi = i
			case "z", "m":
			default:
				if dims > 2 {
					return nil, fmt.Errorf("coordinate struct %s has a member %q besides x, y, z and m", dt, fl.Name)
				}
			}
			if !isFloat(fl.Type) {
				return nil, fmt.Errorf("coordinate %q is %s, want a float", fl.Name, fl.Type)
			}
		}
		if xi < 0 || yi < 0 {
			return nil, fmt.Errorf("coordinate struct %s has no x and y", dt)
		}
		return func(a arrow.Array) coordReader {
			s := a.(*array.Struct)
			xs, ys := s.Field(xi), s.Field(yi)
			gx, gy := floatOf(xs), floatOf(ys)
			return func(j int) (orb.Point, error) {
				if s.IsNull(j) || xs.IsNull(j) || ys.IsNull(j) {
					return orb.Point{}, errors.New("null coordinate")
				}
				return orb.Point{gx(j), gy(j)}, nil
			}
		}, nil
	case *arrow.FixedSizeListType:
		// Interleaved: x and y lead each position whatever follows.
		if !isFloat(d.Elem()) {
			return nil, fmt.Errorf("coordinates are %s, want floats", d.Elem())
		}
		return func(a arrow.Array) coordReader {
			l := a.(*array.FixedSizeList)
			vals := l.ListValues()
			get := floatOf(vals)
			return func(j int) (orb.Point, error) {
				if l.IsNull(j) {
					return orb.Point{}, errors.New("null coordinate")
				}
				lo, _ := l.ValueOffsets(j)
				if vals.IsNull(int(lo)) || vals.IsNull(int(lo)+1) {
					return orb.Point{}, errors.New("null coordinate")
				}
				return orb.Point{get(int(lo)), get(int(lo) + 1)}, nil
			}
		}, nil
	}
	return nil, fmt.Errorf("%s is not a GeoArrow coordinate type (struct<x, y> or fixed_size_list<double>[2])", dt)
}

func listOf(dt arrow.DataType) (arrow.DataType, bool) {
	switch d := dt.(type) {
	case *arrow.ListType:
		return d.Elem(), true
	case *arrow.LargeListType:
		return d.Elem(), true
	}
	return nil, false
}

// nativeGeometryPlan converts GeoArrow native arrays (GeoParquet 1.1
// "point" … "multipolygon", and geoarrow.box) into canonical WKB.
func nativeGeometryPlan(dt arrow.DataType, enc string, force2D bool) (*plan, error) {
	depth := map[string]int{encPoint: 0, encLineString: 1, encMultiPoint: 1, encPolygon: 2, encMultiLineString: 2, encMultiPolygon: 3}[enc]
	if enc == encBox {
		return boxPlan(dt)
	}
	coordDT := dt
	for k := 0; k < depth; k++ {
		e, ok := listOf(coordDT)
		if !ok {
			return nil, fmt.Errorf("want %d levels of lists around the coordinates", depth)
		}
		coordDT = e
	}
	coords, err := coordsOf(coordDT, force2D)
	if err != nil {
		return nil, err
	}
	flattens := coordDims(coordDT) > 2
	return &plan{bind: func(src arrow.Array, b array.Builder, st *Stats) cellFunc {
		out := b.(*array.BinaryBuilder)
		levels := make([]array.ListLike, depth)
		cur := src
		for k := 0; k < depth; k++ {
			levels[k] = cur.(array.ListLike)
			cur = levels[k].ListValues()
		}
		pt := coords(cur)
		span := func(k, i int) (int, int, error) {
			if levels[k].IsNull(i) {
				return 0, 0, errors.New("null element inside a geometry")
			}
			lo, hi := levels[k].ValueOffsets(i)
			return int(lo), int(hi), nil
		}
		points := func(k, i int) ([]orb.Point, error) {
			lo, hi, err := span(k, i)
			if err != nil {
				return nil, err
			}
			ps := make([]orb.Point, 0, hi-lo)
			for j := lo; j < hi; j++ {
				p, err := pt(j)
				if err != nil {
					return nil, err
				}
				ps = append(ps, p)
			}
			return ps, nil
		}
		rings := func(k, i int) ([]orb.Ring, error) {
			lo, hi, err := span(k, i)
			if err != nil {
				return nil, err
			}
			rs := make([]orb.Ring, 0, hi-lo)
			for j := lo; j < hi; j++ {
				ps, err := points(k+1, j)
				if err != nil {
					return nil, err
				}
				rs = append(rs, orb.Ring(ps))
			}
			return rs, nil
		}
		return func(i int) error {
			if src.IsNull(i) {
				out.AppendNull()
				return nil
			}
			var g orb.Geometry
			switch enc {
			case encPoint:
				p, err := pt(i)
				if err != nil {
					return err
				}
				g = p
			case encLineString, encMultiPoint:
				ps, err := points(0, i)
				if err != nil {
					return err
				}
				if enc == encLineString {
					g = orb.LineString(ps)
				} else {
					g = orb.MultiPoint(ps)
				}
			case encPolygon:
				rs, err := rings(0, i)
				if err != nil {
					return err
				}
				g = orb.Polygon(rs)
			case encMultiLineString:
				rs, err := rings(0, i)
				if err != nil {
					return err
				}
				ml := make(orb.MultiLineString, len(rs))
				for k, r := range rs {
					ml[k] = orb.LineString(r)
				}
				g = ml
			case encMultiPolygon:
				lo, hi, err := span(0, i)
				if err != nil {
					return err
				}
				mp := make(orb.MultiPolygon, 0, hi-lo)
				for j := lo; j < hi; j++ {
					rs, err := rings(1, j)
					if err != nil {
						return err
					}
					mp = append(mp, orb.Polygon(rs))
				}
				g = mp
			}
			w, err := geo.MarshalWKB(g)
			if err != nil {
				return trimGeo(err)
			}
			out.Append(w)
			if flattens {
				st.GeometriesFlattened++
			}
			return nil
		}
	}}, nil
}

// boxPlan converts geoarrow.box (struct<xmin, ymin, xmax, ymax>) into a
// polygon, or into two when the box crosses the antimeridian (xmin > xmax).
func boxPlan(dt arrow.DataType) (*plan, error) {
	st, ok := dt.(*arrow.StructType)
	if !ok {
		return nil, errors.New("a box is a struct<xmin, ymin, xmax, ymax>")
	}
	if st.NumFields() != 4 {
		return nil, fmt.Errorf("a box with %d members: only xmin, ymin, xmax, ymax are supported (2-D only)", st.NumFields())
	}
	idx := map[string]int{}
	for i, f := range st.Fields() {
		if !isFloat(f.Type) {
			return nil, fmt.Errorf("box member %q is %s, want a float", f.Name, f.Type)
		}
		idx[strings.ToLower(f.Name)] = i
	}
	names := []string{"xmin", "ymin", "xmax", "ymax"}
	for _, n := range names {
		if _, ok := idx[n]; !ok {
			return nil, fmt.Errorf("box has no member %q", n)
		}
	}
	return &plan{bind: func(src arrow.Array, b array.Builder, _ *Stats) cellFunc {
		s, out := src.(*array.Struct), b.(*array.BinaryBuilder)
		var get [4]func(int) float64
		var kids [4]arrow.Array
		for k, n := range names {
			kids[k] = s.Field(idx[n])
			get[k] = floatOf(kids[k])
		}
		return func(i int) error {
			if s.IsNull(i) {
				out.AppendNull()
				return nil
			}
			var v [4]float64
			for k := range v {
				if kids[k].IsNull(i) {
					return fmt.Errorf("box member %q is null", names[k])
				}
				v[k] = get[k](i)
			}
			if math.IsNaN(v[0]) || math.IsNaN(v[1]) || math.IsNaN(v[2]) || math.IsNaN(v[3]) {
				return errors.New("box has NaN bounds")
			}
			w, err := geo.MarshalWKB(geo.BBoxPolygon(v[0], v[1], v[2], v[3]))
			if err != nil {
				return trimGeo(err)
			}
			out.Append(w)
			return nil
		}
	}}, nil
}

// primaryGeometryColumn names the column a dataset's geometry field takes
// when no column is named geometry: the schema's primary geometry column
// (GeoParquet primary_column, or its only GeoArrow column).
func primaryGeometryColumn(sc *arrow.Schema) string {
	g, _ := schemaGeo(sc, nil, nil)
	if g == nil {
		return ""
	}
	return g.PrimaryColumn
}
