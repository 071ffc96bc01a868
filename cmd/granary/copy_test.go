package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCopy(t *testing.T) {
	dir := workdir(t)
	mustRun(t, dir, "ingest", "-q", "--schema", "granules.yaml", "--dataset", "my_org.granules", "--collection", "modis", "granules.csv")
	writeCSV(t, filepath.Join(dir, "a.csv"), 0, 10000, 0)
	mustRun(t, dir, "ingest", "-q", "--schema", "measurements.yaml", "--dataset", "my_org.measurements", "--collection", "c", "a.csv")
	all := func(slug, col string) []map[string]any {
		return withoutIngestionTime(jsonLines(t, mustRun(t, dir, "query", "--dataset", slug, "--collection", col, "--time", "2000-01-01,2100-01-01")))
	}
	// Same dataset: same IDs, same values; a re-run creates nothing.
	s := summary(t, mustInProcess(t, dir, "--json", "copy", "--from", "my_org.granules/modis", "--to", "my_org.granules/backup"))
	if s["created"] != 3.0 {
		t.Fatalf("copy %v", s)
	}
	sameRows(t, "copy", all("my_org.granules", "modis"), all("my_org.granules", "backup"))
	s = summary(t, mustInProcess(t, dir, "--json", "copy", "--from", "my_org.granules/modis", "--to", "my_org.granules/backup"))
	if s["created"] != 0.0 || s["existing"] != 3.0 {
		t.Fatalf("re-run %v", s)
	}
	// Across datasets with the same schema under another name: same IDs.
	os.WriteFile(filepath.Join(dir, "m2.yaml"), []byte(strings.Replace(mustRead(t, filepath.Join(dir, "measurements.yaml")), "code_name: measurements", "code_name: measurements_copy", 1)), 0o644)
	mustRun(t, dir, "dataset", "create", "--schema", "m2.yaml")
	s = summary(t, mustInProcess(t, dir, "--json", "copy", "--from", "my_org.measurements/c", "--to", "my_org.measurements_copy/c",
		"--time", "2024-01-01T00:00:00Z,2024-01-01T01:00:00Z", "--batch-bytes", "8192"))
	if s["read"] != 3600.0 || s["created"] != 3600.0 || s["calls"].(float64) < 10 {
		t.Fatalf("copy --time %v", s)
	}
	src, dst := all("my_org.measurements", "c")[:3600], all("my_org.measurements_copy", "c")
	sameRows(t, "copy across datasets", src, dst)

	// A destination that does not fit: every misfit is listed.
	os.WriteFile(filepath.Join(dir, "slim.yaml"), []byte("group: my_org\ncode_name: slim\nname: Slim\nkind: temporal\nfields:\n  - {name: value, type: string}\n"), 0o644)
	mustRun(t, dir, "dataset", "create", "--schema", "slim.yaml")
	r := inProcess(t, dir, "copy", "--from", "my_org.measurements/c", "--to", "my_org.slim/c")
	for _, want := range []string{`"value" is float64`, `"sensor" (string) is not in`, `"precise_time"`, `"sensor_history"`, "--drop"} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Fatalf("misfit error lacks %q: exit %d %s", want, r.code, r.stderr)
		}
	}
	r = inProcess(t, dir, "copy", "--from", "my_org.granules/modis", "--to", "my_org.slim/c")
	if r.code != 1 || !strings.Contains(r.stderr, "different kinds") {
		t.Fatalf("kinds: %s", r.stderr)
	}
	// Dropping what does not fit (value must go too: its type differs).
	os.WriteFile(filepath.Join(dir, "slim2.yaml"), []byte("group: my_org\ncode_name: slim2\nname: Slim\nkind: temporal\nfields:\n  - {name: sensor, type: string}\n"), 0o644)
	mustRun(t, dir, "dataset", "create", "--schema", "slim2.yaml")
	s = summary(t, mustInProcess(t, dir, "--json", "copy", "--from", "my_org.measurements/c", "--to", "my_org.slim2/c",
		"--drop", "value", "--drop", "precise_time", "--drop", "sensor_history"))
	if s["read"] != 10000.0 || s["created"] != 10000.0 {
		t.Fatalf("copy with --drop %v", s)
	}
	if r := inProcess(t, dir, "copy", "--from", "my_org.measurements/c", "--to", "my_org.slim2/c", "--drop", "nope"); r.code != 2 {
		t.Fatalf("--drop of an unknown field: exit %d", r.code)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
