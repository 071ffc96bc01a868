package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/schema"
)

func (a *app) queryCommand() *cobra.Command {
	var (
		slug        string
		collections []string
		timeArg     string
		atArg       string
		skipData    bool
		limit       int
	)
	cmd := &cobra.Command{
		Use:   "query --dataset SLUG [--collection NAME]... (--time START,END | --at TIME)",
		Short: "Print the datapoints of a time interval or instant",
		Long: `Print datapoints in (time, id) order. --time START,END is half-open [START, END);
START and END are dates (2024-01-31) or RFC 3339 times (2024-01-31T12:00:00Z,
2024-01-31T12:00:00.123456789+02:00); times compare at millisecond precision.
--at TIME selects one instant. Without --collection every collection is read.

On a terminal the result is a table; with --json, or when the output is not a
terminal, it is one JSON object per line keyed by field name (id as UUID string,
times as RFC 3339 with nanoseconds, geometries as WKT, arrays as arrays).`,
		Example: `  granary query --dataset my_org.measurements --time 2024-01-01,2024-02-01
  granary query --dataset my_org.measurements --collection 2024 --at 2024-01-05T10:00:00Z --json
  granary query --dataset my_org.measurements --time 2024-01-01,2025-01-01 --skip-data`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if slug == "" {
				return usagef("query needs --dataset SLUG")
			}
			var extent datasets.TimeInterval
			switch {
			case timeArg != "" && atArg != "":
				return usagef("give either --time or --at, not both")
			case timeArg != "":
				start, end, ok := strings.Cut(timeArg, ",")
				if !ok {
					return usagef("--time wants START,END, got %q", timeArg)
				}
				s, err := parseTimeArg(start)
				if err != nil {
					return usagef("--time start: %v", err)
				}
				e, err := parseTimeArg(end)
				if err != nil {
					return usagef("--time end: %v", err)
				}
				extent = datasets.NewTimeInterval(s, e)
			case atArg != "":
				t, err := parseTimeArg(atArg)
				if err != nil {
					return usagef("--at: %v", err)
				}
				extent = datasets.At(t)
			default:
				return usagef("query needs --time START,END or --at TIME")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			ds, err := c.Datasets.Get(ctx, slug)
			if err != nil {
				return err
			}
			opts := []datasets.QueryOption{datasets.WithTemporalExtent(extent)}
			for _, name := range collections {
				col, err := c.Collections.Get(ctx, ds.ID, name)
				if err != nil {
					return err
				}
				opts = append(opts, datasets.WithCollections(col.ID))
			}
			if skipData {
				opts = append(opts, datasets.WithSkipData())
			}
			if limit > 0 {
				opts = append(opts, datasets.WithPageSize(min(limit, 8192)))
			}
			fields := ds.Schema.Fields
			if skipData {
				fields = fields[:3]
			}
			out := a.newRowWriter(fields)
			n := 0
			for b, err := range c.Datapoints.Query(ctx, ds.ID, opts...) {
				if err != nil {
					return err
				}
				m := ds.NewMessage()
				if err := proto.Unmarshal(b, m); err != nil {
					return fmt.Errorf("decode datapoint: %w", err)
				}
				row := make([]any, len(fields))
				for i, f := range fields {
					row[i] = convert.JSONValue(f, m)
				}
				if err := out.write(row); err != nil {
					return err
				}
				if n++; limit > 0 && n >= limit {
					break
				}
			}
			return out.flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&slug, "dataset", "", "dataset slug")
	f.StringArrayVar(&collections, "collection", nil, "collection to read (repeatable; default all)")
	f.StringVar(&timeArg, "time", "", "time interval START,END (half-open)")
	f.StringVar(&atArg, "at", "", "a single instant")
	f.BoolVar(&skipData, "skip-data", false, "print only time, id and ingestion_time")
	f.IntVar(&limit, "limit", 0, "print at most N datapoints")
	return cmd
}

// rowWriter prints datapoints as a table or as JSON lines.
type rowWriter struct {
	fields []schema.Field
	json   *json.Encoder
	table  *tabwriter.Writer
}

func (a *app) newRowWriter(fields []schema.Field) *rowWriter {
	w := &rowWriter{fields: fields}
	if a.json || !isTerminal(a.stdout) {
		w.json = json.NewEncoder(a.stdout)
		w.json.SetEscapeHTML(false)
		return w
	}
	w.table = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = strings.ToUpper(f.Name)
	}
	fmt.Fprintln(w.table, strings.Join(names, "\t"))
	return w
}

func (w *rowWriter) write(row []any) error {
	if w.json != nil {
		obj := make(orderedObject, 0, len(row))
		for i, v := range row {
			if v != nil {
				obj = append(obj, kv{w.fields[i].Name, v})
			}
		}
		return w.json.Encode(obj)
	}
	cells := make([]string, len(row))
	for i, v := range row {
		switch v := v.(type) {
		case nil:
			cells[i] = "-"
		case string:
			cells[i] = v
		default:
			b, _ := json.Marshal(v)
			cells[i] = string(b)
		}
		if len(cells[i]) > 60 {
			cells[i] = cells[i][:57] + "..."
		}
	}
	_, err := fmt.Fprintln(w.table, strings.Join(cells, "\t"))
	return err
}

func (w *rowWriter) flush() error {
	if w.table != nil {
		return w.table.Flush()
	}
	return nil
}

// orderedObject is a JSON object that keeps the schema's field order.
type orderedObject []kv

type kv struct {
	k string
	v any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// parseTimeArg reads a date or an RFC 3339 time; a time without zone is UTC.
func parseTimeArg(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2024-01-31) or RFC 3339 time (2024-01-31T12:00:00Z)", s)
}

func parseUUIDs(vals []string) ([]uuid.UUID, error) {
	out := make([]uuid.UUID, 0, len(vals))
	for _, v := range vals {
		u, err := uuid.Parse(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%q is not a UUID", v)
		}
		out = append(out, u)
	}
	return out, nil
}
