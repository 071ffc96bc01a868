package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The CLI tests run the built binary in a temporary directory, as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "granary-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "granary")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// granary runs the binary in dir with a store of its own.
func granary(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return granaryIn(t, dir, nil, args...)
}

// granaryIn runs granary with stdin as its standard input.
func granaryIn(t *testing.T, dir string, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GRANARY_STORE=")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := granary(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("granary %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// workdir is a temp dir holding copies of the examples.
func workdir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"measurements.yaml", "measurements.csv", "granules.yaml", "granules.csv"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	dir := workdir(t)
	mustRun(t, dir, "dataset", "create", "--schema", "measurements.yaml")
	if _, err := os.Stat(filepath.Join(dir, "granary.db")); err != nil {
		t.Fatalf("default store not created: %v", err)
	}
	list := mustRun(t, dir, "dataset", "list")
	if !strings.Contains(list, "my_org.measurements") {
		t.Fatalf("dataset list:\n%s", list)
	}

	sum := jsonLines(t, mustRun(t, dir, "ingest", "--json", "--dataset", "my_org.measurements", "--collection", "c1", "measurements.csv"))
	if len(sum) != 1 || sum[0]["read"] != 8.0 || sum[0]["created"] != 8.0 || sum[0]["existing"] != 0.0 {
		t.Fatalf("ingest summary: %v", sum)
	}
	// A re-run creates nothing: the IDs are derived from the content.
	sum = jsonLines(t, mustRun(t, dir, "--json", "ingest", "--dataset", "my_org.measurements", "--collection", "c1", "measurements.csv"))
	if sum[0]["created"] != 0.0 || sum[0]["existing"] != 8.0 {
		t.Fatalf("re-ingest summary: %v", sum)
	}
	// Without allow-existing, the same rows fail the call.
	r := granary(t, dir, "ingest", "--allow-existing=false", "--dataset", "my_org.measurements", "--collection", "c1", "measurements.csv")
	if r.code != 1 || !strings.Contains(r.stderr, "already exist") {
		t.Fatalf("allow-existing=false: exit %d: %s", r.code, r.stderr)
	}

	rows := jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.measurements", "--time", "2024-01-01,2024-01-06", "--store", "granary.db"))
	if len(rows) != 8 {
		t.Fatalf("query returned %d rows, want 8", len(rows))
	}
	first := rows[0]
	if first["time"] != "2024-01-01T00:00:00Z" || first["value"] != 21.5 || first["sensor"] != "alpha" ||
		first["precise_time"] != "2024-01-01T00:00:00.123456789Z" {
		t.Fatalf("first row: %v", first)
	}
	if h, ok := first["sensor_history"].([]any); !ok || len(h) != 2 || h[0] != 21.1 {
		t.Fatalf("sensor_history: %v", first["sensor_history"])
	}
	// A golden end-to-end vector: this CSV row has had this ID since scheme v1
	// was fixed. A change here means stored datapoints would get new IDs.
	if id, _ := first["id"].(string); id != "018cc251-f400-6bdf-a229-da2614f81eaf" {
		t.Fatalf("id %q: want 018cc251-f400-6bdf-a229-da2614f81eaf (2024-01-01 in ms + content hash)", id)
	}
	// Times are in order; 2024-01-01T02:00+01:00 is 01:00Z, tied with the second row.
	if rows[1]["time"] != "2024-01-01T01:00:00Z" || rows[3]["time"] != "2024-01-02T00:00:00Z" {
		t.Fatalf("order: %v %v", rows[1]["time"], rows[3]["time"])
	}
	// Half-open interval and --at.
	if n := len(jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.measurements", "--time", "2024-01-01T00:00:00Z,2024-01-01T01:00:00Z"))); n != 1 {
		t.Fatalf("half-open query: %d rows", n)
	}
	at := jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.measurements", "--at", "2024-01-03T08:00:00Z", "--collection", "c1"))
	if len(at) != 2 {
		t.Fatalf("--at: %d rows", len(at))
	}
	skip := jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.measurements", "--at", "2024-01-03T08:00:00Z", "--skip-data"))
	if len(skip) != 2 || skip[0]["value"] != nil || skip[0]["ingestion_time"] == nil {
		t.Fatalf("--skip-data: %v", skip)
	}

	info := jsonLines(t, mustRun(t, dir, "collection", "info", "--json", "--dataset", "my_org.measurements", "c1"))
	if info[0]["count"] != 8.0 || info[0]["first"] != "2024-01-01T00:00:00Z" || info[0]["last"] != "2024-01-05T23:59:59.999Z" {
		t.Fatalf("collection info: %v", info)
	}

	// Delete: all or nothing.
	id := at[0]["id"].(string)
	missing := "018cc251-f400-0000-0000-000000000000"
	r = granary(t, dir, "delete", "--dataset", "my_org.measurements", "--collection", "c1", "--id", id, "--id", missing)
	if r.code != 1 || !strings.Contains(r.stderr, missing) {
		t.Fatalf("delete with a missing id: exit %d: %s", r.code, r.stderr)
	}
	out := mustRun(t, dir, "delete", "--dataset", "my_org.measurements", "--collection", "c1", "--id", id)
	if !strings.Contains(out, "deleted 1") {
		t.Fatalf("delete: %s", out)
	}
	os.WriteFile(filepath.Join(dir, "ids.txt"), []byte("# ids\n"+at[1]["id"].(string)+"\n\n"), 0o644)
	mustRun(t, dir, "delete", "--dataset", "my_org.measurements", "--collection", "c1", "--ids-file", "ids.txt")
	info = jsonLines(t, mustRun(t, dir, "collection", "info", "--json", "--dataset", "my_org.measurements", "c1"))
	if info[0]["count"] != 6.0 {
		t.Fatalf("after deletes: %v", info)
	}
}

func TestIngestBadCellStoresNothing(t *testing.T) {
	dir := workdir(t)
	csv := "time,value,sensor\n2024-01-01T00:00:00Z,1,a\n2024-01-01T00:01:00Z,abc,a\n"
	os.WriteFile(filepath.Join(dir, "bad.csv"), []byte(csv), 0o644)
	r := granary(t, dir, "ingest", "--schema", "measurements.yaml", "--dataset", "my_org.measurements", "--collection", "c", "bad.csv")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
	}
	for _, want := range []string{"bad.csv", "row 2", `"value"`, `"abc"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error %q does not mention %s", r.stderr, want)
		}
	}
	info := jsonLines(t, mustRun(t, dir, "collection", "list", "--json", "--dataset", "my_org.measurements"))
	if len(info) != 1 || info[0]["count"] != 0.0 {
		t.Fatalf("something was stored: %v", info)
	}
}

func TestIngestMappingFlags(t *testing.T) {
	dir := workdir(t)
	csv := "timestamp,temp,comment\n2024-01-01T00:00:00Z,1.5,hello\n"
	os.WriteFile(filepath.Join(dir, "m.csv"), []byte(csv), 0o644)
	mustRun(t, dir, "dataset", "create", "--schema", "measurements.yaml")
	r := granary(t, dir, "ingest", "--dataset", "my_org.measurements", "--collection", "c", "m.csv")
	if r.code != 1 || !strings.Contains(r.stderr, "timestamp") {
		t.Fatalf("unmatched column: exit %d: %s", r.code, r.stderr)
	}
	mustRun(t, dir, "ingest", "--dataset", "my_org.measurements", "--collection", "c",
		"--map", "timestamp=time", "--map", "temp=value", "--drop", "comment", "--set", "sensor=s1", "m.csv")
	rows := jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.measurements", "--at", "2024-01-01"))
	if len(rows) != 1 || rows[0]["value"] != 1.5 || rows[0]["sensor"] != "s1" {
		t.Fatalf("rows: %v", rows)
	}
}

func TestSpatioTemporal(t *testing.T) {
	dir := workdir(t)
	sum := jsonLines(t, mustRun(t, dir, "ingest", "--json", "--schema", "granules.yaml", "--dataset", "my_org.granules", "--collection", "modis", "granules.csv"))
	if sum[0]["geometries_split"] != 1.0 {
		t.Fatalf("summary %v: want the Pacific granule split at the antimeridian", sum[0])
	}
	rows := jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.granules", "--time", "2024-03-01,2024-03-02"))
	if g, _ := rows[1]["geometry"].(string); !strings.HasPrefix(g, "MULTIPOLYGON") {
		t.Fatalf("crossing granule stored as %v", rows[1]["geometry"])
	}
	// Kept as given on request, into another collection: a different geometry, so a different ID.
	mustRun(t, dir, "ingest", "--no-antimeridian-fix", "--dataset", "my_org.granules", "--collection", "raw", "granules.csv")
	raw := jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.granules", "--collection", "raw", "--time", "2024-03-01,2024-03-02"))
	if g, _ := raw[1]["geometry"].(string); !strings.HasPrefix(g, "POLYGON((170 -10") || raw[1]["id"] == rows[1]["id"] || raw[0]["id"] != rows[0]["id"] {
		t.Fatalf("unfixed: %v (%v vs %v)", raw[1]["geometry"], raw[1]["id"], rows[1]["id"])
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	if g, _ := rows[0]["geometry"].(string); !strings.HasPrefix(g, "POLYGON") {
		t.Fatalf("geometry: %v", rows[0]["geometry"])
	}
	if rows[0]["processing_time"] != "4m30s" || rows[0]["product_id"] != "6f1c0e6a-3b0c-4b3e-9a55-0b8f0d4f2a11" {
		t.Fatalf("row: %v", rows[0])
	}
	if tiles, _ := rows[0]["tile"].([]any); len(tiles) != 2 || tiles[0] != 18.0 {
		t.Fatalf("tile: %v", rows[0]["tile"])
	}
}

// TestForce2D: Z/M geometries are refused with a hint, then flattened on
// request, and the flattened rows have the IDs of their 2-D twins.
func TestForce2D(t *testing.T) {
	dir := workdir(t)
	z := "time\tgeometry\n2024-03-01T00:00:00Z\tPOLYGON Z ((10 50 1, 12 50 1, 12 52 1, 10 52 1, 10 50 1))\n2024-03-01T00:05:00Z\tPOINT M (13.4 52.5 7)\n"
	flat := "time\tgeometry\n2024-03-01T00:00:00Z\tPOLYGON ((10 50, 12 50, 12 52, 10 52, 10 50))\n2024-03-01T00:05:00Z\tPOINT (13.4 52.5)\n"
	os.WriteFile(filepath.Join(dir, "z.tsv"), []byte(z), 0o644)
	os.WriteFile(filepath.Join(dir, "flat.tsv"), []byte(flat), 0o644)
	mustRun(t, dir, "dataset", "create", "--schema", "granules.yaml")
	ds := []string{"--dataset", "my_org.granules"}
	r := granary(t, dir, append([]string{"ingest", "--collection", "z", "z.tsv"}, ds...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "2-D only") || !strings.Contains(r.stderr, "--force-2d") || !strings.Contains(r.stderr, "row 1") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	sum := jsonLines(t, mustRun(t, dir, append([]string{"ingest", "--json", "--force-2d", "--collection", "z", "z.tsv"}, ds...)...))
	if sum[0]["created"] != 2.0 || sum[0]["geometries_flattened"] != 2.0 {
		t.Fatalf("summary %v", sum[0])
	}
	// The 2-D twins land on the same IDs: nothing new.
	sum = jsonLines(t, mustRun(t, dir, append([]string{"ingest", "--json", "--collection", "z", "flat.tsv"}, ds...)...))
	if sum[0]["created"] != 0.0 || sum[0]["existing"] != 2.0 {
		t.Fatalf("2-D twins: %v", sum[0])
	}
}

// TestEmptyGeometries: empty footprints (as GeoParquet writers spell a
// missing one) are stored as given and matched by no spatial filter.
func TestEmptyGeometries(t *testing.T) {
	dir := workdir(t)
	tsv := "time\tgeometry\n2024-03-01T00:00:00Z\tPOINT (13.4 52.5)\n2024-03-01T00:00:00Z\tPOLYGON EMPTY\n2024-03-01T00:00:00Z\tGEOMETRYCOLLECTION EMPTY\n2024-03-01T00:00:00Z\tPOINT EMPTY\n"
	os.WriteFile(filepath.Join(dir, "e.tsv"), []byte(tsv), 0o644)
	mustRun(t, dir, "dataset", "create", "--schema", "granules.yaml")
	sum := jsonLines(t, mustRun(t, dir, "ingest", "--json", "--dataset", "my_org.granules", "--collection", "e", "e.tsv"))
	if sum[0]["created"] != 4.0 {
		t.Fatalf("summary %v", sum[0])
	}
	for _, args := range [][]string{{}, {"--spherical"}, {"--mode", "contains"}, {"--spherical", "--mode", "contains"}} {
		q := append([]string{"query", "--dataset", "my_org.granules", "--at", "2024-03-01", "--bbox", "-180,-90,180,90"}, args...)
		rows := jsonLines(t, mustRun(t, dir, q...))
		if len(rows) != 1 || rows[0]["geometry"] != "POINT(13.4 52.5)" {
			t.Errorf("world query %v: %v", args, rows)
		}
	}
}

// TestIngestStdin: "-" reads standard input: CSV (also gzipped) and Arrow
// IPC streams stream, Parquet from a pipe is refused with the way out, and
// a checkpoint cannot track a stream.
func TestIngestStdin(t *testing.T) {
	dir := workdir(t)
	csv, err := os.ReadFile(filepath.Join(dir, "measurements.csv"))
	if err != nil {
		t.Fatal(err)
	}
	ingest := []string{"ingest", "--json", "--schema", "measurements.yaml", "--dataset", "my_org.measurements", "--collection", "in"}
	r := granaryIn(t, dir, csv, append(ingest, "-")...)
	if r.code != 0 || !strings.Contains(r.stdout, `"created":8`) {
		t.Fatalf("CSV from stdin: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(csv)
	zw.Close()
	if r := granaryIn(t, dir, gz.Bytes(), append(ingest, "-")...); r.code != 0 || !strings.Contains(r.stdout, `"existing":8`) {
		t.Fatalf("gzipped CSV from stdin: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, f := range []string{"m.arrows", "m.parquet"} {
		mustRun(t, dir, "query", "--dataset", "my_org.measurements", "--collection", "in", "--time", "2024-01-01,2024-02-01", "-o", f)
	}
	stream, _ := os.ReadFile(filepath.Join(dir, "m.arrows"))
	if r := granaryIn(t, dir, stream, append(ingest, "-")...); r.code != 0 || !strings.Contains(r.stdout, `"existing":8`) {
		t.Fatalf("Arrow stream from stdin: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	pq, _ := os.ReadFile(filepath.Join(dir, "m.parquet"))
	if r := granaryIn(t, dir, pq, append(ingest, "-")...); r.code != 1 || !strings.Contains(r.stderr, "standard input") || !strings.Contains(r.stderr, "save it to a file") {
		t.Fatalf("Parquet from a pipe: exit %d %s", r.code, r.stderr)
	}
	bad := []byte("time,value\n2024-01-01T00:00:00Z,abc\n")
	if r := granaryIn(t, dir, bad, append(ingest, "-")...); r.code != 1 || !strings.Contains(r.stderr, "standard input: row 1") {
		t.Fatalf("bad cell from stdin: exit %d %s", r.code, r.stderr)
	}
	if r := granaryIn(t, dir, csv, append(ingest, "--checkpoint", "c.ckpt", "-")...); r.code != 2 || !strings.Contains(r.stderr, "standard input") {
		t.Fatalf("checkpoint of stdin: exit %d %s", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"query", "--dataset", "x"},
		{"query", "--dataset", "x", "--time", "yesterday,today"},
		{"ingest", "--dataset", "x"},
		{"dataset", "create"},
		{"dataset", "show"},
		{"--no-such-flag"},
		{"delete", "--dataset", "x", "--collection", "c"},
	} {
		r := granary(t, dir, args...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("granary %s: exit %d, stderr %q; want exit 2 and a message", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	r := granary(t, dir, "dataset", "show", "no.such")
	if r.code != 1 || !strings.Contains(r.stderr, "no such dataset") {
		t.Errorf("unknown dataset: exit %d %q", r.code, r.stderr)
	}
	r = granary(t, dir, "dataset", "create", "--schema", "missing.yaml")
	if r.code != 1 {
		t.Errorf("missing schema file: exit %d", r.code)
	}
	if out := mustRun(t, dir, "ingest", "--help"); !strings.Contains(out, "Example") && !strings.Contains(out, "Examples") {
		t.Errorf("ingest --help has no examples:\n%s", out)
	}
}

// TestDryRunValidatesGeometry: a dry run checks what a real run would
// refuse, geometry included, and writes nothing.
func TestDryRunValidatesGeometry(t *testing.T) {
	dir := workdir(t)
	os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("time,geometry\n2024-03-01T00:00:00Z,\"POLYGON ((10 50, 12 50, 12 95, 10 50))\"\n"), 0o644)
	r := granary(t, dir, "ingest", "--dry-run", "--schema", "granules.yaml", "--dataset", "my_org.granules", "--collection", "c", "bad.csv")
	if r.code != 1 || !strings.Contains(r.stderr, "row 1") || !strings.Contains(r.stderr, "latitude 95") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}
