package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/batch"
	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/ingest"
)

// deleteSummary is what a delete run reports.
type deleteSummary struct {
	DryRun  bool   `json:"dry_run,omitempty"`
	IDs     int64  `json:"ids"`
	Deleted int64  `json:"deleted"`
	Missing int64  `json:"missing,omitempty"`
	Calls   int    `json:"calls"`
	Retries int    `json:"retries"`
	Error   string `json:"error,omitempty"`
}

func (a *app) deleteCommand() *cobra.Command {
	var (
		slug, collection, idsFile, timeArg string
		ids                                []string
		dryRun                             bool
		pf                                 pipelineFlags
	)
	cmd := &cobra.Command{
		Use:   "delete --dataset SLUG --collection NAME (--id UUID... | --ids-file FILE | --time START,END)",
		Short: "Delete datapoints by ID or by time",
		Long: `Delete datapoints by ID or by time, in calls of up to 8192 IDs with
--concurrency calls in flight. Each call is all-or-nothing: if any ID of it is
not in the collection, nothing of it is deleted, the run stops and the error
names the rows; calls before it stay done and are reported.

--ids-file reads a text file with one UUID per line (blank lines and lines
starting with # are skipped), or a CSV, Parquet or Feather file with an id
column. --time START,END deletes everything of the collection in the
half-open interval [START, END) (dates or RFC 3339 times). --dry-run counts
what would be deleted (and which IDs are not stored) and deletes nothing.`,
		Example: `  granary delete --dataset my_org.measurements --collection 2024 --id 018cc251-f400-4f5e-9a4e-3ad5b3c2a8a1
  granary delete --dataset my_org.measurements --collection 2024 --ids-file ids.txt
  granary delete --dataset my_org.measurements --collection 2024 --ids-file export.parquet --dry-run
  granary delete --dataset my_org.measurements --collection 2024 --time 2024-01-01,2024-02-01`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if slug == "" || collection == "" {
				return usagef("delete needs --dataset SLUG and --collection NAME")
			}
			given := 0
			for _, set := range []bool{len(ids) > 0, idsFile != "", timeArg != ""} {
				if set {
					given++
				}
			}
			if given != 1 {
				return usagef("delete needs exactly one of --id UUID (repeatable), --ids-file FILE or --time START,END")
			}
			list, err := parseUUIDs(ids)
			if err != nil {
				return usagef("--id: %v", err)
			}
			var extent datasets.TimeInterval
			if timeArg != "" {
				if extent, err = parseInterval("--time", timeArg); err != nil {
					return err
				}
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
			ds, col, err := collectionOf(ctx, c, slug, collection)
			if err != nil {
				return err
			}

			var chunks iter.Seq2[batch.IDChunk, error]
			switch {
			case idsFile != "":
				chunks = idsFromFile(idsFile)
			case timeArg != "":
				chunks = idsInInterval(ctx, c, ds.ID, col.ID, extent)
			default:
				chunks = func(yield func(batch.IDChunk, error) bool) {
					yield(batch.IDChunk{Source: "--id", FirstRow: 1, IDs: list}, nil)
				}
			}
			exists := batch.QueryExists(c.Datapoints, ds.ID, col.ID)
			if dryRun {
				bopts = append(bopts, batch.WithDryRun(exists))
			} else {
				bopts = append(bopts, batch.WithExists(exists))
			}
			prog := a.newProgress("delete", nil)
			bopts = append(bopts, batch.WithOnCommit(func(cm batch.Commit) { prog.committed(cm.Rows) }))
			prog.start()
			res, runErr := batch.NewDeleter(c.Datapoints, col.ID, bopts...).Run(ctx, chunks)
			prog.stop()
			sum := deleteSummary{DryRun: dryRun, IDs: res.IDs, Deleted: res.Deleted, Missing: res.Missing, Calls: res.Calls, Retries: res.Retries}
			if runErr != nil {
				if res.Deleted > 0 && !dryRun {
					runErr = fmt.Errorf("%w (%d datapoint(s) of earlier calls were deleted)", runErr, res.Deleted)
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
			target := ds.Slug + "/" + col.Name
			if dryRun {
				missing := ""
				if res.Missing > 0 {
					missing = fmt.Sprintf("; %d ID(s) are not stored, so the calls holding them would fail", res.Missing)
				}
				fmt.Fprintf(a.stdout, "dry run: would delete %d datapoint(s) from %s%s; nothing was deleted\n", res.Deleted, target, missing)
				return nil
			}
			fmt.Fprintf(a.stdout, "deleted %d datapoint(s) from %s\n", res.Deleted, target)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "dataset", "", "dataset slug")
	f.StringVar(&collection, "collection", "", "collection name")
	f.StringArrayVar(&ids, "id", nil, "datapoint ID (repeatable)")
	f.StringVar(&idsFile, "ids-file", "", "text file with one ID per line, or a CSV/Parquet/Feather file with an id column")
	f.StringVar(&timeArg, "time", "", "delete the datapoints of the half-open interval START,END")
	f.BoolVar(&dryRun, "dry-run", false, "count what would be deleted; delete nothing")
	pf.add(cmd)
	return cmd
}

// parseInterval reads START,END as a half-open time interval.
func parseInterval(flag, arg string) (datasets.TimeInterval, error) {
	start, end, ok := strings.Cut(arg, ",")
	if !ok {
		return datasets.TimeInterval{}, usagef("%s wants START,END, got %q", flag, arg)
	}
	s, err := parseTimeArg(start)
	if err != nil {
		return datasets.TimeInterval{}, usagef("%s start: %v", flag, err)
	}
	e, err := parseTimeArg(end)
	if err != nil {
		return datasets.TimeInterval{}, usagef("%s end: %v", flag, err)
	}
	return datasets.NewTimeInterval(s, e), nil
}

// idsInInterval streams the IDs of a collection's datapoints in a time
// interval, read with skip_data page by page.
func idsInInterval(ctx context.Context, c *datasets.Client, datasetID, collectionID uuid.UUID, extent datasets.TimeInterval) iter.Seq2[batch.IDChunk, error] {
	return func(yield func(batch.IDChunk, error) bool) {
		ch := batch.IDChunk{Source: "query", FirstRow: 1}
		for b, err := range c.Datapoints.Query(ctx, datasetID, datasets.WithTemporalExtent(extent),
			datasets.WithCollections(collectionID), datasets.WithSkipData(), datasets.WithPageSize(batch.MaxCount)) {
			if err != nil {
				yield(batch.IDChunk{}, err)
				return
			}
			id, ok := batch.IDOf(b)
			if !ok {
				yield(batch.IDChunk{}, fmt.Errorf("query returned a datapoint without id"))
				return
			}
			ch.IDs = append(ch.IDs, id)
			if len(ch.IDs) == batch.MaxCount {
				if !yield(ch, nil) {
					return
				}
				ch = batch.IDChunk{Source: "query", FirstRow: ch.FirstRow + int64(len(ch.IDs)), IDs: ch.IDs[:0]}
			}
		}
		if len(ch.IDs) > 0 {
			yield(ch, nil)
		}
	}
}

// idsFromFile streams the IDs of a text file (one per line) or of the id
// column of a CSV, Parquet or Feather file.
func idsFromFile(path string) iter.Seq2[batch.IDChunk, error] {
	return func(yield func(batch.IDChunk, error) bool) {
		f, err := os.Open(path)
		if err != nil {
			yield(batch.IDChunk{}, err)
			return
		}
		br := bufio.NewReader(f)
		head, _ := br.Peek(8)
		plain := ingest.Sniff(head) == ingest.FormatCSV && firstLineIsUUID(br)
		if plain {
			defer f.Close()
			for ch, err := range idLines(path, br) {
				if !yield(ch, err) || err != nil {
					return
				}
			}
			return
		}
		f.Close()
		for ch, err := range idColumn(path) {
			if !yield(ch, err) || err != nil {
				return
			}
		}
	}
}

// firstLineIsUUID peeks at the first line that is not blank or a comment.
func firstLineIsUUID(br *bufio.Reader) bool {
	buf, _ := br.Peek(64 << 10)
	for _, line := range bytes.Split(buf, []byte("\n")) {
		s := strings.TrimSpace(string(line))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		_, err := uuid.Parse(s)
		return err == nil
	}
	return true // empty: nothing to delete either way
}

func idLines(path string, r io.Reader) iter.Seq2[batch.IDChunk, error] {
	return func(yield func(batch.IDChunk, error) bool) {
		sc := bufio.NewScanner(r)
		line := int64(0)
		var ch batch.IDChunk
		for sc.Scan() {
			line++
			s := strings.TrimSpace(sc.Text())
			if s == "" || strings.HasPrefix(s, "#") {
				continue
			}
			u, err := uuid.Parse(s)
			if err != nil {
				yield(batch.IDChunk{}, fmt.Errorf("%s:%d: %q is not a UUID", path, line, s))
				return
			}
			// Rows are lines here, so that errors name the line.
			if len(ch.IDs) > 0 && (ch.FirstRow+int64(len(ch.IDs)) != line || len(ch.IDs) >= batch.MaxCount) {
				if !yield(ch, nil) {
					return
				}
				ch = batch.IDChunk{}
			}
			if len(ch.IDs) == 0 {
				ch = batch.IDChunk{Source: path, FirstRow: line}
			}
			ch.IDs = append(ch.IDs, u)
		}
		if err := sc.Err(); err != nil {
			yield(batch.IDChunk{}, fmt.Errorf("%s: %w", path, err))
			return
		}
		if len(ch.IDs) > 0 {
			yield(ch, nil)
		}
	}
}

// idColumn reads the id column of a tabular file.
func idColumn(path string) iter.Seq2[batch.IDChunk, error] {
	return func(yield func(batch.IDChunk, error) bool) {
		src, err := ingest.Open(path)
		if err != nil {
			yield(batch.IDChunk{}, err)
			return
		}
		defer src.Close()
		col := -1
		for i, f := range src.Schema().Fields() {
			if strings.EqualFold(strings.TrimSpace(f.Name), "id") {
				col = i
				break
			}
		}
		if col < 0 {
			yield(batch.IDChunk{}, fmt.Errorf("%s: no id column (columns: %s); give a file with an id column, or one UUID per line", path, columnNames(src.Schema())))
			return
		}
		for b, err := range src.Batches() {
			if err != nil {
				yield(batch.IDChunk{}, err)
				return
			}
			ids, err := uuidsOf(b.Record.Column(col))
			if err != nil {
				row := b.FirstRow + int64(len(ids))
				yield(batch.IDChunk{}, &ingest.Error{File: path, Row: row, Line: b.Line(len(ids)), Column: src.Schema().Field(col).Name, Err: err})
				return
			}
			if !yield(batch.IDChunk{Source: path, FirstRow: b.FirstRow, IDs: ids}, nil) {
				return
			}
		}
	}
}

func columnNames(sc *arrow.Schema) string {
	names := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		names[i] = fmt.Sprintf("%q", f.Name)
	}
	return strings.Join(names, ", ")
}

// uuidsOf reads an ID column: text, 16-byte binary, fixed_size_binary(16)
// or arrow.uuid. On error it returns the IDs before the bad row.
func uuidsOf(arr arrow.Array) ([]uuid.UUID, error) {
	if ext, ok := arr.(array.ExtensionArray); ok {
		arr = ext.Storage()
	}
	if d, ok := arr.(*array.Dictionary); ok {
		dict := d.Dictionary()
		vals, err := uuidsOf(dict)
		if err != nil {
			return nil, err
		}
		out := make([]uuid.UUID, 0, d.Len())
		for i := range d.Len() {
			if d.IsNull(i) {
				return out, fmt.Errorf("the id is missing")
			}
			out = append(out, vals[d.GetValueIndex(i)])
		}
		return out, nil
	}
	out := make([]uuid.UUID, 0, arr.Len())
	for i := range arr.Len() {
		if arr.IsNull(i) {
			return out, fmt.Errorf("the id is missing")
		}
		var raw []byte
		switch a := arr.(type) {
		case *array.String:
			u, err := uuid.Parse(strings.TrimSpace(a.Value(i)))
			if err != nil {
				return out, fmt.Errorf("%q is not a UUID", a.Value(i))
			}
			out = append(out, u)
			continue
		case *array.LargeString:
			u, err := uuid.Parse(strings.TrimSpace(a.Value(i)))
			if err != nil {
				return out, fmt.Errorf("%q is not a UUID", a.Value(i))
			}
			out = append(out, u)
			continue
		case *array.FixedSizeBinary:
			raw = a.Value(i)
		case *array.Binary:
			raw = a.Value(i)
		case *array.LargeBinary:
			raw = a.Value(i)
		default:
			return out, fmt.Errorf("an id column of type %s; want text or 16-byte binary UUIDs", arr.DataType())
		}
		if len(raw) != 16 {
			return out, fmt.Errorf("an id of %d bytes, want 16", len(raw))
		}
		out = append(out, uuid.UUID(raw))
	}
	return out, nil
}
