package geo

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/paulmach/orb"
)

func TestValidate(t *testing.T) {
	good := box(0, 0, 10, 10)
	open := orb.Polygon{{{0, 0}, {10, 0}, {10, 10}, {0, 10}}}
	cases := []struct {
		name string
		g    orb.Geometry
		opts []ValidateOption
		want string // "" means valid
	}{
		{"valid polygon", good, nil, ""},
		{"valid point", orb.Point{-180, 90}, nil, ""},
		{"valid collection", orb.Collection{good, orb.Point{1, 1}}, nil, ""},
		{"nil", nil, nil, "nil"},
		{"nan", orb.Polygon{{{0, 0}, {10, 0}, {math.NaN(), 10}, {0, 10}, {0, 0}}}, nil, "Polygon ring 0 vertex 2: non-finite coordinate"},
		{"inf", orb.Point{math.Inf(1), 0}, nil, "non-finite"},
		{"latitude", orb.LineString{{0, 0}, {1, 91}}, nil, "LineString vertex 1: latitude 91 outside [-90, 90]"},
		{"longitude", orb.Point{190, 0}, nil, "longitude 190 outside [-180, 180]"},
		{"open ring", open, nil, "Polygon ring 0 vertex 3: ring not closed"},
		{"open ring accepted", open, []ValidateOption{CloseRings()}, ""},
		{"short ring", orb.Polygon{{{0, 0}, {1, 1}, {0, 0}}}, nil, "ring 0: ring has 3 positions, needs at least 4"},
		{"short open ring", orb.Polygon{{{0, 0}, {1, 1}}}, []ValidateOption{CloseRings()}, "ring has 3 positions"},
		{"no rings", orb.Polygon{}, nil, "polygon has no rings"},
		{"empty multipolygon", orb.MultiPolygon{}, nil, "MultiPolygon: empty"},
		{"empty part", orb.MultiLineString{{{0, 0}, {1, 1}}, {}}, nil, "MultiLineString part 1: line has 0 positions"},
		{"short line", orb.LineString{{0, 0}}, nil, "needs at least 2"},
		{"empty collection", orb.Collection{}, nil, "GeometryCollection: empty"},
		{"where in a multipolygon", orb.MultiPolygon{good, {good[0], {{2, 2}, {2, 3}, {3, 3}, {3, 200}, {2, 2}}}}, nil,
			"MultiPolygon part 1 ring 1 vertex 3: latitude 200"},
		{"where in a collection", orb.Collection{good, orb.MultiPoint{{0, 0}, {0, -95}}}, nil, "MultiPoint part 1: latitude -95"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.g, c.opts...)
			if c.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestValidationErrorFields(t *testing.T) {
	err := Validate(orb.MultiPolygon{box(0, 0, 1, 1), {{{0, 0}, {1, 0}, {1, 1}, {0, 95}, {0, 0}}}})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err %v is not a *ValidationError", err)
	}
	if ve.Part != 1 || ve.Ring != 0 || ve.Vertex != 3 {
		t.Fatalf("got part %d ring %d vertex %d, want 1 0 3", ve.Part, ve.Ring, ve.Vertex)
	}
}

func TestCloseAllRings(t *testing.T) {
	open := orb.Polygon{{{0, 0}, {10, 0}, {10, 10}, {0, 10}}}
	closed := CloseAllRings(orb.MultiPolygon{open}).(orb.MultiPolygon)
	if err := Validate(closed); err != nil {
		t.Fatal(err)
	}
	if len(open[0]) != 4 {
		t.Fatal("CloseAllRings modified its input")
	}
	if got := CloseAllRings(good()); !orb.Equal(got, good()) {
		t.Fatal("closed rings changed")
	}
}

func good() orb.Polygon { return box(0, 0, 10, 10) }
