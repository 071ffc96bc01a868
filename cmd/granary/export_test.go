package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/datasets"
)

// inProcess runs granary in this process with the store in dir, with the
// verbs of this package registered whether or not main.go lists them yet.
func inProcess(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, stdin: strings.NewReader("")}
	root := a.rootCommand()
	have := map[string]bool{}
	for _, c := range root.Commands() {
		have[c.Name()] = true
	}
	if !have["copy"] {
		root.AddCommand(a.copyCommand())
	}
	if !have["convert"] {
		root.AddCommand(a.convertCommand())
	}
	root.SetArgs(append([]string{"--store", filepath.Join(dir, "granary.db")}, args...))
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		errb.WriteString("granary: " + err.Error() + "\n")
		code = exitFailure
		var ue usageError
		if errors.As(err, &ue) {
			code = exitUsage
		}
	}
	return result{out.String(), errb.String(), code}
}

func mustInProcess(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := inProcess(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("granary %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// exportTo runs what `granary query --dataset SLUG --collection C --time T -o path` runs.
func exportTo(t *testing.T, dir, slug, collection, path, format string) {
	t.Helper()
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out, quiet: true}
	c, err := datasets.NewClient(datasets.WithStorePath(filepath.Join(dir, "granary.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	ds, err := c.Datasets.Get(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	col, err := c.Collections.Get(ctx, ds.ID, collection)
	if err != nil {
		t.Fatal(err)
	}
	extent, _ := parseInterval("--time", "2000-01-01,2100-01-01")
	opts := []datasets.QueryOption{datasets.WithTemporalExtent(extent), datasets.WithCollections(col.ID)}
	if err := a.exportQuery(ctx, c, ds, opts, false, 0, &exportFlags{output: path, format: format}); err != nil {
		t.Fatal(err)
	}
}

// withoutIngestionTime drops what differs between two ingests of the same rows.
func withoutIngestionTime(rows []map[string]any) []map[string]any {
	for _, r := range rows {
		delete(r, "ingestion_time")
	}
	return rows
}

func sameRows(t *testing.T, what string, a, b []map[string]any) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d rows vs %d", what, len(a), len(b))
	}
	for i := range a {
		ja, jb := mustJSON(a[i]), mustJSON(b[i])
		if ja != jb {
			t.Fatalf("%s: row %d differs:\n%s\n%s", what, i, ja, jb)
		}
	}
}

// TestExportRoundTrip: ingest F, export G, ingest G into a fresh collection:
// identical IDs and values, for every format granary reads back.
func TestExportRoundTrip(t *testing.T) {
	dir := workdir(t)
	mustRun(t, dir, "ingest", "-q", "--schema", "granules.yaml", "--dataset", "my_org.granules", "--collection", "orig", "granules.csv")
	mustRun(t, dir, "ingest", "-q", "--schema", "measurements.yaml", "--dataset", "my_org.measurements", "--collection", "orig", "measurements.csv")
	query := func(slug, col string) []map[string]any {
		return withoutIngestionTime(jsonLines(t, mustRun(t, dir, "query", "--dataset", slug, "--collection", col, "--time", "2000-01-01,2100-01-01")))
	}
	for _, tc := range []struct{ slug, file, format string }{
		// Parquet carries the granules' durations as int64 with the
		// ARROW:schema hint, which the reader follows.
		{"my_org.granules", "g.parquet", ""},
		{"my_org.granules", "g.feather", ""},
		{"my_org.granules", "g.arrows", ""},
		{"my_org.granules", "g.csv", ""},
		{"my_org.measurements", "m.parquet", ""},
		{"my_org.measurements", "m.feather", ""},
		{"my_org.measurements", "m.csv", ""},
		{"my_org.measurements", "m.zst.arrow", "feather"},
	} {
		path := filepath.Join(dir, tc.file)
		exportTo(t, dir, tc.slug, "orig", path, tc.format)
		col := "from_" + strings.ReplaceAll(tc.file, ".", "_")
		mustRun(t, dir, "ingest", "-q", "--dataset", tc.slug, "--collection", col, path)
		sameRows(t, tc.file, query(tc.slug, "orig"), query(tc.slug, col))
	}
	// GeoParquet (a spatio-temporal dataset without durations), also with a
	// covering bbox column, which re-ingesting drops.
	os.WriteFile(filepath.Join(dir, "shapes.yaml"), []byte("group: my_org\ncode_name: shapes\nname: Shapes\nkind: spatiotemporal\nfields:\n  - {name: label, type: string}\n  - {name: ids, type: uuid, array: true}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "shapes.csv"), []byte("time,geometry,label,ids\n"+
		"2024-01-01T00:00:00.5Z,POINT (13.4 52.5),a,\"[\"\"6f1c0e6a-3b0c-4b3e-9a55-0b8f0d4f2a11\"\"]\"\n"+
		"2024-01-02T00:00:00Z,\"POLYGON ((10 50, 12 50, 12 52, 10 52, 10 50))\",b,[]\n"), 0o644)
	mustRun(t, dir, "ingest", "-q", "--schema", "shapes.yaml", "--dataset", "my_org.shapes", "--collection", "orig", "shapes.csv")
	exportTo(t, dir, "my_org.shapes", "orig", filepath.Join(dir, "s.parquet"), "")
	mustRun(t, dir, "ingest", "-q", "--dataset", "my_org.shapes", "--collection", "geoparquet", "s.parquet")
	sameRows(t, "geoparquet", query("my_org.shapes", "orig"), query("my_org.shapes", "geoparquet"))
	mustRun(t, dir, "query", "-q", "--dataset", "my_org.shapes", "--collection", "orig", "--time", "2000-01-01,2100-01-01", "--bbox-column", "-o", "sb.parquet")
	if yaml := mustRun(t, dir, "schema", "infer", "sb.parquet"); strings.Contains(yaml, "bbox") {
		t.Errorf("inference proposes the covering column:\n%s", yaml)
	}
	mustRun(t, dir, "ingest", "-q", "--dataset", "my_org.shapes", "--collection", "covering", "sb.parquet")
	sameRows(t, "geoparquet with a covering column", query("my_org.shapes", "orig"), query("my_org.shapes", "covering"))
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
