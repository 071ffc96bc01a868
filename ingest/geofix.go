package ingest

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// WithoutGeometryFix keeps geometries as given instead of cutting them at
// the antimeridian and fixing their winding (RFC 7946 §3.1.9). They are
// still validated. Mapping options only.
func WithoutGeometryFix() Option { return func(o *options) { o.noGeoFix = true } }

// fixColumn validates the geometries of the last column of cols, if it is a
// geometry field, and — unless turned off — replaces those that cross the
// antimeridian or are wound the wrong way by their fixed form, so that IDs
// are computed over what is stored. The fast check (geo.NeedsFix) keeps
// the usual footprint from being parsed at all.
func (m *Mapper) fixColumn(cols []arrow.Array, c mapped, b Batch, st *Stats) error {
	if c.field.Type != schema.Geometry || c.field.Array {
		return nil
	}
	a, ok := cols[len(cols)-1].(*array.Binary)
	if !ok {
		return nil
	}
	n := a.Len()
	var changed map[int][]byte
	var split, rewound int64
	for i := range n {
		if a.IsNull(i) || !geo.NeedsFix(a.Value(i)) {
			continue
		}
		fixed, s, err := m.fixOne(a.Value(i))
		if err != nil {
			return &Error{File: m.file, Row: b.FirstRow + int64(i), Line: b.Line(i), Column: c.name,
				Value: clip(geoText(a.Value(i))), Target: c.field.TypeString(), Err: plainErr(err)}
		}
		split += int64(s.Split)
		rewound += int64(s.Rewound)
		if fixed != nil {
			if changed == nil {
				changed = map[int][]byte{}
			}
			changed[i] = fixed
		}
	}
	st.GeometriesSplit += split
	st.RingsRewound += rewound
	if changed == nil {
		return nil
	}
	bld := array.NewBinaryBuilder(m.mem, arrow.BinaryTypes.Binary)
	defer bld.Release()
	bld.Reserve(n)
	for i := range n {
		switch v, ok := changed[i]; {
		case ok:
			bld.Append(v)
		case a.IsNull(i):
			bld.AppendNull()
		default:
			bld.Append(a.Value(i))
		}
	}
	cols[len(cols)-1] = bld.NewArray()
	a.Release()
	return nil
}

// fixOne parses, fixes and validates one canonical WKB geometry. It
// returns the new bytes, or nil when they stay as they are.
func (m *Mapper) fixOne(wkb []byte) ([]byte, geo.FixStats, error) {
	g, err := geo.ParseWKB(wkb)
	if err != nil {
		return nil, geo.FixStats{}, trimGeo(err)
	}
	if geo.IsEmpty(g) {
		// An empty geometry (POLYGON EMPTY, POINT EMPTY) is kept as given:
		// it is a footprint of nothing, which no spatial filter matches.
		return nil, geo.FixStats{}, nil
	}
	var st geo.FixStats
	if !m.noFix {
		if g, st, err = geo.Fix(g); err != nil {
			return nil, st, trimGeo(err)
		}
	}
	if err := geo.Validate(g); err != nil {
		return nil, st, trimGeo(err)
	}
	if m.noFix {
		return nil, st, nil
	}
	out, err := geo.MarshalWKB(g)
	if err != nil {
		return nil, st, trimGeo(err)
	}
	if string(out) == string(wkb) {
		return nil, st, nil
	}
	return out, st, nil
}

// geoText is a geometry as WKT for error messages.
func geoText(wkb []byte) string {
	g, err := geo.ParseWKB(wkb)
	if err != nil {
		return "invalid WKB"
	}
	return geo.WKT(g)
}
