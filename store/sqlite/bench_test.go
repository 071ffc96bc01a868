package sqlite_test

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/granaryhq/granary/store"
	"github.com/granaryhq/granary/store/sqlite"
	"github.com/granaryhq/granary/store/storetest"
)

const benchRows, benchBatch = 200_000, 8192

func benchData(shuffle bool) []store.Datapoint {
	dps := make([]store.Datapoint, benchRows)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range dps {
		dps[i].ID = storetest.MakeID(1_700_000_000_000+int64(i)*1000, r.Uint64())
		dps[i].Data = make([]byte, 300)
		for j := range dps[i].Data {
			dps[i].Data[j] = byte(r.Uint32())
		}
	}
	if shuffle {
		r.Shuffle(len(dps), func(i, j int) { dps[i], dps[j] = dps[j], dps[i] })
	}
	return dps
}

func ingestAll(b *testing.B, st *sqlite.Store, c uuid.UUID, dps []store.Datapoint) {
	for start := 0; start < len(dps); start += benchBatch {
		if _, err := st.Ingest(b.Context(), c, dps[start:min(start+benchBatch, len(dps))], false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngest is Store.Ingest's cost per datapoint of ~300 bytes in
// 8192-datapoint calls, to compare with the driver's floor in
// benchmarks/sqlitedriver (same rows, same batches, raw INSERTs).
func BenchmarkIngest(b *testing.B) {
	for _, tc := range []struct {
		name    string
		shuffle bool
	}{{"time_ordered", false}, {"shuffled", true}} {
		b.Run(tc.name, func(b *testing.B) {
			dps := benchData(tc.shuffle)
			for b.Loop() {
				b.StopTimer()
				st, err := sqlite.Open(filepath.Join(b.TempDir(), "granary.db"))
				if err != nil {
					b.Fatal(err)
				}
				_, c := setup(b, st, "bench.ingest", "main")
				b.StartTimer()
				ingestAll(b, st, c.ID, dps)
				b.StopTimer()
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/datapoint")
		})
	}
}

// BenchmarkQuery pages through a collection 8192 datapoints at a time.
func BenchmarkQuery(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "granary.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	_, c := setup(b, st, "bench.query", "main")
	dps := benchData(false)
	ingestAll(b, st, c.ID, dps)
	for _, skip := range []bool{false, true} {
		name := "data"
		if skip {
			name = "skip_data"
		}
		b.Run(name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				from := storetest.MinID
				for {
					page, err := st.Query(b.Context(), store.Query{Collections: []uuid.UUID{c.ID}, From: from, To: storetest.MaxID, Limit: benchBatch, SkipData: skip})
					if err != nil {
						b.Fatal(err)
					}
					n += len(page)
					if len(page) < benchBatch {
						break
					}
					from = page[len(page)-1].ID
					from[15]++
				}
			}
			if n != b.N*benchRows {
				b.Fatalf("read %d datapoints, want %d", n, b.N*benchRows)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/datapoint")
		})
	}
	b.Run("get", func(b *testing.B) {
		ids := make([]store.ID, 10_000)
		r := rand.New(rand.NewPCG(3, 4))
		for i := range ids {
			ids[i] = dps[r.IntN(len(dps))].ID
		}
		cols := []uuid.UUID{c.ID}
		for b.Loop() {
			for _, id := range ids {
				if _, err := st.Get(b.Context(), cols, id, false); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/get")
	})
}
