package main

import (
	"fmt"
	"iter"
	"time"

	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/schema"
)

func (a *app) convertCommand() *cobra.Command {
	var (
		slug, schemaFile string
		mf               mappingFlags
		ef               exportFlags
	)
	cmd := &cobra.Command{
		Use:   "convert IN... OUT (--dataset SLUG | --schema FILE)",
		Short: "Run files through mapping and ID generation into another file, without a store",
		Long: `Read input files (CSV, Parquet, GeoParquet, Feather; files, directories or
globs as for ingest), map their columns onto a dataset's fields exactly as
ingest does (--map, --drop, --set), compute every datapoint's ID, and write
what ingest would store, with an id column, to OUT: Parquet, GeoParquet,
Feather, an Arrow IPC stream, CSV or NDJSON by OUT's extension or --format.

The dataset comes from --schema FILE, or from the store with --dataset SLUG
(read only). Nothing is written to a store. Ingesting OUT later gives the
same IDs as ingesting the inputs.`,
		Example: `  granary convert --schema examples/granules.yaml examples/granules.csv granules.parquet
  granary convert --dataset my_org.measurements --map temp=value raw/*.csv clean.feather
  granary convert --schema s.yaml in.parquet out.csv --drop comment`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usagef("convert needs at least one input and an output: convert IN... OUT")
			}
			if (slug == "") == (schemaFile == "") {
				return usagef("convert needs either --dataset SLUG or --schema FILE")
			}
			mapping, mapOpts, err := mf.build()
			if err != nil {
				return usageError{err}
			}
			ef.output = args[len(args)-1]
			files, err := expandInputs(args[:len(args)-1])
			if err != nil {
				return err
			}
			var ds *schema.Dataset
			if schemaFile != "" {
				if ds, err = readSchemaFor(slug, schemaFile); err != nil {
					return err
				}
			} else {
				c, err := a.client()
				if err != nil {
					return err
				}
				d, err := c.Datasets.Get(cmd.Context(), slug)
				c.Close()
				if err != nil {
					return err
				}
				ds = d.Schema
			}
			// What ingest would store, with its id; ingestion_time has no value yet.
			var fields []string
			for _, f := range ds.Fields {
				if f.Name != schema.FieldIngestionTime {
					fields = append(fields, f.Name)
				}
			}
			format, opts, err := ef.resolve(ds, fields)
			if err != nil {
				return err
			}
			dec, err := convert.NewDecoder(ds, nil, fields...)
			if err != nil {
				return err
			}
			defer dec.Release()

			p := &filePipeline{ds: ds, mapping: mapping, mapOpts: mapOpts, files: files, stdin: a.stdin}
			prog := a.newProgress("convert", files)
			p.progress = prog
			var spliced []byte
			seq := iter.Seq2[[]byte, error](func(yield func([]byte, error) bool) {
				for ch, err := range p.chunks() {
					if err != nil {
						yield(nil, err)
						return
					}
					if err := cmd.Context().Err(); err != nil {
						yield(nil, err)
						return
					}
					for _, dp := range ch.Datapoints {
						spliced = convert.Splice(spliced[:0], dp.Data, dp.ID, time.Time{}, false)
						if !yield(spliced, nil) {
							return
						}
					}
					prog.committed(len(ch.Datapoints))
				}
			})
			start := time.Now()
			prog.start()
			n, err := writeExport(ef.output, a.stdout, format, ds, dec, seq, opts)
			prog.stop()
			if err != nil {
				return err
			}
			el := time.Since(start).Seconds()
			if a.json {
				return a.printJSON(map[string]any{"read": p.read, "written": n, "file": ef.output, "format": format.String(),
					"padding_stripped": p.stats.Padding + p.stats.NullElements, "geometries_split": p.stats.GeometriesSplit, "rings_rewound": p.stats.RingsRewound, "geometries_flattened": p.stats.GeometriesFlattened, "elapsed_s": el})
			}
			if !a.quiet && ef.output != "-" {
				fmt.Fprintf(a.stdout, "converted %d row(s) from %d file(s) into %s (%s, %.2fs)\n", n, len(files), ef.output, format, el)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "dataset", "", "dataset slug (its schema is read from the store)")
	f.StringVar(&schemaFile, "schema", "", "schema file")
	mf.add(f)
	ef.add(f, false)
	return cmd
}
