package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/export"
	"github.com/granaryhq/granary/schema"
)

// exportFlags are the flags that make a verb write a file instead of
// printing: `granary query -o FILE` and `granary convert`.
type exportFlags struct {
	output      string
	format      string
	compression string
	bboxColumn  bool
}

// add registers -o/--output (unless withOutput is false: convert takes
// OUT as an argument), --format, --compression and --bbox-column.
func (e *exportFlags) add(f *pflag.FlagSet, withOutput bool) {
	if withOutput {
		f.StringVarP(&e.output, "output", "o", "", "write the datapoints to FILE (- for standard output) instead of printing them")
	}
	f.StringVar(&e.format, "format", "", "file format: parquet, geoparquet, feather, arrow-stream, csv or ndjson (default: by the file's extension)")
	f.StringVar(&e.compression, "compression", "", "codec: Parquet zstd (default), snappy, gzip, lz4, none; Feather lz4 (default), zstd, none")
	f.BoolVar(&e.bboxColumn, "bbox-column", false, "GeoParquet: add a per-row bbox column declared as the geometry's covering")
}

// resolve picks the format for the file and dataset.
func (e *exportFlags) resolve(ds *schema.Dataset, fields []string) (export.Format, []export.Option, error) {
	var f export.Format
	switch {
	case e.format != "":
		var err error
		if f, err = export.ParseFormat(e.format); err != nil {
			return 0, nil, usageError{err}
		}
	default:
		var ok bool
		if f, ok = export.FormatForPath(e.output, ds); !ok {
			return 0, nil, usagef("cannot tell the format of %q from its extension; give --format (%s)", e.output, export.Formats())
		}
		if f == export.GeoParquet && !contains(fields, schema.FieldGeometry) {
			f = export.Parquet // e.g. --skip-data: no geometry to describe
		}
	}
	var opts []export.Option
	if e.compression != "" {
		opts = append(opts, export.WithCompression(e.compression))
	}
	if e.bboxColumn {
		if f != export.GeoParquet {
			return 0, nil, usagef("--bbox-column needs GeoParquet output")
		}
		opts = append(opts, export.WithCoveringBBox())
	}
	return f, opts, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// exportQuery writes the datapoints of a query to the file named by e
// (page by page; memory holds one record of 8192 rows). With skipData only
// time, id and ingestion_time are written; limit > 0 stops after that many.
func (a *app) exportQuery(ctx context.Context, c *datasets.Client, ds *datasets.Dataset, opts []datasets.QueryOption, skipData bool, limit int, e *exportFlags) error {
	return a.exportDatapoints(ds.Schema, c.Datapoints.Query(ctx, ds.ID, opts...), skipData, limit, e)
}

// exportDatapoints writes encoded datapoints (e.g. a query's, after any
// filtering of the caller's) to the file named by e.
func (a *app) exportDatapoints(ds *schema.Dataset, seq iter.Seq2[[]byte, error], skipData bool, limit int, e *exportFlags) error {
	var fields []string
	for i, f := range ds.Fields {
		if skipData && i >= 3 {
			break
		}
		fields = append(fields, f.Name)
	}
	format, opts, err := e.resolve(ds, fields)
	if err != nil {
		return err
	}
	if limit > 0 {
		seq = limited(seq, limit)
	}
	dec, err := convert.NewDecoder(ds, nil, fields...)
	if err != nil {
		return err
	}
	defer dec.Release()
	n, err := writeExport(e.output, a.stdout, format, ds, dec, seq, opts)
	if err != nil {
		return err
	}
	return a.reportWritten(n, e.output, format)
}

func (a *app) reportWritten(n int64, path string, format export.Format) error {
	if path == "-" {
		return nil
	}
	if a.json {
		return a.printJSON(map[string]any{"written": n, "file": path, "format": format.String()})
	}
	if !a.quiet {
		fmt.Fprintf(a.stdout, "wrote %d datapoint(s) to %s (%s)\n", n, path, format)
	}
	return nil
}

// writeExport writes the file through a temporary file renamed into place
// when complete, so that a failed export leaves no partial file; "-" is
// standard output.
func writeExport(path string, stdout io.Writer, format export.Format, ds *schema.Dataset, dec *convert.Decoder, seq iter.Seq2[[]byte, error], opts []export.Option) (int64, error) {
	run := func(out io.Writer) (int64, error) {
		w, err := export.NewWriter(out, format, ds, dec.Schema(), opts...)
		if err != nil {
			return 0, err
		}
		n, err := export.Datapoints(w, dec, seq, 0)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		return n, err
	}
	if path == "-" {
		return run(stdout)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, err
	}
	n, err := run(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return n, err
	}
	return n, nil
}

// limited stops seq after n items.
func limited(seq iter.Seq2[[]byte, error], n int) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		i := 0
		for b, err := range seq {
			if !yield(b, err) || err != nil {
				return
			}
			if i++; i >= n {
				return
			}
		}
	}
}
