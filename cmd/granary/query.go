package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/paulmach/orb"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/geo"
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
		exp         exportFlags
		bbox        string
		geometry    string
		mode        string
		spherical   bool
	)
	cmd := &cobra.Command{
		Use:   "query --dataset SLUG [--collection NAME]... (--time START,END | --at TIME) [--bbox W,S,E,N | --geometry WKT|@FILE [--mode intersects|contains] [--spherical]]",
		Short: "Print the datapoints of a time interval or instant, optionally in an area",
		Long: `Print datapoints in (time, id) order. --time START,END is half-open [START, END);
START and END are dates (2024-01-31) or RFC 3339 times (2024-01-31T12:00:00Z,
2024-01-31T12:00:00.123456789+02:00); times compare at millisecond precision.
--at TIME selects one instant. Without --collection every collection is read.

A spatial filter keeps the datapoints of a spatiotemporal dataset whose
geometry intersects an area (touching counts), or with --mode contains lies
entirely inside it; datapoints without geometry never match. The area is
--bbox W,S,E,N in degrees (west, south, east, north; west > east runs across
the antimeridian, e.g. --bbox 170,-10,-170,10 over the Pacific), or
--geometry, a WKT geometry or @FILE with GeoJSON (a Geometry, Feature or
FeatureCollection) or WKT. A polygon edge runs the short way round the globe,
so a ring from 170°E to 170°W covers the 20° across the antimeridian. Edges are
straight lines in lon/lat unless --spherical makes them great circles (a
--bbox keeps its edges along the parallels either way).

On a terminal the result is a table; with --json, or when the output is not a
terminal, it is one JSON object per line keyed by field name (id as UUID string,
times as RFC 3339 with nanoseconds, geometries as WKT, arrays as arrays).`,
		Example: `  granary query --dataset my_org.measurements --time 2024-01-01,2024-02-01
  granary query --dataset my_org.measurements --collection 2024 --at 2024-01-05T10:00:00Z --json
  granary query --dataset my_org.measurements --time 2024-01-01,2025-01-01 --skip-data
  granary query --dataset my_org.granules --time 2024-03-01,2024-04-01 --bbox 5,45,15,55
  granary query --dataset my_org.granules --time 2024-03-01,2024-04-01 --bbox 170,-10,-170,10
  granary query --dataset my_org.granules --time 2024-03-01,2024-04-01 --geometry 'POLYGON ((10 50, 12 50, 12 52, 10 52, 10 50))' --mode contains
  granary query --dataset my_org.granules --time 2024-03-01,2024-04-01 --geometry @area.geojson --spherical`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if slug == "" {
				return usagef("query needs --dataset SLUG")
			}
			spatial, err := spatialOption(bbox, geometry, mode, spherical, cmd.Flags().Changed("mode"))
			if err != nil {
				return err
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
			if spatial != nil {
				opts = append(opts, spatial)
			}
			if limit > 0 {
				opts = append(opts, datasets.WithPageSize(min(limit, 8192)))
			}
			if exp.output != "" {
				return a.exportQuery(ctx, c, ds, opts, skipData, limit, &exp)
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
	exp.add(f, true)
	f.StringVar(&bbox, "bbox", "", "keep datapoints in the box W,S,E,N (degrees; W > E crosses the antimeridian)")
	f.StringVar(&geometry, "geometry", "", "keep datapoints in this area: WKT, or @FILE with GeoJSON or WKT")
	f.StringVar(&mode, "mode", "intersects", "spatial relation: intersects or contains")
	f.BoolVar(&spherical, "spherical", false, "spatial filter with great-circle edges (default: straight in lon/lat)")
	return cmd
}

// spatialOption turns the spatial flags into a query option (nil without
// --bbox or --geometry).
func spatialOption(bbox, geometry, mode string, spherical, modeSet bool) (datasets.QueryOption, error) {
	if bbox == "" && geometry == "" {
		if modeSet || spherical {
			return nil, usagef("--mode and --spherical need --bbox or --geometry")
		}
		return nil, nil
	}
	if bbox != "" && geometry != "" {
		return nil, usagef("give either --bbox or --geometry, not both")
	}
	var m geo.Mode
	switch strings.ToLower(mode) {
	case "intersects":
		m = geo.Intersects
	case "contains":
		m = geo.Contains
	default:
		return nil, usagef("--mode wants intersects or contains, got %q", mode)
	}
	cs := geo.Cartesian
	if spherical {
		cs = geo.Spherical
	}
	var g orb.Geometry
	if bbox != "" {
		b, err := parseBBox(bbox)
		if err != nil {
			return nil, usagef("--bbox: %v", err)
		}
		g = b
	} else {
		text, what := []byte(geometry), "--geometry"
		if name, ok := strings.CutPrefix(geometry, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			text, what = b, "--geometry "+geometry
		}
		// A 3-D area (GeoJSON from a GIS often has heights) filters by its
		// footprint: filters are 2-D, and nothing stored is changed.
		if flat, changed, err := geo.Force2D(text); err == nil && changed {
			text = flat
		}
		var err error
		if g, err = geo.Parse(text); err != nil {
			return nil, usagef("%s: %v", what, err)
		}
	}
	return datasets.WithSpatialFilter(g, m, cs), nil
}

// parseBBox reads W,S,E,N. West > east is a box across the antimeridian,
// kept as an orb.Bound with Min[0] > Max[0] (see datasets.WithSpatialExtent).
func parseBBox(s string) (orb.Bound, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return orb.Bound{}, fmt.Errorf("want W,S,E,N (4 numbers), got %q", s)
	}
	var v [4]float64
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return orb.Bound{}, fmt.Errorf("%q is not a number", strings.TrimSpace(p))
		}
		v[i] = x
	}
	w, south, e, n := v[0], v[1], v[2], v[3]
	switch {
	case w < -180 || w > 180 || e < -180 || e > 180:
		return orb.Bound{}, fmt.Errorf("longitudes must be in [-180, 180], got %v and %v", w, e)
	case south < -90 || n > 90:
		return orb.Bound{}, fmt.Errorf("latitudes must be in [-90, 90], got %v and %v", south, n)
	case south > n:
		return orb.Bound{}, fmt.Errorf("south %v is north of north %v", south, n)
	}
	return orb.Bound{Min: orb.Point{w, south}, Max: orb.Point{e, n}}, nil
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
