package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeleteByTimeAndFiles(t *testing.T) {
	dir := workdir(t)
	writeCSV(t, filepath.Join(dir, "a.csv"), 0, 20000, 0) // one row per second from 2024-01-01
	mustRun(t, dir, "ingest", "-q", "--schema", "measurements.yaml", "--dataset", "my_org.measurements", "--collection", "c", "a.csv")
	del := func(args ...string) map[string]any {
		t.Helper()
		return summary(t, mustRun(t, dir, append([]string{"delete", "--json", "--dataset", "my_org.measurements", "--collection", "c"}, args...)...))
	}
	// --time: the first 10000 seconds, in two calls; --dry-run first.
	if s := del("--time", "2024-01-01T00:00:00Z,2024-01-01T02:46:40Z", "--dry-run"); s["deleted"] != 10000.0 || s["dry_run"] != true {
		t.Fatalf("dry run %v", s)
	}
	if count(t, dir, "my_org.measurements", "c") != 20000 {
		t.Fatal("the dry run deleted")
	}
	if s := del("--time", "2024-01-01T00:00:00Z,2024-01-01T02:46:40Z"); s["deleted"] != 10000.0 || s["calls"] != 2.0 {
		t.Fatalf("delete --time %v", s)
	}
	// --ids-file as CSV with an id column (what convert and exports write).
	mustInProcess(t, dir, "convert", "--dataset", "my_org.measurements", filepath.Join(dir, "a.csv"), filepath.Join(dir, "ids.csv"))
	mustInProcess(t, dir, "convert", "--dataset", "my_org.measurements", filepath.Join(dir, "a.csv"), filepath.Join(dir, "ids.parquet"))
	// All of ids.csv: half are gone, so the dry run counts them missing.
	if s := del("--ids-file", "ids.csv", "--dry-run"); s["deleted"] != 10000.0 || s["missing"] != 10000.0 {
		t.Fatalf("dry run by file %v", s)
	}
	// The first call of the real run holds deleted IDs: it fails whole.
	r := granary(t, dir, "delete", "--dataset", "my_org.measurements", "--collection", "c", "--ids-file", "ids.parquet", "--concurrency", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "ids.parquet: rows 1-8192") || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The rows of the second half, from the Parquet file: write a text file of their IDs.
	rows := jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.measurements", "--time", "2024-01-01T02:46:40Z,2024-01-01T02:46:45Z", "--skip-data"))
	var text strings.Builder
	text.WriteString("# five ids\n\n")
	for _, row := range rows {
		text.WriteString(row["id"].(string) + "\n")
	}
	os.WriteFile(filepath.Join(dir, "ids.txt"), []byte(text.String()), 0o644)
	if s := del("--ids-file", "ids.txt"); s["deleted"] != 5.0 {
		t.Fatalf("delete by text file %v", s)
	}
	if count(t, dir, "my_org.measurements", "c") != 9995 {
		t.Fatal("wrong count after deletes")
	}
	os.WriteFile(filepath.Join(dir, "bad.txt"), []byte("018cc251-f400-4f5e-9a4e-3ad5b3c2a8a1\nnot-a-uuid\n"), 0o644)
	if r := granary(t, dir, "delete", "--dataset", "my_org.measurements", "--collection", "c", "--ids-file", "bad.txt"); r.code != 1 || !strings.Contains(r.stderr, "bad.txt:2") {
		t.Fatalf("bad id: exit %d %s", r.code, r.stderr)
	}
	if r := granary(t, dir, "delete", "--dataset", "my_org.measurements", "--collection", "c", "--time", "2024-01-01", "--id", "x"); r.code != 2 {
		t.Fatalf("two selections: exit %d", r.code)
	}
}
