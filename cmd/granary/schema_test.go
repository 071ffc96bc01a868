package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaInferRoundTrip: the proposed schema creates a dataset that the
// file then ingests into.
func TestSchemaInferRoundTrip(t *testing.T) {
	dir := workdir(t)
	yaml := mustRun(t, dir, "schema", "infer", "--group", "acme", "granules.csv")
	for _, want := range []string{"code_name: granules", "kind: spatiotemporal", "name: cloud_cover", "type: duration", "type: uuid"} {
		if !strings.Contains(yaml, want) {
			t.Errorf("inferred schema lacks %q:\n%s", want, yaml)
		}
	}
	os.WriteFile(filepath.Join(dir, "inferred.yaml"), []byte(yaml), 0o644)
	mustRun(t, dir, "dataset", "create", "--schema", "inferred.yaml")
	sum := jsonLines(t, mustRun(t, dir, "ingest", "--json", "--dataset", "acme.granules", "--collection", "c", "granules.csv"))
	if sum[0]["created"] != 3.0 {
		t.Fatalf("ingest with the inferred schema: %v", sum)
	}
	// No time column: the schema comes with the --set hint, which ingests.
	os.WriteFile(filepath.Join(dir, "notime.csv"), []byte("a,b\n1,2\n"), 0o644)
	yaml = mustRun(t, dir, "schema", "infer", "notime.csv")
	if !strings.Contains(yaml, "# Ingest it with: --set time=VALUE") {
		t.Fatalf("no time column: %s", yaml)
	}
	os.WriteFile(filepath.Join(dir, "notime.yaml"), []byte(yaml), 0o644)
	sum = jsonLines(t, mustRun(t, dir, "ingest", "--json", "--schema", "notime.yaml", "--dataset", "my_org.notime", "--collection", "c", "--set", "time=2024-01-01T00:00:00Z", "notime.csv"))
	if sum[0]["created"] != 1.0 {
		t.Fatalf("ingest with the hinted --set: %v", sum)
	}
	// Two candidates: the question, as an error.
	os.WriteFile(filepath.Join(dir, "twotimes.csv"), []byte("start,stop\n2024-01-01T00:00:00Z,2024-01-02T00:00:00Z\n"), 0o644)
	if r := granary(t, dir, "schema", "infer", "twotimes.csv"); r.code != 1 || !strings.Contains(r.stderr, "which column is the time") {
		t.Fatalf("two time columns: exit %d %s", r.code, r.stderr)
	}
}

// TestSchemaInferDecimals: a decimal column proposed as float64 comes with
// the --round-floats hint, and the hinted flags ingest the file.
func TestSchemaInferDecimals(t *testing.T) {
	file, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "corpus", "parquet", "nanoparquet_decimal128.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Skipf("corpus not found: %v", err)
	}
	dir := workdir(t)
	yaml := mustRun(t, dir, "schema", "infer", "--code-name", "dec", file)
	var hint string
	for _, line := range strings.Split(yaml, "\n") {
		if h, ok := strings.CutPrefix(line, "# Ingest it with: "); ok {
			hint = h
		}
	}
	if !strings.Contains(hint, "--round-floats") {
		t.Fatalf("no --round-floats hint:\n%s", yaml)
	}
	os.WriteFile(filepath.Join(dir, "dec.yaml"), []byte(yaml), 0o644)
	mustRun(t, dir, "dataset", "create", "--schema", "dec.yaml")
	flags := strings.Fields(hint)
	without := strings.Fields(strings.ReplaceAll(hint, "--round-floats", ""))
	r := granary(t, dir, append(append([]string{"ingest", "--dataset", "my_org.dec", "--collection", "c"}, without...), file)...)
	if r.code != 1 || !strings.Contains(r.stderr, "row 1") || !strings.Contains(r.stderr, "--round-floats") {
		t.Fatalf("without --round-floats: exit %d %s", r.code, r.stderr)
	}
	sum := jsonLines(t, mustRun(t, dir, append(append([]string{"ingest", "--json", "--dataset", "my_org.dec", "--collection", "c"}, flags...), file)...))
	if sum[0]["created"] != 6.0 {
		t.Fatalf("with the hinted flags: %v", sum)
	}
}

// TestSchemaInferHintQuotes: the hint can be pasted into a shell, column
// names with spaces or quotes included.
func TestSchemaInferHintQuotes(t *testing.T) {
	dir := workdir(t)
	os.WriteFile(filepath.Join(dir, "q.csv"), []byte("time,my value,it's\n2024-01-01T00:00:00Z,1,2\n"), 0o644)
	yaml := mustRun(t, dir, "schema", "infer", "q.csv")
	want := `# Ingest it with: --map 'it'\''s=it_s' --map 'my value=my_value'`
	if !strings.Contains(yaml, want) {
		t.Fatalf("hint not quoted for a shell, want %s in:\n%s", want, yaml)
	}
	os.WriteFile(filepath.Join(dir, "q.yaml"), []byte(yaml), 0o644)
	cmd := exec.Command("sh", "-c", binary+" ingest -q --schema q.yaml --dataset my_org.q --collection c "+strings.TrimPrefix(want, "# Ingest it with: ")+" q.csv")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "GRANARY_STORE=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the pasted hint: %v\n%s", err, out)
	}
}
