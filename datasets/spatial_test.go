package datasets_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

func TestSpatialOptions(t *testing.T) {
	ctx := t.Context()
	client, err := datasets.NewClient(datasets.WithStorePath(filepath.Join(t.TempDir(), "granary.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	s, err := schema.New("", "granules", "Granules", schema.SpatioTemporal, []schema.Field{{Name: "name", Type: schema.String}})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := client.Datasets.Create(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	col, err := client.Collections.Create(ctx, ds.ID, "all")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var points []proto.Message
	for i, fp := range []struct {
		name string
		g    orb.Geometry
	}{
		{"berlin", orb.Point{13.4, 52.5}},
		{"pacific", orb.MultiPolygon{
			orb.Bound{Min: orb.Point{175, -5}, Max: orb.Point{180, 5}}.ToPolygon(),
			orb.Bound{Min: orb.Point{-180, -5}, Max: orb.Point{-175, 5}}.ToPolygon()}},
		{"lima", orb.Point{-77, -12}},
		{"nowhere", nil},
	} {
		m := ds.NewMessage()
		setTime(m, "time", t0.Add(time.Duration(i)*time.Minute))
		m.Set(m.Descriptor().Fields().ByName("name"), protoreflect.ValueOfString(fp.name))
		if fp.g != nil {
			wkb, err := geo.MarshalWKB(fp.g)
			if err != nil {
				t.Fatal(err)
			}
			gf := m.Descriptor().Fields().ByName("geometry")
			gm := m.NewField(gf).Message()
			gm.Set(gm.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfBytes(wkb))
			m.Set(gf, protoreflect.ValueOfMessage(gm))
		}
		points = append(points, m)
	}
	if _, err := client.Datapoints.Ingest(ctx, col.ID, points, false); err != nil {
		t.Fatal(err)
	}
	names := func(opts ...datasets.QueryOption) []string {
		t.Helper()
		var got []*dynamicpb.Message
		opts = append(opts, datasets.WithTemporalExtent(datasets.NewTimeInterval(t0, t0.Add(time.Hour))), datasets.WithPageSize(1))
		if err := client.Datapoints.QueryInto(ctx, ds, &got, opts...); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range got {
			out = append(out, m.Get(m.Descriptor().Fields().ByName("name")).String())
		}
		return out
	}
	for _, tc := range []struct {
		name string
		opt  datasets.QueryOption
		want []string
	}{
		{"europe", datasets.WithSpatialExtent(geo.BBoxPolygon(-10, 35, 30, 60)), []string{"berlin"}},
		// An orb.Bound wider than 180° stays the box it is.
		{"a wide bound", datasets.WithSpatialExtent(orb.Bound{Min: orb.Point{-100, -30}, Max: orb.Point{100, 60}}), []string{"berlin", "lima"}},
		{"a bound across the antimeridian", datasets.WithSpatialExtent(orb.Bound{Min: orb.Point{170, -10}, Max: orb.Point{-170, 10}}), []string{"pacific"}},
		{"a ring across the antimeridian", datasets.WithSpatialExtent(orb.Polygon{{{170, -10}, {-170, -10}, {-170, 10}, {170, 10}, {170, -10}}}), []string{"pacific"}},
		{"contains", datasets.WithSpatialFilter(geo.BBoxPolygon(178, -10, -178, 10), geo.Contains, geo.Cartesian), nil},
		{"contains, spherical", datasets.WithSpatialFilter(geo.BBoxPolygon(160, -20, -160, 20), geo.Contains, geo.Spherical), []string{"pacific"}},
		{"the whole globe", datasets.WithSpatialExtent(orb.Bound{Min: orb.Point{-180, -90}, Max: orb.Point{180, 90}}), []string{"berlin", "pacific", "lima"}},
	} {
		if got := names(tc.opt); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	var got []*dynamicpb.Message
	err = client.Datapoints.QueryInto(ctx, ds, &got, datasets.WithTemporalExtent(datasets.NewTimeInterval(t0, t0.Add(time.Hour))),
		datasets.WithSpatialFilter(orb.Point{0, 0}, geo.Mode(9), geo.Cartesian))
	if err == nil {
		t.Error("an unknown mode: no error")
	}
}
