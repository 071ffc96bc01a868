package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestConvert: file → mapping → IDs → file without a store; ingesting the
// output gives the IDs that ingesting the input gives.
func TestConvert(t *testing.T) {
	dir := workdir(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	out := mustInProcess(t, dir, "convert", "--schema", p("measurements.yaml"), p("measurements.csv"), p("m.parquet"))
	if !strings.Contains(out, "converted 8 row(s)") {
		t.Fatalf("convert: %s", out)
	}
	if r := granary(t, dir, "dataset", "list"); strings.Contains(r.stdout, "measurements") {
		t.Fatal("convert --schema created a dataset")
	}
	mustRun(t, dir, "ingest", "-q", "--schema", "measurements.yaml", "--dataset", "my_org.measurements", "--collection", "csv", "measurements.csv")
	mustRun(t, dir, "ingest", "-q", "--dataset", "my_org.measurements", "--collection", "parquet", "m.parquet")
	q := func(col string) []map[string]any {
		return withoutIngestionTime(jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.measurements", "--collection", col, "--time", "2000-01-01,2100-01-01")))
	}
	sameRows(t, "convert", q("csv"), q("parquet"))

	// Mapping flags and the spatio-temporal example, into CSV and Feather.
	mustInProcess(t, dir, "convert", "--schema", p("granules.yaml"), "--drop", "cloud_cover", p("granules.csv"), p("g.csv"))
	lines := strings.Split(mustRead(t, p("g.csv")), "\n")
	if lines[0] != "time,id,geometry,granule_name,end_time,cloud_cover,tile,processing_time,product_id" ||
		!strings.Contains(lines[1], "MOD09.A2024061.1015,2024-03-01T10:20:00Z,,") {
		t.Fatalf("dropped column not empty:\n%s\n%s", lines[0], lines[1])
	}
	mustInProcess(t, dir, "convert", "--schema", p("granules.yaml"), "--format", "feather", "--compression", "zstd", p("granules.csv"), p("g.out"))
	mustRun(t, dir, "ingest", "-q", "--schema", "granules.yaml", "--dataset", "my_org.granules", "--collection", "a", "granules.csv")
	mustRun(t, dir, "ingest", "-q", "--dataset", "my_org.granules", "--collection", "b", "g.out")
	g := func(col string) []map[string]any {
		return withoutIngestionTime(jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.granules", "--collection", col, "--time", "2000-01-01,2100-01-01")))
	}
	sameRows(t, "convert feather", g("a"), g("b"))

	if r := inProcess(t, dir, "convert", "--schema", p("granules.yaml"), p("granules.csv"), p("g.xlsx")); r.code != 2 {
		t.Fatalf("unknown extension: exit %d %s", r.code, r.stderr)
	}
	if r := inProcess(t, dir, "convert", p("granules.csv"), p("g.csv")); r.code != 2 {
		t.Fatalf("no schema: exit %d", r.code)
	}
}
