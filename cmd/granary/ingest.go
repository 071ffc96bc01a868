package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/ingest"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// ingestSummary is what an ingest run reports at the end.
type ingestSummary struct {
	Files          int     `json:"files"`
	Read           int64   `json:"read"`
	Created        int64   `json:"created"`
	Existing       int64   `json:"existing"`
	Calls          int     `json:"calls"`
	PaddingDropped int64   `json:"padding_stripped"`
	ElapsedSeconds float64 `json:"elapsed_s"`
	RowsPerSecond  float64 `json:"rows_per_s"`
}

func (a *app) ingestCommand() *cobra.Command {
	var (
		slug, collection, schemaFile string
		allowExisting                bool
		maps, drops, sets            []string
	)
	cmd := &cobra.Command{
		Use:   "ingest --dataset SLUG --collection NAME [--schema FILE] FILE...",
		Short: "Ingest CSV files into a collection",
		Long: `Ingest files into a collection, creating the collection if it is missing
(and, with --schema, the dataset too).

Columns map to fields by header name; --map src=dst renames a column, --drop col
ignores one, --set field=value gives a field the same value on every row. A column
that matches no field is an error unless dropped. Columns named id or
ingestion_time are ignored: granary sets both.

Cells parse to the field's type: RFC 3339 / ISO 8601 times (nanoseconds and
offsets; a bare date is midnight UTC), durations (1h30m or PT1H30M), UUIDs, WKT
geometries, arrays as literals like [-12.15, 13.45]. An empty cell is no value.
A bad cell stops the run with an error naming file, row, column and value;
nothing of that call is stored, earlier calls stay stored and are reported.

Every datapoint's ID is derived from its content, so re-running an ingest
creates no duplicates: with --allow-existing (the default) datapoints already
stored are counted as existing; with --allow-existing=false they fail the call.`,
		Example: `  granary ingest --dataset my_org.measurements --collection 2024 examples/measurements.csv
  granary ingest --schema examples/measurements.yaml --dataset my_org.measurements --collection 2024 examples/measurements.csv
  granary ingest --dataset my_org.measurements --collection raw --map temp=value --drop comment --set sensor=s1 data.csv`,
		RunE: func(cmd *cobra.Command, files []string) error {
			if slug == "" || collection == "" {
				return usagef("ingest needs --dataset SLUG and --collection NAME")
			}
			if len(files) == 0 {
				return usagef("ingest needs at least one FILE")
			}
			mapping, err := ingest.ParseMapping(maps, drops, sets)
			if err != nil {
				return usageError{err}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			ds, err := a.datasetFor(ctx, c, slug, schemaFile)
			if err != nil {
				return err
			}
			col, err := c.Collections.GetOrCreate(ctx, ds.ID, collection)
			if err != nil {
				return err
			}
			start := time.Now()
			var sum ingestSummary
			for _, file := range files {
				err := ingestFile(ctx, c, ds.Schema, col.ID, file, mapping, allowExisting, &sum)
				sum.Files++
				if err != nil {
					if sum.Created+sum.Existing > 0 {
						err = fmt.Errorf("%w\n(before that, %d datapoint(s) were stored: %d created, %d already existed)", err, sum.Created+sum.Existing, sum.Created, sum.Existing)
					}
					return err
				}
			}
			sum.ElapsedSeconds = time.Since(start).Seconds()
			if sum.ElapsedSeconds > 0 {
				sum.RowsPerSecond = float64(sum.Read) / sum.ElapsedSeconds
			}
			if a.json {
				return json.NewEncoder(a.stdout).Encode(sum)
			}
			if !a.quiet {
				fmt.Fprintf(a.stdout, "ingested %d row(s) from %d file(s) into %s/%s: %d created, %d already existed (%.2fs, %.0f rows/s)\n",
					sum.Read, sum.Files, ds.Slug, col.Name, sum.Created, sum.Existing, sum.ElapsedSeconds, sum.RowsPerSecond)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "dataset", "", "dataset slug")
	f.StringVar(&collection, "collection", "", "collection name (created if missing)")
	f.StringVar(&schemaFile, "schema", "", "schema file; creates the dataset if it does not exist")
	f.BoolVar(&allowExisting, "allow-existing", true, "count datapoints already stored as existing instead of failing")
	f.StringArrayVar(&maps, "map", nil, "rename a column: src=dst (repeatable)")
	f.StringArrayVar(&drops, "drop", nil, "ignore a column (repeatable)")
	f.StringArrayVar(&sets, "set", nil, "set a field on every row: field=value (repeatable)")
	return cmd
}

// datasetFor finds the dataset, creating it from the schema file if given
// and missing.
func (a *app) datasetFor(ctx context.Context, c *datasets.Client, slug, schemaFile string) (*datasets.Dataset, error) {
	ds, err := c.Datasets.Get(ctx, slug)
	if err == nil || !datasets.IsNotFound(err) || schemaFile == "" {
		return ds, err
	}
	s, err := schema.ReadFile(schemaFile)
	if err != nil {
		return nil, err
	}
	if s.Slug() != slug && s.CodeName != slug {
		return nil, usagef("--dataset %s does not match the schema file's %s", slug, s.Slug())
	}
	ds, err = c.Datasets.Create(ctx, s)
	if err == nil {
		a.log.Info("created dataset", "slug", ds.Slug)
	}
	return ds, err
}

// ingestFile streams one file: read a batch, map it onto the schema, encode
// it with IDs, and ingest it as one call.
func ingestFile(ctx context.Context, c *datasets.Client, ds *schema.Dataset, collection uuid.UUID, file string, mapping ingest.Mapping, allowExisting bool, sum *ingestSummary) error {
	src, err := ingest.Open(file)
	if err != nil {
		return err
	}
	defer src.Close()
	mapper, err := ingest.NewMapper(src.Schema(), ds, mapping, file)
	if err != nil {
		return err
	}
	var (
		enc    *convert.Encoder
		buf    []byte
		dps    []store.Datapoint
		values [][]byte
	)
	for b, err := range src.Batches() {
		if err != nil {
			return err
		}
		rec, err := mapper.Map(b)
		if err != nil {
			return err
		}
		if enc == nil {
			if enc, err = convert.NewEncoder(ds, rec.Schema()); err != nil {
				rec.Release()
				return fmt.Errorf("%s: %w", file, err)
			}
		}
		buf, dps, err = enc.Encode(rec, buf[:0], dps[:0])
		rows := rec.NumRows()
		rec.Release()
		if err != nil {
			var re *convert.RowError
			if errors.As(err, &re) {
				return &ingest.Error{File: file, Row: b.FirstRow + int64(re.Row), Line: b.Line(re.Row), Column: re.Field, Err: re.Err}
			}
			return fmt.Errorf("%s: %w", file, err)
		}
		values = values[:0]
		for _, dp := range dps {
			values = append(values, dp.Data)
		}
		resp, err := c.Datapoints.IngestEncoded(ctx, collection, values, allowExisting)
		if err != nil {
			return fmt.Errorf("%s: rows %d-%d: %w", file, b.FirstRow, b.FirstRow+rows-1, err)
		}
		sum.Read += rows
		sum.Calls++
		sum.Created += resp.NumCreated
		sum.Existing += resp.NumExisting
	}
	st := mapper.Stats()
	sum.PaddingDropped += st.Padding + st.NullElements
	return nil
}
