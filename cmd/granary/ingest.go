package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/granaryhq/granary/batch"
	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/ingest"
	"github.com/granaryhq/granary/schema"
	"github.com/granaryhq/granary/store"
)

// ingestSummary is what an ingest run reports at the end.
type ingestSummary struct {
	DryRun          bool    `json:"dry_run,omitempty"`
	Files           int     `json:"files"`
	FilesSkipped    int     `json:"files_skipped"`
	RowsSkipped     int64   `json:"rows_skipped"`
	Read            int64   `json:"read"`
	Created         int64   `json:"created"`
	Existing        int64   `json:"existing"`
	Rejected        int64   `json:"rejected"`
	PaddingStripped int64   `json:"padding_stripped"`
	GeometriesSplit int64   `json:"geometries_split"`
	RingsRewound    int64   `json:"rings_rewound"`
	Flattened       int64   `json:"geometries_flattened"`
	Calls           int     `json:"calls"`
	Retries         int     `json:"retries"`
	ElapsedSeconds  float64 `json:"elapsed_s"`
	RowsPerSecond   float64 `json:"rows_per_s"`
	Error           string  `json:"error,omitempty"`
}

// pipelineFlags are the tuning flags of every verb that writes through
// package batch.
type pipelineFlags struct {
	concurrency int
	batchBytes  int
}

func (p *pipelineFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&p.concurrency, "concurrency", batch.DefaultConcurrency, "API calls in flight at once")
	f.IntVar(&p.batchBytes, "batch-bytes", batch.DefaultMaxBytes, "most encoded bytes per ingest call (and at most 8192 datapoints)")
}

func (p *pipelineFlags) options(a *app) ([]batch.Option, error) {
	if p.concurrency < 1 {
		return nil, usagef("--concurrency must be at least 1")
	}
	if p.batchBytes < 1024 {
		return nil, usagef("--batch-bytes must be at least 1024")
	}
	return []batch.Option{batch.WithConcurrency(p.concurrency), batch.WithMaxBytes(p.batchBytes), batch.WithLogger(a.log)}, nil
}

func (a *app) ingestCommand() *cobra.Command {
	var (
		slug, collection, schemaFile, checkpointFile string
		allowExisting, dryRun                        bool
		mf                                           mappingFlags
		pf                                           pipelineFlags
	)
	cmd := &cobra.Command{
		Use:   "ingest --dataset SLUG --collection NAME [--schema FILE] FILE|DIR|GLOB...",
		Short: "Ingest CSV, Parquet, GeoParquet and Feather files into a collection",
		Long: `Ingest files into a collection, creating the collection if it is missing
(and, with --schema, the dataset too). Inputs are files, directories (read
recursively for .csv, .tsv, .parquet, .feather, .arrow and similar files) and
glob patterns; formats may be mixed, each file is recognised by its content.
"-" reads standard input: CSV (also gzipped) or an Arrow IPC stream from a
pipe, any format when it is redirected from a file.

Columns map to fields by name; --map src=dst renames a column, --drop col
ignores one, --set field=value gives a field the same value on every row. A
column that matches no field is an error unless dropped. Columns named id or
ingestion_time are ignored: granary sets both.

CSV cells parse to the field's type: RFC 3339 / ISO 8601 times (nanoseconds
and offsets; a bare date is midnight UTC), durations (1h30m or PT1H30M), UUIDs,
WKT geometries, arrays as literals like [-12.15, 13.45]. An empty cell is no
value. A bad cell stops the run with an error naming file, row, column and
value.

Nothing is dropped or rounded unasked: geometries with Z or M ordinates need
--force-2d (which drops them), decimals such as 19.99 and integers beyond 2^53
in a float64 field need --round-floats (which rounds to the nearest float64).

Rows are sent in calls of up to 8192 datapoints and --batch-bytes bytes, with
--concurrency calls in flight while the next rows are read; memory stays
bounded whatever the input size. Calls that fail for a transient reason
(unavailable, timeouts, overload) are retried with backoff; a call that fails
for good stops the run after the calls in flight finish, naming the file and
rows; what was stored before stays stored and is reported.

Every datapoint's ID is derived from its content, so re-running an ingest
creates no duplicates: with --allow-existing (the default) datapoints already
stored are counted as existing; with --allow-existing=false they fail the call.
--checkpoint FILE records the files and rows that are stored, so that a
re-run after a crash or Ctrl-C skips them. --dry-run reads, maps and checks
everything and computes the IDs, writes nothing, and reports how many
datapoints are new and how many are already stored.

A progress bar shows on a terminal, a log line every 10 seconds otherwise;
--quiet silences both. --json prints the summary as one JSON object.`,
		Example: `  granary ingest --dataset my_org.measurements --collection 2024 examples/measurements.csv
  granary ingest --schema examples/measurements.yaml --dataset my_org.measurements --collection 2024 examples/measurements.csv
  granary ingest --dataset my_org.measurements --collection raw --map temp=value --drop comment --set sensor=s1 data.csv
  granary ingest --dataset my_org.granules --collection modis --checkpoint modis.ckpt 'archive/2024-*.parquet' extra/
  granary ingest --dataset my_org.granules --collection modis --dry-run --json archive/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if slug == "" || collection == "" {
				return usagef("ingest needs --dataset SLUG and --collection NAME")
			}
			if len(args) == 0 {
				return usagef("ingest needs at least one FILE")
			}
			mapping, mapOpts, err := mf.build()
			if err != nil {
				return usageError{err}
			}
			bopts, err := pf.options(a)
			if err != nil {
				return err
			}
			files, err := expandInputs(args)
			if err != nil {
				return err
			}
			if checkpointFile != "" && slices.Contains(files, stdinArg) {
				// A stream has no size or time to know it again by.
				return usagef("--checkpoint cannot track standard input; save it to a file first")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()

			var sch *schema.Dataset
			var ds *datasets.Dataset
			var col *datasets.Collection
			if dryRun {
				// Create nothing: a missing dataset comes from the schema file,
				// a missing collection holds nothing yet.
				ds, err = c.Datasets.Get(ctx, slug)
				switch {
				case err == nil:
					sch = ds.Schema
					if col, err = c.Collections.Get(ctx, ds.ID, collection); err != nil && !datasets.IsNotFound(err) {
						return err
					}
				case datasets.IsNotFound(err) && schemaFile != "":
					if sch, err = readSchemaFor(slug, schemaFile); err != nil {
						return err
					}
				default:
					return err
				}
			} else {
				if ds, err = a.datasetFor(ctx, c, slug, schemaFile); err != nil {
					return err
				}
				sch = ds.Schema
				if col, err = c.Collections.GetOrCreate(ctx, ds.ID, collection); err != nil {
					return err
				}
			}

			var ckpt *checkpoint
			if checkpointFile != "" {
				fingerprint := mf.fingerprint()
				if ckpt, err = loadCheckpoint(checkpointFile, sch.Slug(), collection, fingerprint, !dryRun); err != nil {
					return err
				}
			}
			bopts = append(bopts, batch.WithAllowExisting(allowExisting))
			if col != nil {
				exists := batch.QueryExists(c.Datapoints, ds.ID, col.ID)
				if dryRun {
					bopts = append(bopts, batch.WithDryRun(exists))
				} else {
					bopts = append(bopts, batch.WithExists(exists))
				}
			} else {
				bopts = append(bopts, batch.WithDryRun(nil))
			}

			p := &filePipeline{ds: sch, mapping: mapping, mapOpts: mapOpts, files: files, stdin: a.stdin, ckpt: ckpt}
			prog := a.newProgress("ingest", files)
			p.progress = prog
			if ckpt != nil && !dryRun {
				bopts = append(bopts, batch.WithOnCommit(func(cm batch.Commit) {
					if err := ckpt.commit(cm.Spans); err != nil {
						a.log.Error("checkpoint", "err", err)
					}
					prog.committed(cm.Rows)
				}))
			} else {
				bopts = append(bopts, batch.WithOnCommit(func(cm batch.Commit) { prog.committed(cm.Rows) }))
			}
			var colID uuid.UUID
			if col != nil {
				colID = col.ID
			}

			start := time.Now()
			prog.start()
			res, runErr := batch.NewIngester(c.Datapoints, colID, bopts...).Run(ctx, p.chunks())
			prog.stop()

			sum := ingestSummary{
				DryRun: dryRun, Files: len(files), FilesSkipped: p.filesSkipped, RowsSkipped: p.rowsSkipped,
				Read: p.read, Created: res.Created, Existing: res.Existing, Rejected: res.Rejected,
				PaddingStripped: p.stats.Padding + p.stats.NullElements, GeometriesSplit: p.stats.GeometriesSplit, RingsRewound: p.stats.RingsRewound,
				Flattened: p.stats.GeometriesFlattened, Calls: res.Calls, Retries: res.Retries, ElapsedSeconds: time.Since(start).Seconds(),
			}
			if sum.ElapsedSeconds > 0 {
				sum.RowsPerSecond = float64(sum.Read) / sum.ElapsedSeconds
			}
			target := sch.Slug() + "/" + collection
			if runErr != nil {
				stored := res.Created + res.Existing
				if stored > 0 && !dryRun {
					runErr = fmt.Errorf("%w\n(before that, %d datapoint(s) were stored: %d created, %d already existed)", runErr, stored, res.Created, res.Existing)
				}
				if ckpt != nil && !dryRun {
					runErr = fmt.Errorf("%w\n(re-run with --checkpoint %s to continue where this run stopped)", runErr, checkpointFile)
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
			skipped := ""
			if sum.FilesSkipped > 0 || sum.RowsSkipped > 0 {
				skipped = fmt.Sprintf(" (checkpoint: skipped %d finished file(s) and %d row(s))", sum.FilesSkipped, sum.RowsSkipped)
			}
			if dryRun {
				fmt.Fprintf(a.stdout, "dry run: %d row(s) from %d file(s) for %s: %d would be created, %d already stored; nothing was written%s\n",
					sum.Read, sum.Files, target, sum.Created, sum.Existing, skipped)
				return nil
			}
			if !a.quiet {
				fmt.Fprintf(a.stdout, "ingested %d row(s) from %d file(s) into %s: %d created, %d already existed in %d call(s)%s (%.2fs, %.0f rows/s)%s\n",
					sum.Read, sum.Files, target, sum.Created, sum.Existing, sum.Calls, retriesNote(sum.Retries), sum.ElapsedSeconds, sum.RowsPerSecond, skipped)
				if sum.Flattened > 0 {
					fmt.Fprintf(a.stdout, "--force-2d dropped the Z/M ordinates of %d geometr%s\n", sum.Flattened, map[bool]string{true: "y", false: "ies"}[sum.Flattened == 1])
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "dataset", "", "dataset slug")
	f.StringVar(&collection, "collection", "", "collection name (created if missing)")
	f.StringVar(&schemaFile, "schema", "", "schema file; creates the dataset if it does not exist")
	f.BoolVar(&allowExisting, "allow-existing", true, "count datapoints already stored as existing instead of failing")
	mf.add(f)
	f.StringVar(&checkpointFile, "checkpoint", "", "record finished files and rows in FILE; a re-run skips them")
	f.BoolVar(&dryRun, "dry-run", false, "read, map, check and compute IDs, but write nothing")
	pf.add(cmd)
	return cmd
}

func retriesNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" with %d retr%s", n, map[bool]string{true: "y", false: "ies"}[n == 1])
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// datasetFor finds the dataset, creating it from the schema file if given
// and missing.
func (a *app) datasetFor(ctx context.Context, c *datasets.Client, slug, schemaFile string) (*datasets.Dataset, error) {
	ds, err := c.Datasets.Get(ctx, slug)
	if err == nil || !datasets.IsNotFound(err) || schemaFile == "" {
		return ds, err
	}
	s, err := readSchemaFor(slug, schemaFile)
	if err != nil {
		return nil, err
	}
	ds, err = c.Datasets.Create(ctx, s)
	if err == nil {
		a.log.Info("created dataset", "slug", ds.Slug)
	}
	return ds, err
}

// readSchemaFor reads a schema file that must describe dataset slug.
func readSchemaFor(slug, schemaFile string) (*schema.Dataset, error) {
	s, err := schema.ReadFile(schemaFile)
	if err != nil {
		return nil, err
	}
	if slug != "" && s.Slug() != slug && s.CodeName != slug {
		return nil, usagef("--dataset %s does not match the schema file's %s", slug, s.Slug())
	}
	return s, nil
}

// inputExts are the files a directory contributes (after a .gz suffix).
var inputExts = map[string]bool{
	".csv": true, ".tsv": true, ".tab": true, ".txt": true,
	".parquet": true, ".pq": true, ".geoparquet": true,
	".feather": true, ".arrow": true, ".arrows": true, ".ipc": true,
}

// stdinArg names standard input among the inputs.
const stdinArg = "-"

// expandInputs turns files, directories and glob patterns into a list of
// files, each once, in the order given (a directory's and a pattern's
// files sorted by name); "-" (standard input) stays as it is.
func expandInputs(args []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, arg := range args {
		if arg == stdinArg {
			add(arg)
			continue
		}
		if strings.ContainsAny(arg, "*?[") {
			matches, err := filepath.Glob(arg)
			if err != nil {
				return nil, usagef("bad pattern %q: %v", arg, err)
			}
			var files []string
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
					files = append(files, m)
				}
			}
			if len(files) == 0 {
				return nil, usagef("no file matches %q", arg)
			}
			slices.Sort(files)
			for _, m := range files {
				add(m)
			}
			continue
		}
		st, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			add(arg)
			continue
		}
		var files []string
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if p != arg && strings.HasPrefix(name, ".") {
					return filepath.SkipDir
				}
				return nil
			}
			ext := strings.ToLower(filepath.Ext(strings.TrimSuffix(strings.ToLower(name), ".gz")))
			if !strings.HasPrefix(name, ".") && inputExts[ext] && d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, usagef("directory %s holds no CSV, Parquet or Feather files", arg)
		}
		slices.Sort(files)
		for _, f := range files {
			add(f)
		}
	}
	return out, nil
}

// filePipeline reads files, maps them onto a dataset and encodes them with
// IDs, as a stream of chunks for batch.Ingester. It skips what a
// checkpoint says is stored and tells the progress what it read.
type filePipeline struct {
	ds       *schema.Dataset
	mapping  ingest.Mapping
	mapOpts  []ingest.Option
	files    []string  // "-" is standard input
	stdin    io.Reader // read for "-"
	ckpt     *checkpoint
	progress *progress

	// mem is the run's buffer pool, shared by the files' readers and
	// mappers: a file then starts with the buffers the last one freed.
	mem *ingest.PoolAllocator

	read         int64
	filesSkipped int
	rowsSkipped  int64
	stats        ingest.Stats
}

func (p *filePipeline) chunks() iter.Seq2[batch.Chunk, error] {
	return func(yield func(batch.Chunk, error) bool) {
		var buf []byte
		var dps []store.Datapoint
		for _, file := range p.files {
			if p.ckpt != nil && p.ckpt.done(file) {
				p.filesSkipped++
				p.progress.fileDone(file)
				continue
			}
			ok, err := p.file(file, &buf, &dps, yield)
			if err != nil {
				yield(batch.Chunk{}, err)
				return
			}
			if !ok {
				return
			}
		}
	}
}

// file streams one file ("-": standard input); false means the consumer
// stopped.
func (p *filePipeline) file(path string, buf *[]byte, dps *[]store.Datapoint, yield func(batch.Chunk, error) bool) (bool, error) {
	if p.mem == nil {
		p.mem = ingest.NewPoolAllocator(ingest.ReadPoolRetain)
	}
	var src ingest.Source
	var err error
	file := path // as errors and the summary name it
	if path == stdinArg {
		file = "standard input"
		src, err = ingest.OpenReader(file, p.stdin, ingest.WithAllocator(p.mem))
	} else {
		src, err = ingest.Open(path, ingest.WithAllocator(p.mem))
	}
	if err != nil {
		return false, err
	}
	defer src.Close()
	p.progress.openFile(file, src)
	defer p.progress.fileDone(file)
	mapper, err := ingest.NewMapper(src.Schema(), p.ds, p.mapping, file, append(slices.Clip(p.mapOpts), ingest.WithAllocator(p.mem))...)
	if err != nil {
		return false, err
	}
	defer func() { p.stats.Add(mapper.Stats()) }()
	enc, err := convert.NewEncoder(p.ds, mapper.Schema())
	if err != nil {
		return false, fmt.Errorf("%s: %w", file, err)
	}
	var rows int64
	for b, err := range src.Batches() {
		if err != nil {
			return false, err
		}
		n := b.Record.NumRows()
		rows = b.FirstRow + n - 1
		todo := [][2]int64{{b.FirstRow, b.FirstRow + n - 1}}
		if p.ckpt != nil {
			todo = p.ckpt.missing(file, b.FirstRow, b.FirstRow+n-1)
		}
		covered := int64(0)
		for _, r := range todo {
			covered += r[1] - r[0] + 1
		}
		p.rowsSkipped += n - covered
		for _, r := range todo {
			lo, hi := r[0]-b.FirstRow, r[1]-b.FirstRow+1
			sub := b
			if lo != 0 || hi != n {
				sub.Record = b.Record.NewSlice(lo, hi)
				sub.FirstRow = r[0]
				if b.Lines != nil {
					sub.Lines = b.Lines[lo:hi]
				}
			}
			rec, err := mapper.Map(sub)
			if sub.Record != b.Record {
				sub.Record.Release()
			}
			if err != nil {
				return false, err
			}
			*buf, *dps, err = enc.Encode(rec, (*buf)[:0], (*dps)[:0])
			rec.Release()
			if err != nil {
				var re *convert.RowError
				if errors.As(err, &re) {
					return false, &ingest.Error{File: file, Row: sub.FirstRow + int64(re.Row), Line: sub.Line(re.Row), Column: re.Field, Err: re.Err}
				}
				return false, fmt.Errorf("%s: %w", file, err)
			}
			p.read += int64(len(*dps))
			p.progress.read(len(*dps))
			if !yield(batch.Chunk{Source: file, FirstRow: sub.FirstRow, Datapoints: *dps}, nil) {
				return false, nil
			}
		}
	}
	if p.ckpt != nil {
		if err := p.ckpt.readAll(file, rows); err != nil {
			return false, err
		}
	}
	return true, nil
}

// checkpoint records, for a resumable run, which rows of which files are
// stored. It is rewritten atomically (temporary file, fsync, rename) after
// every committed call, so a crash or Ctrl-C leaves the last consistent
// state. A file whose size or modification time changed starts over.
type checkpoint struct {
	path  string
	write bool

	mu       sync.Mutex
	data     checkpointData
	verified map[string]bool
}

type checkpointData struct {
	Version    int    `json:"version"`
	Dataset    string `json:"dataset"`
	Collection string `json:"collection"`
	// Mapping holds the --map, --drop and --set flags: other flags would
	// make other datapoints of the same rows.
	Mapping string               `json:"mapping"`
	Files   map[string]*ckptFile `json:"files"`
}

type ckptFile struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	// Rows is the file's row count once it was read to the end, else -1.
	Rows int64 `json:"rows"`
	Done bool  `json:"done"`
	// Committed are the stored rows: sorted, merged, inclusive ranges.
	Committed [][2]int64 `json:"committed,omitempty"`
}

func loadCheckpoint(path, slug, collection, mapping string, write bool) (*checkpoint, error) {
	c := &checkpoint{path: path, write: write, verified: map[string]bool{},
		data: checkpointData{Version: 1, Dataset: slug, Collection: collection, Mapping: mapping, Files: map[string]*ckptFile{}}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	var d checkpointData
	if err := json.Unmarshal(b, &d); err != nil || d.Version != 1 {
		return nil, fmt.Errorf("checkpoint %s: not a granary checkpoint (%v)", path, err)
	}
	if d.Dataset != slug || d.Collection != collection {
		return nil, usagef("checkpoint %s belongs to %s/%s, not %s/%s; use another file", path, d.Dataset, d.Collection, slug, collection)
	}
	if d.Mapping != mapping {
		return nil, usagef("checkpoint %s was written with other mapping flags (%s); give the same flags or use another file", path, d.Mapping)
	}
	if d.Files == nil {
		d.Files = map[string]*ckptFile{}
	}
	c.data = d
	return c, nil
}

func ckptKey(file string) string {
	if abs, err := filepath.Abs(file); err == nil {
		return abs
	}
	return file
}

// entry returns the file's record, resetting it if the file changed.
// The caller holds c.mu.
func (c *checkpoint) entry(file string) *ckptFile {
	key := ckptKey(file)
	e := c.data.Files[key]
	if c.verified[key] && e != nil {
		return e
	}
	st, err := os.Stat(file)
	if err != nil {
		return &ckptFile{Rows: -1}
	}
	if e == nil || e.Size != st.Size() || !e.ModTime.Equal(st.ModTime()) {
		e = &ckptFile{Size: st.Size(), ModTime: st.ModTime(), Rows: -1}
		c.data.Files[key] = e
	}
	c.verified[key] = true
	return e
}

func (c *checkpoint) done(file string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entry(file).Done
}

// missing returns the parts of rows [lo, hi] that are not stored.
func (c *checkpoint) missing(file string, lo, hi int64) [][2]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][2]int64
	next := lo
	for _, r := range c.entry(file).Committed {
		if r[1] < next || r[0] > hi {
			continue
		}
		if r[0] > next {
			out = append(out, [2]int64{next, r[0] - 1})
		}
		next = r[1] + 1
		if next > hi {
			break
		}
	}
	if next <= hi {
		out = append(out, [2]int64{next, hi})
	}
	return out
}

// commit records stored rows.
func (c *checkpoint) commit(spans []batch.Span) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range spans {
		e := c.entry(s.Source)
		e.Committed = mergeRange(e.Committed, [2]int64{s.First, s.Last})
		e.settle()
	}
	return c.save()
}

// readAll records that file has rows rows in all.
func (c *checkpoint) readAll(file string, rows int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(file)
	e.Rows = rows
	e.settle()
	return c.save()
}

// settle marks the file done when every row is stored, and then forgets
// the ranges.
func (e *ckptFile) settle() {
	if e.Rows == 0 || (e.Rows > 0 && len(e.Committed) == 1 && e.Committed[0][0] <= 1 && e.Committed[0][1] >= e.Rows) {
		e.Done, e.Committed = true, nil
	}
}

func mergeRange(rs [][2]int64, r [2]int64) [][2]int64 {
	rs = append(rs, r)
	slices.SortFunc(rs, func(a, b [2]int64) int { return int(min(max(a[0]-b[0], -1), 1)) })
	out := rs[:1]
	for _, x := range rs[1:] {
		last := &out[len(out)-1]
		if x[0] <= last[1]+1 {
			last[1] = max(last[1], x[1])
		} else {
			out = append(out, x)
		}
	}
	return out
}

func (c *checkpoint) save() error {
	if !c.write {
		return nil
	}
	b, err := json.MarshalIndent(c.data, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(c.path, b)
}

// writeFileAtomic replaces path with b: a reader sees the old or the new
// content, never a mix, even after a crash.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
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
	}
	return err
}

// progress shows how a run advances: a bar with bytes done of total, rows/s
// and ETA on a terminal, a log line every 10 seconds otherwise, nothing
// with --quiet.
type progress struct {
	verb  string
	log   *slog.Logger
	bar   *progressbar.ProgressBar
	plain bool
	total int64
	sizes map[string]int64
	t0    time.Time

	mu        sync.Mutex
	doneBytes int64
	cur       string
	curPos    func() int64

	rowsRead, rowsCommitted atomic.Int64
	quit                    chan struct{}
	wg                      sync.WaitGroup
}

// newProgress prepares a progress display for files (none: rows only).
func (a *app) newProgress(verb string, files []string) *progress {
	p := &progress{verb: verb, log: a.log, sizes: map[string]int64{}, quit: make(chan struct{})}
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			p.sizes[f] = st.Size()
			p.total += st.Size()
		}
	}
	if a.quiet {
		return p
	}
	if isTerminal(a.stderr) {
		max := p.total
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(a.stderr), progressbar.OptionSetDescription(verb),
			progressbar.OptionThrottle(100 * time.Millisecond), progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true), progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish(),
		}
		if max > 0 {
			opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionShowCount(), progressbar.OptionShowTotalBytes(true))
		} else {
			max = -1 // a spinner
		}
		p.bar = progressbar.NewOptions64(max, opts...)
	} else {
		p.plain = true
	}
	return p
}

func (p *progress) start() {
	p.t0 = time.Now()
	if p.bar == nil && !p.plain {
		return
	}
	every := 250 * time.Millisecond
	if p.plain {
		every = 10 * time.Second
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.show()
			}
		}
	}()
}

func (p *progress) stop() {
	close(p.quit)
	p.wg.Wait()
	if p.bar != nil {
		p.bar.Finish()
	}
}

// bytesDone is the finished files' bytes and the position in the current one.
func (p *progress) bytesDone() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.doneBytes
	if p.cur != "" && p.curPos != nil {
		n += min(p.curPos(), p.sizes[p.cur])
	}
	return n
}

func (p *progress) show() {
	done := p.bytesDone()
	rows := p.rowsCommitted.Load()
	el := time.Since(p.t0).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(rows) / el
	}
	if p.bar != nil {
		if p.total > 0 {
			p.bar.Set64(done)
		} else {
			p.bar.Add64(0)
		}
		p.bar.Describe(fmt.Sprintf("%s: %d rows, %.0f rows/s", p.verb, rows, rate))
		return
	}
	attrs := []any{"rows_read", p.rowsRead.Load(), "rows_committed", rows, "rows_per_s", int64(rate)}
	if p.total > 0 {
		attrs = append(attrs, "bytes", done, "of", p.total)
		if done > 0 && el > 0 {
			eta := time.Duration(el * float64(p.total-done) / float64(done) * float64(time.Second))
			attrs = append(attrs, "eta", eta.Round(time.Second).String())
		}
	}
	p.log.Info(p.verb+" progress", attrs...)
}

func (p *progress) read(n int)      { p.rowsRead.Add(int64(n)) }
func (p *progress) committed(n int) { p.rowsCommitted.Add(int64(n)) }

// openFile starts tracking a file's read position: for files that know
// their row count (Parquet) the share of rows read, else the offset of the
// file's descriptor where the system shows it (sequential readers: CSV,
// gzip, Arrow streams and files).
func (p *progress) openFile(file string, src ingest.Source) {
	fd := openFD(file)
	startRows := p.rowsRead.Load()
	var total int64
	if nr, ok := src.(interface{ NumRows() int64 }); ok {
		total = nr.NumRows()
	}
	size := p.sizes[file]
	pos := func() int64 {
		switch {
		case total > 0: // Parquet: reads jump around (the footer first)
			return size * (p.rowsRead.Load() - startRows) / total
		case fd >= 0:
			return fdPos(fd)
		}
		return 0
	}
	p.mu.Lock()
	p.cur, p.curPos = file, pos
	p.mu.Unlock()
}

func (p *progress) fileDone(file string) {
	p.mu.Lock()
	p.doneBytes += p.sizes[file]
	if p.cur == file {
		p.cur, p.curPos = "", nil
	}
	p.mu.Unlock()
}

// openFD finds the descriptor this process has open on path (Linux), or -1.
func openFD(path string) int {
	abs, err := filepath.Abs(path)
	if err != nil {
		return -1
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	best := -1
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || target != abs {
			continue
		}
		if n, err := strconv.Atoi(e.Name()); err == nil && n > best {
			best = n
		}
	}
	return best
}

// fdPos reads a descriptor's file offset from /proc/self/fdinfo.
func fdPos(fd int) int64 {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "pos:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// mappingFlags are the column-mapping flags of ingest and convert.
type mappingFlags struct {
	maps, drops, sets []string
	noFix             bool
	force2D           bool
	round             bool
}

func (m *mappingFlags) add(f *pflag.FlagSet) {
	f.StringArrayVar(&m.maps, "map", nil, "rename a column: src=dst (repeatable)")
	f.StringArrayVar(&m.drops, "drop", nil, "ignore a column (repeatable)")
	f.StringArrayVar(&m.sets, "set", nil, "set a field on every row: field=value (repeatable)")
	f.BoolVar(&m.noFix, "no-antimeridian-fix", false, "store geometries as given instead of cutting them at the antimeridian and fixing their winding (they are still validated)")
	f.BoolVar(&m.force2D, "force-2d", false, "drop the Z and M ordinates of geometries (like PostGIS ST_Force2D) instead of refusing them")
	f.BoolVar(&m.round, "round-floats", false, "round decimals and large integers that a float64 field cannot hold exactly to the nearest float64 instead of refusing them")
}

func (m *mappingFlags) build() (ingest.Mapping, []ingest.Option, error) {
	mapping, err := ingest.ParseMapping(m.maps, m.drops, m.sets)
	if err != nil {
		return mapping, nil, err
	}
	var opts []ingest.Option
	if m.noFix {
		opts = append(opts, ingest.WithoutGeometryFix())
	}
	if m.force2D {
		opts = append(opts, ingest.WithForce2D())
	}
	if m.round {
		opts = append(opts, ingest.WithRoundFloats())
	}
	return mapping, opts, nil
}

// fingerprint identifies the mapping in a checkpoint: a different mapping
// stores different datapoints, so finished work does not carry over.
func (m *mappingFlags) fingerprint() string {
	fp := fmt.Sprintf("map=%q drop=%q set=%q nofix=%v", m.maps, m.drops, m.sets, m.noFix)
	// (Flags newer than checkpoints appear only when set: old
	// checkpoints stay valid.)
	if m.force2D {
		fp += " force2d"
	}
	if m.round {
		fp += " round"
	}
	return fp
}
