package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// footprintsCSV holds footprints that are already valid as stored
// (cut at the antimeridian, closed over the pole), so the answers do not
// depend on the ingest's antimeridian fix.
const footprintsCSV = `time,granule_name,geometry
2024-03-01T10:00:00Z,berlin,"POLYGON ((13 52, 14 52, 14 53, 13 53, 13 52))"
2024-03-01T10:05:00Z,pacific,"MULTIPOLYGON (((170 -10, 180 -10, 180 10, 170 10, 170 -10)), ((-180 -10, -170 -10, -170 10, -180 10, -180 -10)))"
2024-03-01T10:10:00Z,lima,POINT (-77 -12)
2024-03-01T10:15:00Z,arctic,"POLYGON ((-180 80, -90 80, 0 80, 90 80, 180 80, 180 90, -180 90, -180 80))"
2024-03-01T10:20:00Z,nowhere,
`

func TestSpatialQuery(t *testing.T) {
	dir := workdir(t)
	os.WriteFile(filepath.Join(dir, "footprints.csv"), []byte(footprintsCSV), 0o644)
	os.WriteFile(filepath.Join(dir, "area.geojson"), []byte(`{"type": "Feature", "properties": {"name": "around berlin"},
		"geometry": {"type": "Polygon", "coordinates": [[[12, 51], [15, 51], [15, 54], [12, 54], [12, 51]]]}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "lima.wkt"), []byte("POLYGON ((-80 -15, -70 -15, -70 -10, -80 -10, -80 -15))\n"), 0o644)
	mustRun(t, dir, "ingest", "--schema", "granules.yaml", "--dataset", "my_org.granules", "--collection", "c", "footprints.csv")

	names := func(args ...string) []string {
		t.Helper()
		args = append([]string{"query", "--dataset", "my_org.granules", "--time", "2024-03-01,2024-03-02"}, args...)
		var out []string
		for _, row := range jsonLines(t, mustRun(t, dir, args...)) {
			if name, ok := row["granule_name"].(string); ok {
				out = append(out, name)
			}
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--bbox", "5,45,15,55"}, []string{"berlin"}},
		// West > east: a box over the Pacific, across the antimeridian.
		{[]string{"--bbox", "165,-5,-165,5"}, []string{"pacific"}},
		{[]string{"--bbox", "175,-5,179,5"}, []string{"pacific"}},
		{[]string{"--bbox", "-179,-5,-175,5"}, []string{"pacific"}},
		{[]string{"--bbox", "165,-5,-165,5", "--mode", "contains"}, nil},
		{[]string{"--bbox", "160,-20,-160,20", "--mode", "contains"}, []string{"pacific"}},
		{[]string{"--bbox", "160,-20,-160,20", "--mode", "contains", "--spherical"}, []string{"pacific"}},
		{[]string{"--bbox", "-30,-30,30,30"}, nil},
		// Wider than 180°: still the box it says.
		{[]string{"--bbox", "-100,-30,100,60"}, []string{"berlin", "lima"}},
		{[]string{"--bbox", "-180,-90,180,90", "--mode", "contains"}, []string{"berlin", "pacific", "lima", "arctic"}},
		// Near the pole, between 80° and the great-circle bulge of the
		// cap's edge (82.9° at 45°E): inside in the plane, not on the sphere.
		{[]string{"--bbox", "44,80.5,46,81.5"}, []string{"arctic"}},
		{[]string{"--bbox", "44,80.5,46,81.5", "--spherical"}, nil},
		{[]string{"--bbox", "-10,85,10,89", "--spherical"}, []string{"arctic"}},
		{[]string{"--geometry", "POLYGON ((-80 -15, -70 -15, -70 -10, -80 -10, -80 -15))"}, []string{"lima"}},
		{[]string{"--geometry", "@lima.wkt", "--mode", "contains"}, []string{"lima"}},
		{[]string{"--geometry", "@area.geojson", "--mode", "contains"}, []string{"berlin"}},
		{[]string{"--geometry", "POINT (13.5 52.5)"}, []string{"berlin"}},
		// A 3-D area filters by its footprint.
		{[]string{"--geometry", "POLYGON Z ((-80 -15 100, -70 -15 100, -70 -10 200, -80 -10 200, -80 -15 100))"}, []string{"lima"}},
		{[]string{"--bbox", "-180,-90,180,90", "--spherical"}, []string{"berlin", "pacific", "lima", "arctic"}},
		// A ring across the antimeridian means the short way round.
		{[]string{"--geometry", "POLYGON ((175 -5, -175 -5, -175 5, 175 5, 175 -5))", "--spherical"}, []string{"pacific"}},
	} {
		if got := names(tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	// With --limit and --skip-data.
	if rows := jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.granules", "--time", "2024-03-01,2024-03-02",
		"--bbox", "-180,-90,180,90", "--skip-data")); len(rows) != 4 || rows[0]["granule_name"] != nil || rows[0]["id"] == nil {
		t.Errorf("--skip-data: %v", rows)
	}
	if rows := jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.granules", "--time", "2024-03-01,2024-03-02",
		"--bbox", "-180,-90,180,90", "--limit", "2")); len(rows) != 2 || rows[1]["granule_name"] != "pacific" {
		t.Errorf("--limit 2: %v", rows)
	}

	// A temporal dataset has no geometry.
	mustRun(t, dir, "ingest", "--schema", "measurements.yaml", "--dataset", "my_org.measurements", "--collection", "c1", "measurements.csv")
	r := granary(t, dir, "query", "--dataset", "my_org.measurements", "--time", "2024-01-01,2024-01-06", "--bbox", "0,0,1,1")
	if r.code != 1 || !strings.Contains(r.stderr, "temporal") {
		t.Errorf("spatial filter on a temporal dataset: exit %d: %s", r.code, r.stderr)
	}
}

func TestSpatialUsageErrors(t *testing.T) {
	dir := t.TempDir()
	base := []string{"query", "--dataset", "x", "--time", "2024-01-01,2024-01-02"}
	for _, args := range [][]string{
		{"--bbox", "1,2,3"},
		{"--bbox", "a,b,c,d"},
		{"--bbox", "0,10,1,5"},
		{"--bbox", "0,0,200,1"},
		{"--bbox", "0,-95,1,1"},
		{"--bbox", "0,0,1,NaN"},
		{"--bbox", "0,0,1,1", "--geometry", "POINT (0 0)"},
		{"--bbox", "0,0,1,1", "--mode", "within"},
		{"--spherical"},
		{"--mode", "contains"},
		{"--geometry", "POLYGON (("},
		{"--geometry", "CIRCLE (0 0, 1)"},
	} {
		r := granary(t, dir, append(base, args...)...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("granary query %s: exit %d, stderr %q; want exit 2 and a message", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if out := mustRun(t, dir, "query", "--help"); !strings.Contains(out, "--bbox 170,-10,-170,10") || !strings.Contains(out, "--geometry @") {
		t.Errorf("query --help lacks spatial examples:\n%s", out)
	}
}

// TestGeoFix: geo fix cuts a crossing footprint and keeps the properties;
// positions with Z are refused unless --force-2d.
func TestGeoFix(t *testing.T) {
	dir := t.TempDir()
	feature := `{"type":"Feature","properties":{"v":[1,2,3]},"geometry":{"type":"Polygon","coordinates":[[[170,-10%[1]s],[-170,-10%[1]s],[-170,10%[1]s],[170,10%[1]s],[170,-10%[1]s]]]}}`
	os.WriteFile(filepath.Join(dir, "flat.geojson"), []byte(fmt.Sprintf(feature, "")), 0o644)
	os.WriteFile(filepath.Join(dir, "z.geojson"), []byte(fmt.Sprintf(feature, ",5")), 0o644)
	out := mustRun(t, dir, "geo", "fix", "flat.geojson")
	if !strings.Contains(out, `"MultiPolygon"`) || !strings.Contains(out, `"v":[1,2,3]`) {
		t.Fatalf("fixed: %s", out)
	}
	if r := granary(t, dir, "geo", "fix", "z.geojson"); r.code != 1 || !strings.Contains(r.stderr, "2-D only") || !strings.Contains(r.stderr, "--force-2d") {
		t.Fatalf("Z refused: exit %d %s", r.code, r.stderr)
	}
	if got := mustRun(t, dir, "geo", "fix", "--force-2d", "z.geojson"); got != out {
		t.Fatalf("--force-2d: %s, want %s", got, out)
	}
}
