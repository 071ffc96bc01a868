package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/mattn/go-sqlite3"

	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/sqlite"
	"github.com/granaryhq/granary/store/storetest"
)

func open(t *testing.T, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "granary.db"))
	})
}

// setup creates a dataset with one collection.
func setup(t testing.TB, st store.Store, slug, collection string) (*schema.Dataset, store.Collection) {
	t.Helper()
	ctx := t.Context()
	group, code := schema.SplitSlug(slug)
	d, err := schema.New(group, code, "Test", schema.Temporal, []schema.Field{{Name: "value", Type: schema.Float64}})
	if err != nil {
		t.Fatal(err)
	}
	d.ID = uuid.New()
	if d.GroupID, err = st.GroupID(ctx, group); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateDataset(ctx, d); err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateCollection(ctx, d.ID, collection)
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

func TestReopenPersists(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub dir?#%", "granary.db")
	if _, err := sqlite.Open(path); err == nil {
		t.Fatal("Open in a missing directory succeeded")
	}
	path = filepath.Join(t.TempDir(), "odd ?#% name.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d, c := setup(t, st, "my_org.measurements", "main")
	dps := []store.Datapoint{storetest.Datapoint(0, 1, "a"), storetest.Datapoint(1000, 2, "b")}
	if _, err := st.Ingest(ctx, c.ID, dps, false); err != nil {
		t.Fatal(err)
	}
	want, err := st.Query(ctx, store.Query{Collections: []uuid.UUID{c.ID}, From: storetest.MinID, To: storetest.MaxID})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	st = open(t, path)
	got, err := st.DatasetBySlug(ctx, "my_org.measurements")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != d.ID || !slices.Equal(got.Fields, d.Fields) {
		t.Errorf("reopened dataset: %+v, want %+v", got, d)
	}
	gc, err := st.Collection(ctx, d.ID, "main")
	if err != nil || gc != c {
		t.Errorf("reopened collection: %+v, %v", gc, err)
	}
	gotDPs, err := st.Query(ctx, store.Query{Collections: []uuid.UUID{c.ID}, From: storetest.MinID, To: storetest.MaxID})
	if err != nil {
		t.Fatal(err)
	}
	if len(gotDPs) != len(want) {
		t.Fatalf("reopened: %d datapoints, want %d", len(gotDPs), len(want))
	}
	for i := range want {
		if gotDPs[i].ID != want[i].ID || string(gotDPs[i].Data) != string(want[i].Data) || !gotDPs[i].IngestionTime.Equal(want[i].IngestionTime) {
			t.Errorf("reopened datapoint %d: %+v, want %+v", i, gotDPs[i], want[i])
		}
	}
}

// TestFileSettings checks the pragmas the file is created with.
func TestFileSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "granary.db")
	open(t, path)
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"page_size", "8192"},
		{"user_version", fmt.Sprint(sqlite.SchemaVersion())},
	} {
		var got string
		if err := db.QueryRow("PRAGMA " + p.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %s, want %s", p.pragma, got, p.want)
		}
	}
	var withoutRowid bool
	if err := db.QueryRow("SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_schema WHERE name = 'datapoints'").Scan(&withoutRowid); err != nil || !withoutRowid {
		t.Errorf("datapoints is not a WITHOUT ROWID table (%v)", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "granary.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", sqlite.SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if st, err := sqlite.Open(path); err == nil {
		st.Close()
		t.Fatal("Open of a file with a newer schema succeeded")
	}
}

// TestTwoHandlesConcurrentIngest opens one file twice (as two processes
// would) and ingests overlapping batches from both at once.
func TestTwoHandlesConcurrentIngest(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "granary.db")
	// Both open a new file at the same time.
	var handles [2]*sqlite.Store
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range handles {
		wg.Go(func() { handles[i], errs[i] = sqlite.Open(path, sqlite.WithBusyTimeout(20*time.Second)) })
	}
	wg.Wait()
	for i, h := range handles {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		t.Cleanup(func() { h.Close() })
	}
	_, c := setup(t, handles[0], "my_org.concurrent", "main")
	if _, err := handles[1].CollectionByID(ctx, c.ID); err != nil {
		t.Fatalf("the second handle does not see the collection: %v", err)
	}

	const batches, perBatch = 20, 500
	// Both handles ingest every batch, in opposite orders.
	created := make([]int64, 2)
	for h := range handles {
		wg.Go(func() {
			for b := range batches {
				if h == 1 {
					b = batches - 1 - b
				}
				res, err := handles[h].Ingest(ctx, c.ID, overlapping(b, perBatch), true)
				if err != nil {
					errs[h] = fmt.Errorf("handle %d batch %d: %w", h, b, err)
					return
				}
				created[h] += res.Created
			}
		})
	}
	// Readers run alongside.
	stop := make(chan struct{})
	var readErr error
	var rwg sync.WaitGroup
	rwg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := handles[1].Query(ctx, store.Query{Collections: []uuid.UUID{c.ID}, From: storetest.MinID, To: storetest.MaxID, Limit: 100}); err != nil {
				readErr = err
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	rwg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if readErr != nil {
		t.Fatalf("concurrent query: %v", readErr)
	}
	want := int64((batches + 1) * perBatch / 2)
	if created[0]+created[1] != want {
		t.Errorf("created %d + %d, want %d in all", created[0], created[1], want)
	}
	for i, h := range handles {
		all, err := h.Query(ctx, store.Query{Collections: []uuid.UUID{c.ID}, From: storetest.MinID, To: storetest.MaxID})
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(all)) != want {
			t.Errorf("handle %d sees %d datapoints, want %d", i, len(all), want)
		}
		for j := 1; j < len(all); j++ {
			if all[j-1].ID == all[j].ID {
				t.Fatalf("duplicate %s", all[j].ID)
			}
		}
		st, err := h.CollectionStats(ctx, c.ID)
		if err != nil || int64(st.Count) != want {
			t.Errorf("handle %d: count %d, %v; want %d", i, st.Count, err, want)
		}
	}

	// Disjoint batches without allowExisting: none fails.
	_, c2 := setup(t, handles[0], "my_org.disjoint", "main")
	for h := range handles {
		wg.Go(func() {
			for b := range 10 {
				dps := make([]store.Datapoint, 200)
				for i := range dps {
					dps[i] = storetest.Datapoint(int64(b*1000+i), uint64(h), "")
				}
				if _, err := handles[h].Ingest(ctx, c2.ID, dps, false); err != nil {
					errs[h] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if st, err := handles[1].CollectionStats(ctx, c2.ID); err != nil || st.Count != 2*10*200 {
		t.Errorf("disjoint: count %d, %v; want %d", st.Count, err, 2*10*200)
	}
}

// overlapping returns batch b of a series in which each batch overlaps the
// next by half.
func overlapping(b, perBatch int) []store.Datapoint {
	out := make([]store.Datapoint, perBatch)
	for i := range out {
		n := b*perBatch/2 + i
		out[i] = storetest.Datapoint(int64(n)*10, uint64(n), "")
	}
	return out
}

// TestTwoProcesses runs the test binary again as a second process that
// ingests into the same file while this one does.
func TestTwoProcesses(t *testing.T) {
	const batches, perBatch, childOwn = 30, 400, 50
	if path := os.Getenv("GRANARY_SQLITE_CHILD_DB"); path != "" {
		// The child: ingest the batches in reverse order.
		st := open(t, path)
		c, err := uuid.Parse(os.Getenv("GRANARY_SQLITE_CHILD_COLLECTION"))
		if err != nil {
			t.Fatal(err)
		}
		for b := batches - 1; b >= 0; b-- {
			if _, err := st.Ingest(t.Context(), c, overlapping(b, perBatch), true); err != nil {
				t.Fatalf("child batch %d: %v", b, err)
			}
			// And datapoints only the child has.
			own := make([]store.Datapoint, childOwn)
			for i := range own {
				own[i] = storetest.Datapoint(int64(b*childOwn+i), 1<<40, "child")
			}
			if _, err := st.Ingest(t.Context(), c, own, false); err != nil {
				t.Fatalf("child's own batch %d: %v", b, err)
			}
		}
		return
	}
	if testing.Short() {
		t.Skip("starts a second process")
	}
	path := filepath.Join(t.TempDir(), "granary.db")
	st := open(t, path)
	_, c := setup(t, st, "my_org.two_processes", "main")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestTwoProcesses$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GRANARY_SQLITE_CHILD_DB="+path, "GRANARY_SQLITE_CHILD_COLLECTION="+c.ID.String())
	var out []byte
	var childErr error
	var wg sync.WaitGroup
	wg.Go(func() { out, childErr = cmd.CombinedOutput() })
	for b := range batches {
		if _, err := st.Ingest(t.Context(), c.ID, overlapping(b, perBatch), true); err != nil {
			t.Errorf("parent batch %d: %v", b, err)
			break
		}
	}
	wg.Wait()
	if childErr != nil || !bytes.Contains(out, []byte("--- PASS: TestTwoProcesses")) {
		t.Fatalf("child process: %v\n%s", childErr, out)
	}
	want := (batches+1)*perBatch/2 + batches*childOwn
	all, err := st.Query(t.Context(), store.Query{Collections: []uuid.UUID{c.ID}, From: storetest.MinID, To: storetest.MaxID})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != want {
		t.Errorf("%d datapoints, want %d", len(all), want)
	}
	if stats, err := st.CollectionStats(t.Context(), c.ID); err != nil || int(stats.Count) != want {
		t.Errorf("count %d, %v; want %d", stats.Count, err, want)
	}
}

func TestIngestCancelled(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "granary.db"))
	_, c := setup(t, st, "my_org.cancel", "main")
	ctx := t.Context()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	dps := []store.Datapoint{storetest.Datapoint(0, 0, "")}
	if _, err := st.Ingest(cctx, c.ID, dps, false); err == nil {
		t.Fatal("Ingest with a cancelled context succeeded")
	}
	if s, err := st.CollectionStats(ctx, c.ID); err != nil || s.Count != 0 {
		t.Errorf("after a cancelled ingest: count %d, %v", s.Count, err)
	}
}
