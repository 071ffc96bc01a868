package main

import (
	"strings"
	"testing"
)

func TestAggregateTakesMedians(t *testing.T) {
	in := "pkg: x/readpath\n" +
		"BenchmarkA-2 3 100 ns/op 5 rows/s\n" +
		"BenchmarkB 1 50 ns/op\n" +
		"BenchmarkA-2 3 300 ns/op 7 rows/s\n" +
		"BenchmarkA-2 3 200 ns/op 6 rows/s\n"
	lines, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	rs := aggregate(lines)
	if len(rs) != 2 || rs[0].Name != "A" || rs[1].Name != "B" {
		t.Fatalf("got %+v", rs)
	}
	a := rs[0]
	if a.Seconds != 200e-9 || a.Min != 100e-9 || a.Max != 300e-9 || a.Samples != 3 || a.Runs != 9 || a.Metrics["rows/s"] != 6 {
		t.Errorf("A: %+v", a)
	}
	if median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Error("median of an even count")
	}
}
