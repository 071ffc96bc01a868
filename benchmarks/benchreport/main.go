// Command benchreport reads `go test -bench` output on standard input and
// prints a table of times, rows/s and allocations, then the ratios the
// issues set targets for. With -json it prints the same as one JSON object.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// result is one benchmark: the median of its lines when it ran more than
// once (go test -count), which a noisy shared machine needs.
type result struct {
	Package string             `json:"package"`
	Name    string             `json:"name"`
	Runs    int                `json:"runs"`
	Seconds float64            `json:"seconds_per_op"` // median
	Samples int                `json:"samples"`        // lines (go test -count)
	Min     float64            `json:"seconds_min"`
	Max     float64            `json:"seconds_max"`
	Metrics map[string]float64 `json:"metrics"` // medians
	times   []float64          // seconds per op of each line, in input order
}

// ratio compares two benchmarks of one package by time per op.
type ratio struct {
	Package, Num, Den, Label, Target string
}

// ratios are the comparisons the issues name, with their targets.
var ratios = []ratio{
	{"readpath", "Granary", "DecodeFloor", "our read→map→encode→ID path / decode floor", "≤ 1.5 (stretch 1.3)"},
	{"readpath", "Naive", "Granary", "naive dynamic-message path / our path", "≥ 20"},
	{"readpath", "Reader", "DecodeFloor", "granary's Parquet reader alone / decode floor", "report"},
	{"readpath", "Granary", "Reader", "our path / granary's Parquet reader alone", "report"},
	{"pipeline", "IngestEndToEnd", "StoreFloor", "end-to-end ingest / the store's bulk-insert floor", "≤ 1.15"},
	{"pipeline", "PostgresEndToEnd", "PostgresFloor", "end-to-end ingest into PostgreSQL / its COPY floor", "report"},
	{"pipeline", "PostgresEndToEnd", "IngestEndToEnd", "end-to-end ingest into PostgreSQL / into the embedded store", "report"},
	{"pipeline", "TileboxStyle", "IngestEndToEnd", "tilebox-go-style ingest / ours", "report"},
	{"pipeline", "ExportGeoParquet", "ExportReadBack", "export to GeoParquet / reading it back", "report"},
	{"server", "Ingest/loopback_http1", "Ingest/embedded", "ingest over loopback (HTTP/1.1) / embedded", "report"},
	{"server", "Ingest/loopback_h2c", "Ingest/embedded", "ingest over loopback (h2c) / embedded", "report"},
	{"server", "Query/loopback_http1/data", "Query/embedded/data", "query over loopback / embedded", "report"},
}

func main() {
	asJSON := flag.Bool("json", false, "print one JSON object")
	flag.Parse()
	lines, err := parse(os.Stdin)
	results := aggregate(lines)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "benchreport: no benchmark results on input")
		os.Exit(1)
	}
	type ratioOut struct {
		Label  string  `json:"label"`
		Value  float64 `json:"value"`
		Target string  `json:"target"`
	}
	var outs []ratioOut
	for _, r := range ratios {
		num, den := find(results, r.Package, r.Num), find(results, r.Package, r.Den)
		if num == nil || den == nil || den.Seconds == 0 {
			continue
		}
		outs = append(outs, ratioOut{r.Label, pairedRatio(num, den), r.Target})
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"benchmarks": results, "ratios": outs})
		return
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "package\tbenchmark\ts/op\tmin–max (runs)\trows/s\tallocs/op\tallocs/row\tB/op\tother\t")
	for _, r := range results {
		rows := r.Metrics["rows/s"] * r.Seconds
		allocsRow := "-"
		if rows > 0 {
			allocsRow = fmt.Sprintf("%.3f", r.Metrics["allocs/op"]/rows)
		}
		var other []string
		for k, v := range r.Metrics {
			switch k {
			case "rows/s", "allocs/op", "B/op", "ns/op":
			default:
				other = append(other, fmt.Sprintf("%s=%.4g", k, v))
			}
		}
		spread := "-"
		if r.Samples > 1 {
			spread = fmt.Sprintf("%.3f–%.3f (%d)", r.Min, r.Max, r.Samples)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%s\t%.0f\t%.0f\t%s\t%.0f\t%s\t\n", r.Package, r.Name, r.Seconds, spread, r.Metrics["rows/s"], r.Metrics["allocs/op"], allocsRow, r.Metrics["B/op"], strings.Join(other, " "))
	}
	tw.Flush()
	if len(outs) > 0 {
		fmt.Println()
		tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ratio\tvalue\ttarget")
		for _, o := range outs {
			fmt.Fprintf(tw, "%s\t%.2f×\t%s\n", o.Label, o.Value, o.Target)
		}
		tw.Flush()
	}
}

// aggregate merges the lines of each benchmark into one result holding
// the median of every metric, in the order benchmarks first appear.
func aggregate(lines []result) []result {
	var out []result
	index := map[string]int{}
	groups := map[string][]result{}
	for _, l := range lines {
		k := l.Package + " " + l.Name
		if _, ok := index[k]; !ok {
			index[k] = len(out)
			out = append(out, result{Package: l.Package, Name: l.Name})
		}
		groups[k] = append(groups[k], l)
	}
	for k, i := range index {
		g := groups[k]
		r := &out[i]
		r.Samples = len(g)
		r.Metrics = map[string]float64{}
		keys := map[string]bool{}
		for _, l := range g {
			r.Runs += l.Runs
			for m := range l.Metrics {
				keys[m] = true
			}
		}
		for m := range keys {
			var vs []float64
			for _, l := range g {
				if v, ok := l.Metrics[m]; ok {
					vs = append(vs, v)
				}
			}
			r.Metrics[m] = median(vs)
		}
		secs := make([]float64, len(g))
		for j, l := range g {
			secs[j] = l.Seconds
		}
		r.Seconds = median(secs)
		r.times = secs
		r.Min, r.Max = slices.Min(secs), slices.Max(secs)
	}
	return out
}

// pairedRatio is num/den. When both ran the same number of rounds
// (benchmarks/run repeats whole `go test` runs, so sample i of each comes
// from the same round, minutes apart at most) it is the median of the
// per-round ratios, which cancels the slow and fast phases of a shared
// machine; otherwise the ratio of the medians.
func pairedRatio(num, den *result) float64 {
	if len(num.times) != len(den.times) || len(num.times) < 2 {
		return num.Seconds / den.Seconds
	}
	rs := make([]float64, len(num.times))
	for i := range rs {
		rs[i] = num.times[i] / den.times[i]
	}
	return median(rs)
}

func median(vs []float64) float64 {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

func find(rs []result, pkg, name string) *result {
	for i := range rs {
		if strings.HasSuffix(rs[i].Package, "/"+pkg) && rs[i].Name == name {
			return &rs[i]
		}
	}
	return nil
}

// parse reads go test -bench output: "pkg: ..." lines name the package,
// "BenchmarkX-N  runs  V unit  V unit ..." lines carry the values.
func parse(r io.Reader) ([]result, error) {
	var out []result
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		runs, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		res := result{Package: pkg, Name: name, Runs: runs, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			res.Metrics[f[i+1]] = v
		}
		res.Seconds = res.Metrics["ns/op"] / 1e9
		out = append(out, res)
	}
	return out, sc.Err()
}
