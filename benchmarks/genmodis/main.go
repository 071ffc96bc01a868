// Command genmodis writes a MODIS-like GeoParquet file for benchmarks:
//
//	go run ./benchmarks/genmodis -rows 1000000 -o benchmarks/testdata/modis-1000000.parquet
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/granaryhq/granary/benchmarks/modis"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "number of rows")
	out := flag.String("o", "benchmarks/testdata/modis-1000000.parquet", "output file")
	flag.Parse()
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	tmp := *out + ".tmp"
	if err := modis.Write(context.Background(), tmp, *rows); err != nil {
		fmt.Fprintln(os.Stderr, "genmodis:", err)
		os.Exit(1)
	}
	if err := os.Rename(tmp, *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	st, _ := os.Stat(*out)
	fmt.Fprintf(os.Stderr, "wrote %s: %d rows, %.1f MB in %s\n", *out, *rows, float64(st.Size())/1e6, time.Since(start).Round(time.Millisecond))
}
