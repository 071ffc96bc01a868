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

func TestPairedRatio(t *testing.T) {
	// Round 2 ran on a slow machine: both benchmarks took twice as long.
	in := "pkg: x/readpath\n" +
		"BenchmarkNum 1 300 ns/op\nBenchmarkDen 1 200 ns/op\n" +
		"BenchmarkNum 1 600 ns/op\nBenchmarkDen 1 400 ns/op\n" +
		"BenchmarkNum 1 310 ns/op\nBenchmarkDen 1 200 ns/op\n"
	lines, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	rs := aggregate(lines)
	if got := pairedRatio(&rs[0], &rs[1]); got != 1.5 {
		t.Errorf("paired ratio %v, want 1.5", got)
	}
	one := result{Seconds: 3, times: []float64{3}}
	two := result{Seconds: 2, times: []float64{1, 2}}
	if got := pairedRatio(&one, &two); got != 1.5 {
		t.Errorf("unpaired ratio %v, want the ratio of medians 1.5", got)
	}
}
