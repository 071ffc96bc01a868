package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestZZExplore(t *testing.T) {
	root := "/work/shared/corpus"
	var paths []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "csv") || strings.HasPrefix(rel, "LICENSES") || strings.HasSuffix(rel, ".md") || strings.HasSuffix(rel, ".json") || strings.HasSuffix(rel, ".csv") || strings.HasSuffix(rel, ".yaml") || strings.HasSuffix(rel, "SHA256SUMS") {
			return nil
		}
		paths = append(paths, p)
		return nil
	})
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		t0 := time.Now()
		rows, err := func() (rows int64, err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("PANIC %v", r)
				}
			}()
			src, err := Open(p, WithMemoryLimit(256<<20))
			if err != nil {
				return 0, err
			}
			defer src.Close()
			for b, err := range src.Batches() {
				if err != nil {
					return rows, err
				}
				rows += b.Record.NumRows()
			}
			return rows, nil
		}()
		runtime.ReadMemStats(&ms1)
		e := ""
		if err != nil {
			e = err.Error()
			if len(e) > 220 {
				e = e[:220]
			}
		}
		fmt.Printf("%-95s %6d %5dms %6dMB %s\n", rel, rows, time.Since(t0).Milliseconds(), (ms1.TotalAlloc-ms0.TotalAlloc)>>20, e)
	}
}
