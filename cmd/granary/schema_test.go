package main

import (
	"os"
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
	os.WriteFile(filepath.Join(dir, "notime.csv"), []byte("a,b\n1,2\n"), 0o644)
	if r := granary(t, dir, "schema", "infer", "notime.csv"); r.code != 1 || !strings.Contains(r.stderr, "time") {
		t.Fatalf("no time column: exit %d %s", r.code, r.stderr)
	}
}
