package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/granaryhq/granary/schema"
)

// BenchmarkCSVMap reads and maps a 100k-row CSV file with a timestamp, a
// float, a string and a float array per row.
func BenchmarkCSVMap(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("time,value,sensor,history\n")
	const n = 100_000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "2024-01-01T00:00:%02d.%06dZ,%d.5,sensor-%d,\"[%d.25, 1.5]\"\n", i%60, i, i, i%10, i)
	}
	p := filepath.Join(b.TempDir(), "bench.csv")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	ds, err := schema.New("g", "bench", "Bench", schema.Temporal, []schema.Field{
		{Name: "value", Type: schema.Float64}, {Name: "sensor", Type: schema.String}, {Name: "history", Type: schema.Float64, Array: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	for b.Loop() {
		src, err := Open(p, WithAllocator(mem))
		if err != nil {
			b.Fatal(err)
		}
		m, err := NewMapper(src.Schema(), ds, Mapping{}, "bench.csv", WithAllocator(mem))
		if err != nil {
			b.Fatal(err)
		}
		for batch, err := range src.Batches() {
			if err != nil {
				b.Fatal(err)
			}
			rec, err := m.Map(batch)
			if err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		src.Close()
		if m.Stats().Rows != n {
			b.Fatal(m.Stats())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
}
