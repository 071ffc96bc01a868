package postgres

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"

	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/storetest"
)

// benchBatch is the CLI's ingest batch size (ingest.DefaultBatchSize).
const benchBatch = 8192

// benchRows is GRANARY_BENCH_ROWS, default 200k.
func benchRows(b *testing.B) int {
	if s := os.Getenv("GRANARY_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("GRANARY_BENCH_ROWS=%q", s)
		}
		return n
	}
	return 200_000
}

// benchData is n pre-encoded datapoints of 300 bytes, 1 s apart (the
// embedded store's benchmark rows), optionally with a small box each.
func benchData(n int, shuffle, bounds bool) []store.Datapoint {
	dps := make([]store.Datapoint, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range dps {
		dps[i].ID = storetest.MakeID(1_700_000_000_000+int64(i)*1000, r.Uint64())
		dps[i].Data = make([]byte, 300)
		for j := range dps[i].Data {
			dps[i].Data[j] = byte(r.Uint32())
		}
		if bounds {
			x, y := r.Float64()*359-180, r.Float64()*179-90
			dps[i].Bounds = []orb.Bound{{Min: orb.Point{x, y}, Max: orb.Point{x + 0.5, y + 0.5}}}
		}
	}
	if shuffle {
		r.Shuffle(len(dps), func(i, j int) { dps[i], dps[j] = dps[j], dps[i] })
	}
	return dps
}

// copyRaw is the floor: a binary COPY of the rows straight into the
// datapoints table (no staging, no conflict handling), batch rows per
// transaction.
func copyRaw(ctx context.Context, st *Store, pk int64, dps []store.Datapoint, batch int) error {
	now := time.Now().UnixMicro()
	for start := 0; start < len(dps); start += batch {
		part := dps[start:min(start+batch, len(dps))]
		err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
			r := newCopyReader(ctx, len(part), func(buf []byte, i int) []byte {
				buf = appendFieldCount(buf, 4)
				buf = appendInt8(buf, pk)
				buf = appendUUID(buf, (*[16]byte)(&part[i].ID))
				buf = appendTimestamptz(buf, now)
				return appendBytes(buf, part[i].Data)
			})
			_, err := tx.Conn().PgConn().CopyFrom(ctx, r, "COPY datapoints (collection, id, ingestion_time, data) FROM STDIN (FORMAT binary)")
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkIngest compares Store.Ingest (in the CLI's 8192-datapoint
// calls, and in one call) with raw COPY of the same pre-encoded rows into
// the same table (the floor), for time-ordered and shuffled IDs, into an
// empty collection of a fresh schema each time.
func BenchmarkIngest(b *testing.B) {
	n := benchRows(b)
	for _, order := range []struct {
		name    string
		shuffle bool
	}{{"time_ordered", false}, {"shuffled", true}} {
		for _, tc := range []struct {
			name    string
			postgis bool
			bounds  bool
			batch   int
			raw     bool
			staging bool // WithDirectCopy(false)
		}{
			{"store", true, false, benchBatch, false, false},
			{"store_staging_only", true, false, benchBatch, false, true},
			{"store_one_call", true, false, n, false, false},
			{"store_with_bounds_postgis", true, true, benchBatch, false, false},
			{"store_with_bounds_box", false, true, benchBatch, false, false},
			{"copy_floor", true, false, n, true, false},
			{"copy_floor_batched", true, false, benchBatch, true, false},
		} {
			b.Run(order.name+"/"+tc.name, func(b *testing.B) {
				dps := benchData(n, order.shuffle, tc.bounds)
				ctx := context.Background()
				var cpu time.Duration
				for b.Loop() {
					b.StopTimer()
					st, name := openBench(b, tc.postgis, WithDirectCopy(!tc.staging))
					_, c := setup(b, st, "bench.ingest", "main")
					pk, err := collectionPK(ctx, st.pool, c.ID, "")
					if err != nil {
						b.Fatal(err)
					}
					cpu0 := cpuTime()
					b.StartTimer()
					if tc.raw {
						err = copyRaw(ctx, st, pk, dps, tc.batch)
					} else {
						for start := 0; start < len(dps) && err == nil; start += tc.batch {
							_, err = st.Ingest(ctx, c.ID, dps[start:min(start+tc.batch, len(dps))], false)
						}
					}
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					cpu += cpuTime() - cpu0
					st.Close()
					dropSchema(b, testURL(b), name)
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/datapoint")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/datapoint")
			})
		}
	}
}

// openBench opens a store in a new schema; the caller drops it.
func openBench(b *testing.B, postgis bool, opts ...Option) (*Store, string) {
	name := newSchemaName()
	st, err := Open(context.Background(), testURL(b), append([]Option{WithSchema(name), WithPostGIS(postgis)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return st, name
}

// BenchmarkQuery pages through 200k datapoints 8192 at a time, and reads
// single datapoints by ID.
func BenchmarkQuery(b *testing.B) {
	st, _ := openFresh(b, true)
	ctx := context.Background()
	_, c := setup(b, st, "bench.query", "main")
	n := benchRows(b)
	dps := benchData(n, false, true)
	for start := 0; start < n; start += benchBatch {
		if _, err := st.Ingest(ctx, c.ID, dps[start:min(start+benchBatch, n)], false); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.pool.Exec(ctx, "VACUUM ANALYZE datapoints"); err != nil {
		b.Fatal(err)
	}
	for _, skip := range []bool{false, true} {
		name := "page/data"
		if skip {
			name = "page/skip_data"
		}
		b.Run(name, func(b *testing.B) {
			read := 0
			for b.Loop() {
				from := storetest.MinID
				for {
					page, err := st.Query(ctx, store.Query{Collections: []uuid.UUID{c.ID}, From: from, To: storetest.MaxID, Limit: benchBatch, SkipData: skip})
					if err != nil {
						b.Fatal(err)
					}
					read += len(page)
					if len(page) < benchBatch {
						break
					}
					from = page[len(page)-1].ID
					from[15]++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(read), "ns/datapoint")
		})
	}
	b.Run("get", func(b *testing.B) {
		r := rand.New(rand.NewPCG(3, 4))
		gets := 0
		for b.Loop() {
			if _, err := st.Get(ctx, []uuid.UUID{c.ID}, dps[r.IntN(n)].ID, false); err != nil {
				b.Fatal(err)
			}
			gets++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(gets), "ns/get")
	})
	b.Run("box_1deg", func(b *testing.B) {
		r := rand.New(rand.NewPCG(5, 6))
		found := 0
		for b.Loop() {
			x, y := r.Float64()*358-179, r.Float64()*178-89
			got, err := st.Query(ctx, store.Query{Collections: []uuid.UUID{c.ID}, From: storetest.MinID, To: storetest.MaxID,
				Boxes: []orb.Bound{{Min: orb.Point{x, y}, Max: orb.Point{x + 1, y + 1}}}})
			if err != nil {
				b.Fatal(err)
			}
			found += len(got)
		}
		b.ReportMetric(float64(found)/float64(b.N), "datapoints/query")
	})
}

// cpuTime is the CPU time used so far by this process and by every
// process named postgres on this machine (the test server's backends and
// helpers, when the server is local): under load from other work it is a
// steadier measure than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	total := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open || s[open+1:close] != "postgres" {
			continue
		}
		f := strings.Fields(s[close+2:]) // from field 3 (state) on
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
		st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
		total += time.Duration(ut+st) * time.Second / clockTicks
	}
	return total
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100
