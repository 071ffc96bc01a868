package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/storetest"
)

// ingestRange ingests datapoints [from, to) in batches with allowExisting,
// as a stateless worker would, and returns how many it created.
func ingestRange(ctx context.Context, st store.Store, c uuid.UUID, from, to, batch int) (int64, error) {
	var created int64
	for start := from; start < to; start += batch {
		res, err := st.Ingest(ctx, c, series(start, min(batch, to-start)), true)
		if err != nil {
			return created, err
		}
		created += res.Created
	}
	return created, nil
}

// requireContent checks that the collection holds exactly datapoints
// [0, n), each once, with the right data, and that its count agrees.
func requireContent(t *testing.T, st *Store, c uuid.UUID, n int) {
	t.Helper()
	got, err := st.Query(t.Context(), store.Query{Collections: []uuid.UUID{c}, From: storetest.MinID, To: storetest.MaxID})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d datapoints stored, want %d", len(got), n)
	}
	for i, dp := range got {
		want := datapoint(i)
		if dp.ID != want.ID || !bytes.Equal(dp.Data, want.Data) {
			t.Fatalf("datapoint %d: %s %q, want %s %q", i, dp.ID, dp.Data, want.ID, want.Data)
		}
	}
	if cnt := count(t, st, c); cnt != int64(n) {
		t.Errorf("collection count %d, want %d", cnt, n)
	}
	var rows int64
	if err := st.pool.QueryRow(t.Context(), "SELECT count(*) FROM datapoints d JOIN collections c ON c.pk = d.collection WHERE c.id = $1",
		[16]byte(c)).Scan(&rows); err != nil || rows != int64(n) {
		t.Errorf("datapoints table: %d rows, %v; want %d", rows, err, n)
	}
}

// TestConcurrentIngest runs two workers, each with its own pool, over
// overlapping ranges at once: no duplicates, no lost rows, and every
// datapoint created exactly once between them.
func TestConcurrentIngest(t *testing.T) {
	testURL(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			st, name := openFresh(t, m.postgis, m.opts...)
			_, c := setup(t, st, "my_org.concurrent", "main")
			other, err := Open(t.Context(), testURL(t), append([]Option{WithSchema(name)}, m.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			const n = 30_000
			var wg sync.WaitGroup
			created := make([]int64, 3)
			errs := make([]error, 3)
			// Worker 0 and 1 overlap in [10k, 20k) in the same batches;
			// worker 2 covers everything in other batches, backwards.
			wg.Go(func() { created[0], errs[0] = ingestRange(t.Context(), st, c.ID, 0, 20_000, 1000) })
			wg.Go(func() { created[1], errs[1] = ingestRange(t.Context(), other, c.ID, 10_000, n, 1000) })
			wg.Go(func() {
				for end := n; end > 0; end -= 1700 {
					res, err := other.Ingest(t.Context(), c.ID, series(max(0, end-1700), min(1700, end)), true)
					if err != nil {
						errs[2] = err
						return
					}
					created[2] += res.Created
				}
			})
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			if sum := created[0] + created[1] + created[2]; sum != n {
				t.Errorf("workers created %v = %d datapoints, want %d", created, sum, n)
			}
			requireContent(t, st, c.ID, n)
		})
	}
}

// TestCancelMidCopy cancels ingests while their COPY is streaming, on the
// direct path (new IDs) and the staging path (overlapping IDs): nothing of
// those calls may land, and running the worker again completes the data.
func TestCancelMidCopy(t *testing.T) {
	st, name := openFresh(t, true)
	_, c := setup(t, st, "my_org.cancel", "main")
	if _, err := ingestRange(t.Context(), st, c.ID, 0, 3000, 1000); err != nil {
		t.Fatal(err)
	}
	staging, err := Open(t.Context(), testURL(t), WithSchema(name), WithDirectCopy(false))
	if err != nil {
		t.Fatal(err)
	}
	defer staging.Close()
	for _, tc := range []struct {
		name     string
		st       *Store
		from, to int
	}{{"direct", st, 3000, 8000}, {"staging", staging, 2000, 8000}} {
		ctx, cancel := context.WithCancel(t.Context())
		var once sync.Once
		testHookCopyRow = func(i int) {
			if i == 2500 {
				once.Do(cancel)
			}
		}
		_, err := tc.st.Ingest(ctx, c.ID, series(tc.from, tc.to-tc.from), true)
		testHookCopyRow = nil
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: Ingest cancelled mid-COPY: %v, want context.Canceled", tc.name, err)
		}
		requireContent(t, st, c.ID, 3000)
	}
	// The pool still works, and the worker's rerun completes the data.
	if _, err := ingestRange(t.Context(), st, c.ID, 0, 10_000, 1000); err != nil {
		t.Fatal(err)
	}
	requireContent(t, st, c.ID, 10_000)
}

// The worker process of TestWorkerProcesses: env workerEnv holds
// "url schema collection from to batch".
const workerEnv = "GRANARY_TEST_POSTGRES_WORKER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		os.Exit(worker(spec))
	}
	os.Exit(m.Run())
}

func worker(spec string) int {
	var url, schema, col string
	var from, to, batch int
	if _, err := fmt.Sscan(spec, &url, &schema, &col, &from, &to, &batch); err != nil {
		fmt.Fprintln(os.Stderr, "worker spec:", err)
		return 2
	}
	ctx := context.Background()
	st, err := Open(ctx, url, WithSchema(schema), WithMaxConns(2))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer st.Close()
	created, err := ingestRange(ctx, st, uuid.MustParse(col), from, to, batch)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(created)
	return 0
}

func startWorker(t *testing.T, name string, c uuid.UUID, from, to, batch int) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %d %d %d", workerEnv, testURL(t), name, c, from, to, batch))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// TestWorkerProcesses runs ingest workers as processes: two at once over
// overlapping ranges, then one killed (SIGKILL) mid-run and restarted.
func TestWorkerProcesses(t *testing.T) {
	st, name := openFresh(t, true)
	_, c := setup(t, st, "my_org.workers", "main")
	a, outA := startWorker(t, name, c.ID, 0, 25_000, 2000)
	b, outB := startWorker(t, name, c.ID, 5_000, 30_000, 1500)
	var created int64
	for _, w := range []struct {
		cmd *exec.Cmd
		out *bytes.Buffer
	}{{a, outA}, {b, outB}} {
		if err := w.cmd.Wait(); err != nil {
			t.Fatalf("worker: %v\n%s", err, w.out)
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(w.out.Bytes())), 10, 64)
		if err != nil {
			t.Fatalf("worker output %q", w.out)
		}
		created += n
	}
	if created != 30_000 {
		t.Errorf("workers created %d, want 30000", created)
	}
	requireContent(t, st, c.ID, 30_000)

	// Killed mid-run: wait until it has committed some batches.
	_, c2 := setup(t, st, "my_org.killed", "main")
	const n = 60_000
	k, outK := startWorker(t, name, c2.ID, 0, n, 1000)
	deadline := time.Now().Add(30 * time.Second)
	for count(t, st, c2.ID) < 5000 {
		if time.Now().After(deadline) {
			k.Process.Kill()
			t.Fatalf("worker made no progress: %s", outK)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := k.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	k.Wait()
	partial := count(t, st, c2.ID)
	t.Logf("killed the worker after %d of %d datapoints", partial, n)
	if partial%1000 != 0 {
		t.Errorf("a killed worker left %d datapoints, not whole batches", partial)
	}
	r, outR := startWorker(t, name, c2.ID, 0, n, 1000)
	if err := r.Wait(); err != nil {
		t.Fatalf("restarted worker: %v\n%s", err, outR)
	}
	requireContent(t, st, c2.ID, n)
}
