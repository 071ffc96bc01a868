package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCSV writes n measurement rows starting at minute offset; bad, if
// > 0, is a row number whose value does not parse.
func writeCSV(t *testing.T, path string, offset, n, bad int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("time,value,sensor\n")
	for i := range n {
		v := fmt.Sprint(float64(i) / 8)
		if i+1 == bad {
			v = strings.Repeat("x", len(v)) // same size: the fixed file resumes
		}
		fmt.Fprintf(&b, "%s,%s,s%d\n", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(offset+i)*time.Second).Format(time.RFC3339), v, i%7)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func summary(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := jsonLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("want one JSON summary, got %q", out)
	}
	return lines[0]
}

func count(t *testing.T, dir, slug, col string) float64 {
	t.Helper()
	info := jsonLines(t, mustRun(t, dir, "collection", "info", "--json", "--dataset", slug, col))
	return info[0]["count"].(float64)
}

func TestIngestManyInputs(t *testing.T) {
	dir := workdir(t)
	os.MkdirAll(filepath.Join(dir, "in", "sub"), 0o755)
	writeCSV(t, filepath.Join(dir, "in", "a.csv"), 0, 100, 0)
	writeCSV(t, filepath.Join(dir, "in", "sub", "b.csv"), 100, 50, 0)
	os.WriteFile(filepath.Join(dir, "in", "README.md"), []byte("not data"), 0o644)
	writeCSV(t, filepath.Join(dir, "c1.csv"), 150, 10, 0)
	writeCSV(t, filepath.Join(dir, "c2.csv"), 160, 10, 0)
	// A Feather file among CSV files: formats mix.
	mustRun(t, dir, "ingest", "-q", "--schema", "measurements.yaml", "--dataset", "my_org.measurements", "--collection", "tmp", "measurements.csv")
	exportTo(t, dir, "my_org.measurements", "tmp", filepath.Join(dir, "in", "m.feather"), "")

	sum := summary(t, mustRun(t, dir, "ingest", "--json", "--dataset", "my_org.measurements", "--collection", "all",
		"--concurrency", "3", "--batch-bytes", "2048", "in", "c?.csv", "measurements.csv"))
	for _, k := range []string{"read", "created", "existing", "rejected", "padding_stripped", "geometries_split", "calls", "retries", "elapsed_s", "rows_per_s"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary has no %q: %v", k, sum)
		}
	}
	// in/: a.csv 100 + sub/b.csv 50 + m.feather 8; c1, c2: 20; measurements.csv: the same 8 again.
	if sum["files"] != 6.0 || sum["read"] != 186.0 || sum["created"] != 178.0 || sum["existing"] != 8.0 || sum["calls"].(float64) < 3 {
		t.Fatalf("summary %v", sum)
	}
	if r := granary(t, dir, "ingest", "--dataset", "my_org.measurements", "--collection", "all", "nomatch*.csv"); r.code != 2 {
		t.Fatalf("a glob matching nothing: exit %d %s", r.code, r.stderr)
	}
	// Dry run: counts what exists, writes nothing, creates no collection.
	writeCSV(t, filepath.Join(dir, "more.csv"), 0, 120, 0) // 100 stored, 20 new
	sum = summary(t, mustRun(t, dir, "ingest", "--json", "--dry-run", "--dataset", "my_org.measurements", "--collection", "all", "more.csv"))
	if sum["dry_run"] != true || sum["created"] != 20.0 || sum["existing"] != 100.0 {
		t.Fatalf("dry run %v", sum)
	}
	if count(t, dir, "my_org.measurements", "all") != 178 {
		t.Fatal("the dry run wrote")
	}
	sum = summary(t, mustRun(t, dir, "ingest", "--json", "--dry-run", "--dataset", "my_org.measurements", "--collection", "nope", "more.csv"))
	if sum["created"] != 120.0 {
		t.Fatalf("dry run into a missing collection %v", sum)
	}
	if r := granary(t, dir, "collection", "info", "--dataset", "my_org.measurements", "nope"); r.code == 0 {
		t.Fatal("the dry run created a collection")
	}
}

func TestIngestCheckpointResume(t *testing.T) {
	dir := workdir(t)
	writeCSV(t, filepath.Join(dir, "a.csv"), 0, 3000, 0)
	// Readers hand over 8192 rows at a time: the batch holding row 15000
	// fails, the one before it is stored.
	writeCSV(t, filepath.Join(dir, "b.csv"), 3000, 20000, 15000)
	args := []string{"ingest", "--json", "--schema", "measurements.yaml", "--dataset", "my_org.measurements", "--collection", "c",
		"--checkpoint", "ck.json", "--batch-bytes", "4096", "--concurrency", "1", "a.csv", "b.csv"}
	r := granary(t, dir, args...)
	if r.code != 1 || !strings.Contains(r.stderr, "b.csv: row 15000") || !strings.Contains(r.stderr, "--checkpoint ck.json") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	first := summary(t, r.stdout)
	var ck checkpointData
	b, _ := os.ReadFile(filepath.Join(dir, "ck.json"))
	if err := json.Unmarshal(b, &ck); err != nil {
		t.Fatal(err)
	}
	if a := ck.Files[filepath.Join(dir, "a.csv")]; a == nil || !a.Done {
		t.Fatalf("a.csv not done: %s", b)
	}
	if bf := ck.Files[filepath.Join(dir, "b.csv")]; bf == nil || bf.Done || len(bf.Committed) != 1 || bf.Committed[0] != [2]int64{1, 8192} {
		t.Fatalf("b.csv: %s", b)
	}
	stored := count(t, dir, "my_org.measurements", "c")
	if stored != first["created"] || stored != 3000+8192 {
		t.Fatalf("stored %v, summary %v", stored, first)
	}
	// Fix the row in place, keeping size and modification time: the file
	// resumes after its stored rows (a changed file would start over).
	st, _ := os.Stat(filepath.Join(dir, "b.csv"))
	writeCSV(t, filepath.Join(dir, "b.csv"), 3000, 20000, 0)
	os.Chtimes(filepath.Join(dir, "b.csv"), st.ModTime(), st.ModTime())
	second := summary(t, mustRun(t, dir, args...))
	if second["files_skipped"] != 1.0 || second["existing"] != 0.0 || second["rows_skipped"].(float64)+3000 != stored ||
		second["created"].(float64)+first["created"].(float64) != 23000 {
		t.Fatalf("resume: %v then %v", first, second)
	}
	if count(t, dir, "my_org.measurements", "c") != 23000 {
		t.Fatal("rows missing after the resume")
	}
	third := summary(t, mustRun(t, dir, args...))
	if third["files_skipped"] != 2.0 || third["read"] != 0.0 {
		t.Fatalf("a finished run re-read: %v", third)
	}
	// Other mapping flags make other datapoints: the checkpoint does not apply.
	if r := granary(t, dir, append(args, "--drop", "sensor")...); r.code != 2 || !strings.Contains(r.stderr, "mapping flags") {
		t.Fatalf("changed flags: exit %d %s", r.code, r.stderr)
	}
}

// TestIngestInterrupt: Ctrl-C stops after the calls in flight; the
// checkpoint is consistent, and a re-run completes without duplicates.
func TestIngestInterrupt(t *testing.T) {
	dir := workdir(t)
	const n = 150_000
	writeCSV(t, filepath.Join(dir, "big.csv"), 0, n, 0)
	mustRun(t, dir, "dataset", "create", "--schema", "measurements.yaml")
	args := []string{"ingest", "--json", "--dataset", "my_org.measurements", "--collection", "c", "--checkpoint", "ck.json",
		"--batch-bytes", "16384", "big.csv"}
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GRANARY_STORE=")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	first := summary(t, out.String())
	if err == nil {
		t.Skipf("the ingest finished before the interrupt: %v", first)
	}
	if !strings.Contains(fmt.Sprint(first["error"]), "interrupted") {
		t.Fatalf("%v", first)
	}
	stored := count(t, dir, "my_org.measurements", "c")
	if stored != first["created"] {
		t.Fatalf("stored %v, reported %v", stored, first["created"])
	}
	second := summary(t, mustRun(t, dir, args...))
	if second["existing"] != 0.0 || second["created"].(float64)+stored != n || second["rows_skipped"] != stored {
		t.Fatalf("after the interrupt %v, the re-run %v", first, second)
	}
}
