package ingest

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

func TestMapFixesGeometries(t *testing.T) {
	csv := "time,geometry\n" +
		"2024-01-01T00:00:00Z,\"POLYGON ((10 50, 12 50, 12 52, 10 52, 10 50))\"\n" + // fine as is
		"2024-01-01T00:01:00Z,\"POLYGON ((170 -10, -170 -10, -170 10, 170 10, 170 -10))\"\n" + // crosses
		"2024-01-01T00:02:00Z,\"POLYGON ((10 50, 10 52, 12 52, 12 50, 10 50))\"\n" + // clockwise
		"2024-01-01T00:03:00Z,\n" +
		"2024-01-01T00:04:00Z,POLYGON EMPTY\n"
	path := writeFile(t, "g.csv", csv)
	ds := dataset(t, schema.SpatioTemporal)
	var got []orb.Geometry
	st, err := mapFile(t, path, ds, Mapping{}, func(rec arrow.RecordBatch) {
		col := rec.Column(1).(*array.Binary)
		for i := range col.Len() {
			if col.IsNull(i) {
				got = append(got, nil)
				continue
			}
			g, err := geo.ParseWKB(col.Value(i))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, g)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.GeometriesSplit != 1 || st.RingsRewound != 1 {
		t.Errorf("stats %+v, want 1 split and 1 rewound", st)
	}
	if _, ok := got[1].(orb.MultiPolygon); !ok || len(got[1].(orb.MultiPolygon)) != 2 {
		t.Errorf("crossing polygon stored as %s, want two pieces", geo.WKT(got[1]))
	}
	for i, g := range got {
		if g == nil || geo.IsEmpty(g) {
			continue
		}
		again, _, err := geo.Fix(g)
		if err != nil || geo.WKT(again) != geo.WKT(g) {
			t.Errorf("row %d is not fixed: %s → %s (%v)", i+1, geo.WKT(g), geo.WKT(again), err)
		}
	}
	if got[3] != nil || !geo.IsEmpty(got[4]) {
		t.Errorf("null and empty geometries: %v %v", got[3], got[4])
	}

	// Turned off: kept as given, but still validated.
	var kept []string
	st, err = mapFile(t, path, ds, Mapping{}, func(rec arrow.RecordBatch) {
		col := rec.Column(1).(*array.Binary)
		for i := range col.Len() {
			if !col.IsNull(i) {
				g, _ := geo.ParseWKB(col.Value(i))
				kept = append(kept, geo.WKT(g))
			}
		}
	}, WithoutGeometryFix())
	if err != nil || st.GeometriesSplit != 0 || kept[1] != "POLYGON((170 -10,-170 -10,-170 10,170 10,170 -10))" {
		t.Fatalf("without fix: %v %+v %v", err, st, kept)
	}

	bad := writeFile(t, "bad.csv", "time,geometry\n2024-01-01T00:00:00Z,\"POLYGON ((10 50, 12 50, 12 95, 10 50))\"\n")
	_, err = mapFile(t, bad, ds, Mapping{}, nil)
	e := asError(t, err)
	if e.Row != 1 || e.Column != "geometry" {
		t.Fatalf("error %v: want row 1, column geometry", err)
	}
	wantErr(t, err, "bad.csv", "latitude")
}
