package main

import (
	"strings"
	"testing"

	"github.com/granaryhq/granary/store/postgres/pgtest"
)

// TestPostgresStore runs the main job with --store postgres://...: the CLI
// creates granary's tables itself and behaves as on the embedded store.
func TestPostgresStore(t *testing.T) {
	url := pgtest.URL(t)
	store := pgtest.SearchPathURL(t, url, pgtest.Schema(t, url))
	dir := workdir(t)
	sum := jsonLines(t, mustRun(t, dir, "--store", store, "ingest", "--json", "--schema", "granules.yaml", "--dataset", "my_org.granules", "--collection", "modis", "granules.csv"))
	if sum[0]["created"] != 3.0 || sum[0]["geometries_split"] != 1.0 {
		t.Fatalf("ingest: %v", sum)
	}
	again := jsonLines(t, mustRun(t, dir, "--store", store, "ingest", "--json", "--dataset", "my_org.granules", "--collection", "modis", "granules.csv"))
	if again[0]["existing"] != 3.0 {
		t.Fatalf("re-ingest: %v", again)
	}
	rows := jsonLines(t, mustRun(t, dir, "--store", store, "query", "--dataset", "my_org.granules", "--time", "2024-03-01,2024-03-02", "--bbox", "175,-5,-175,5"))
	if len(rows) != 1 || !strings.HasPrefix(rows[0]["geometry"].(string), "MULTIPOLYGON") {
		t.Fatalf("spatial query across the antimeridian: %v", rows)
	}
	// The embedded store, from the same files, gives the same IDs.
	local := jsonLines(t, mustRun(t, dir, "ingest", "--json", "--schema", "granules.yaml", "--dataset", "my_org.granules", "--collection", "modis", "granules.csv"))
	mine := jsonLines(t, mustRun(t, dir, "query", "--dataset", "my_org.granules", "--time", "2024-03-01,2024-03-02", "--bbox", "175,-5,-175,5"))
	if local[0]["created"] != 3.0 || mine[0]["id"] != rows[0]["id"] {
		t.Fatalf("ids differ between stores: %v vs %v", mine[0]["id"], rows[0]["id"])
	}
	if r := granary(t, dir, "--store", strings.Replace(url, "postgres://", "postgres://nobody:wrong@", 1)+"x", "dataset", "list"); r.code != 1 || strings.Contains(r.stderr, "wrong") {
		t.Fatalf("bad URL: exit %d %q (the password must not be echoed)", r.code, r.stderr)
	}
}
