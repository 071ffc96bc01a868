package main

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/batch"
	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

func (a *app) copyCommand() *cobra.Command {
	var (
		from, to, timeArg string
		drops             []string
		allowExisting     bool
		dryRun            bool
		pf                pipelineFlags
	)
	cmd := &cobra.Command{
		Use:   "copy --from SLUG/COLLECTION --to SLUG/COLLECTION [--time START,END] [--drop FIELD]...",
		Short: "Copy datapoints from one collection into another, across datasets too",
		Long: `Copy the datapoints of a collection (all of them, or those of --time START,END)
into another collection, streaming query pages into ingest calls with the
batching, concurrency and retries of ingest. The destination collection is
created if missing; its dataset must exist.

Across datasets the schemas must fit: the same kind, and every field of the
source present in the destination with the same type, or left out with
--drop FIELD; an error lists every field that does not fit. IDs are computed
from the content in the destination's schema: with the same schema (the same
fields and field numbers) the copies keep their IDs. Re-running a copy
creates nothing new: what is there already counts as existing.`,
		Example: `  granary copy --from my_org.granules/modis --to my_org.granules/modis_backup
  granary copy --from my_org.granules/modis --to archive.granules/2024 --time 2024-01-01,2025-01-01
  granary copy --from my_org.granules/modis --to my_org.slim/modis --drop cloud_cover --dry-run`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usagef("copy needs --from SLUG/COLLECTION and --to SLUG/COLLECTION")
			}
			srcSlug, srcCol, ok1 := strings.Cut(from, "/")
			dstSlug, dstCol, ok2 := strings.Cut(to, "/")
			if !ok1 || !ok2 || srcSlug == "" || srcCol == "" || dstSlug == "" || dstCol == "" {
				return usagef("--from and --to want SLUG/COLLECTION, e.g. my_org.granules/modis")
			}
			var extent any = datasets.IDInterval{StartID: uuid.Nil, EndID: uuid.Max}
			if timeArg != "" {
				ti, err := parseInterval("--time", timeArg)
				if err != nil {
					return err
				}
				extent = ti
			}
			bopts, err := pf.options(a)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			src, scol, err := collectionOf(ctx, c, srcSlug, srcCol)
			if err != nil {
				return err
			}
			dst, err := c.Datasets.Get(ctx, dstSlug)
			if err != nil {
				if datasets.IsNotFound(err) {
					return fmt.Errorf("%w (create the destination dataset first, e.g. with granary dataset create --schema FILE)", err)
				}
				return err
			}
			fields, err := copyFields(src.Schema, dst.Schema, drops)
			if err != nil {
				return err
			}
			var dcol *datasets.Collection
			if dryRun {
				if dcol, err = c.Collections.Get(ctx, dst.ID, dstCol); err != nil && !datasets.IsNotFound(err) {
					return err
				}
			} else if dcol, err = c.Collections.GetOrCreate(ctx, dst.ID, dstCol); err != nil {
				return err
			}
			if dcol != nil && dcol.ID == scol.ID {
				return usagef("--from and --to are the same collection")
			}
			bopts = append(bopts, batch.WithAllowExisting(allowExisting))
			var dstID uuid.UUID
			switch {
			case dcol == nil:
				bopts = append(bopts, batch.WithDryRun(nil))
			case dryRun:
				dstID = dcol.ID
				bopts = append(bopts, batch.WithDryRun(batch.QueryExists(c.Datapoints, dst.ID, dcol.ID)))
			default:
				dstID = dcol.ID
				bopts = append(bopts, batch.WithExists(batch.QueryExists(c.Datapoints, dst.ID, dcol.ID)))
			}
			qopts := []datasets.QueryOption{datasets.WithCollections(scol.ID), datasets.WithPageSize(batch.MaxCount)}
			switch e := extent.(type) {
			case datasets.TimeInterval:
				qopts = append(qopts, datasets.WithTemporalExtent(e))
			case datasets.IDInterval:
				qopts = append(qopts, datasets.WithTemporalExtent(e))
			}
			prog := a.newProgress("copy", nil)
			bopts = append(bopts, batch.WithOnCommit(func(cm batch.Commit) { prog.committed(cm.Rows) }))
			var read int64
			chunks := copyChunks(ctx, c, src, dst.Schema, fields, from, qopts, &read)
			start := time.Now()
			prog.start()
			res, runErr := batch.NewIngester(c.Datapoints, dstID, bopts...).Run(ctx, chunks)
			prog.stop()
			sum := ingestSummary{DryRun: dryRun, Read: read, Created: res.Created, Existing: res.Existing, Rejected: res.Rejected,
				Calls: res.Calls, Retries: res.Retries, ElapsedSeconds: time.Since(start).Seconds()}
			if sum.ElapsedSeconds > 0 {
				sum.RowsPerSecond = float64(sum.Read) / sum.ElapsedSeconds
			}
			if runErr != nil {
				if stored := res.Created + res.Existing; stored > 0 && !dryRun {
					runErr = fmt.Errorf("%w\n(before that, %d datapoint(s) were copied: %d created, %d already existed; re-running the copy continues without duplicates)", runErr, stored, res.Created, res.Existing)
				}
				if a.json {
					sum.Error = runErr.Error()
					a.printJSON(sum)
				}
				return runErr
			}
			if a.json {
				return a.printJSON(sum)
			}
			if dryRun {
				fmt.Fprintf(a.stdout, "dry run: copying %d datapoint(s) from %s to %s would create %d, %d already there; nothing was written\n", sum.Read, from, to, sum.Created, sum.Existing)
			} else if !a.quiet {
				fmt.Fprintf(a.stdout, "copied %d datapoint(s) from %s to %s: %d created, %d already existed in %d call(s)%s (%.2fs, %.0f rows/s)\n",
					sum.Read, from, to, sum.Created, sum.Existing, sum.Calls, retriesNote(sum.Retries), sum.ElapsedSeconds, sum.RowsPerSecond)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "source SLUG/COLLECTION")
	f.StringVar(&to, "to", "", "destination SLUG/COLLECTION (the collection is created if missing)")
	f.StringVar(&timeArg, "time", "", "copy only the half-open interval START,END")
	f.StringArrayVar(&drops, "drop", nil, "leave a source field out (repeatable)")
	f.BoolVar(&allowExisting, "allow-existing", true, "count datapoints already in the destination as existing instead of failing")
	f.BoolVar(&dryRun, "dry-run", false, "count what would be copied; write nothing")
	pf.add(cmd)
	return cmd
}

// copyFields checks that src's fields fit into dst and returns the names
// of the fields to copy. Every misfit is listed in one error.
func copyFields(src, dst *schema.Dataset, drops []string) ([]string, error) {
	dropped := map[string]bool{}
	for _, d := range drops {
		if _, ok := src.Field(d); !ok {
			return nil, usagef("--drop %s: the source dataset %s has no such field", d, src.Slug())
		}
		if schema.IsRequiredFor(src.Kind, d) {
			return nil, usagef("--drop %s: every %s datapoint has that field", d, src.Kind)
		}
		dropped[d] = true
	}
	var misfits []string
	if src.Kind != dst.Kind {
		misfits = append(misfits, fmt.Sprintf("the datasets are of different kinds (%s → %s)", src.Kind, dst.Kind))
	}
	var fields []string
	for _, f := range src.Fields {
		if f.Name == schema.FieldID || f.Name == schema.FieldIngestionTime || dropped[f.Name] {
			continue
		}
		g, ok := dst.Field(f.Name)
		switch {
		case !ok:
			misfits = append(misfits, fmt.Sprintf("field %q (%s) is not in %s", f.Name, f.TypeString(), dst.Slug()))
		case g.Type != f.Type || g.Array != f.Array:
			misfits = append(misfits, fmt.Sprintf("field %q is %s in %s but %s in %s", f.Name, f.TypeString(), src.Slug(), g.TypeString(), dst.Slug()))
		default:
			fields = append(fields, f.Name)
		}
	}
	if len(misfits) > 0 {
		return nil, fmt.Errorf("cannot copy %s into %s:\n  %s\n(leave source fields out with --drop FIELD, or add them to the destination dataset)",
			src.Slug(), dst.Slug(), strings.Join(misfits, "\n  "))
	}
	return fields, nil
}

// copyChunks queries the source page by page, decodes the copied fields
// and encodes them for the destination, with the destination's IDs.
func copyChunks(ctx context.Context, c *datasets.Client, src *datasets.Dataset, dst *schema.Dataset, fields []string, name string, qopts []datasets.QueryOption, read *int64) iter.Seq2[batch.Chunk, error] {
	return func(yield func(batch.Chunk, error) bool) {
		dec, err := convert.NewDecoder(src.Schema, nil, fields...)
		if err != nil {
			yield(batch.Chunk{}, err)
			return
		}
		defer dec.Release()
		enc, err := convert.NewEncoder(dst, dec.Schema())
		if err != nil {
			yield(batch.Chunk{}, err)
			return
		}
		var (
			buf []byte
			dps []store.Datapoint
			row int64 = 1
		)
		flush := func() bool {
			if dec.Len() == 0 {
				return true
			}
			rec := dec.NewRecordBatch()
			buf, dps, err = enc.Encode(rec, buf[:0], dps[:0])
			rec.Release()
			if err != nil {
				yield(batch.Chunk{}, fmt.Errorf("%s: datapoints %d-: %w", name, row, err))
				return false
			}
			*read += int64(len(dps))
			ok := yield(batch.Chunk{Source: name, FirstRow: row, Datapoints: dps}, nil)
			row += int64(len(dps))
			return ok
		}
		for b, err := range c.Datapoints.Query(ctx, src.ID, qopts...) {
			if err != nil {
				yield(batch.Chunk{}, err)
				return
			}
			if err := dec.Append(b); err != nil {
				yield(batch.Chunk{}, fmt.Errorf("%s: datapoint %d: %w", name, row+int64(dec.Len()), err))
				return
			}
			if dec.Len() >= batch.MaxCount && !flush() {
				return
			}
		}
		flush()
	}
}
