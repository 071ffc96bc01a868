package modis

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Input returns the benchmark input file and its row count for a benchmark
// under benchmarks/: $GRANARY_BENCH_FILE, or benchmarks/testdata/modis-N.parquet
// with N from $GRANARY_BENCH_ROWS (default 1M), generated when missing.
func Input(tb testing.TB) (string, int) {
	tb.Helper()
	rows := 1_000_000
	if s := os.Getenv("GRANARY_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			tb.Fatalf("GRANARY_BENCH_ROWS: %v", err)
		}
		rows = n
	}
	path := os.Getenv("GRANARY_BENCH_FILE")
	if path == "" {
		// Benchmarks run in their package directory, benchmarks/<name>.
		path = filepath.Join("..", "testdata", fmt.Sprintf("modis-%d.parquet", rows))
	}
	if _, err := os.Stat(path); err != nil {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := Write(context.Background(), path+".tmp", rows); err != nil {
			tb.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			tb.Fatal(err)
		}
	}
	return path, rows
}
