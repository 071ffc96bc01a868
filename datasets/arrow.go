package datasets

import (
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"

	"github.com/granaryhq/granary/convert"
	"github.com/granaryhq/granary/ingest"
	"github.com/granaryhq/granary/store"
)

// RecordOption adjusts IngestRecords and QueryRecords.
type RecordOption func(*recordConfig)

type recordConfig struct {
	mapping   ingest.Mapping
	mapOpts   []ingest.Option
	maxBytes  int
	batchRows int
	mem       memory.Allocator
}

func newRecordConfig(opts []RecordOption) recordConfig {
	c := recordConfig{maxBytes: 4 << 20, batchRows: MaxBatch, mem: memory.DefaultAllocator}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithMapping maps the records' columns onto fields as the CLI's --map,
// --drop and --set do (default: by name).
func WithMapping(m ingest.Mapping) RecordOption { return func(c *recordConfig) { c.mapping = m } }

// WithMapperOptions passes mapping options to IngestRecords' mapper, e.g.
// ingest.WithForce2D() or ingest.WithoutGeometryFix().
func WithMapperOptions(opts ...ingest.Option) RecordOption {
	return func(c *recordConfig) { c.mapOpts = append(c.mapOpts, opts...) }
}

// WithMaxCallBytes caps the encoded bytes of one ingest call (default 4 MiB).
func WithMaxCallBytes(n int) RecordOption {
	return func(c *recordConfig) {
		if n > 0 {
			c.maxBytes = n
		}
	}
}

// WithRecordRows sets the rows per record QueryRecords yields (default 8192).
func WithRecordRows(n int) RecordOption {
	return func(c *recordConfig) {
		if n > 0 {
			c.batchRows = n
		}
	}
}

// WithRecordAllocator sets the allocator of the arrays built.
func WithRecordAllocator(mem memory.Allocator) RecordOption {
	return func(c *recordConfig) {
		if mem != nil {
			c.mem = mem
		}
	}
}

// IngestRecords stores Arrow record batches in a collection: columns map
// onto the dataset's fields by name (or WithMapping) and convert from any
// type the file readers accept (timestamps of every unit, dictionaries,
// WKB or WKT geometries, lists, ...), and every datapoint gets the same
// content-derived ID as when ingested from a file. Calls hold at most 8192
// datapoints and WithMaxCallBytes bytes; each is all-or-nothing, and an
// error says which records' rows failed, with what was stored before in
// the response. Records may change schema between batches.
//
// For concurrent calls, retries and checkpoints, feed the encoded
// datapoints to package batch instead.
func (c *DatapointClient) IngestRecords(ctx context.Context, ds *Dataset, collectionID uuid.UUID, records iter.Seq2[arrow.RecordBatch, error], allowExisting bool, opts ...RecordOption) (*IngestResponse, error) {
	cfg := newRecordConfig(opts)
	out := &IngestResponse{}
	var (
		mapper *ingest.Mapper
		src    *arrow.Schema // the mapper's source schema
		enc    *convert.Encoder
		buf    []byte
		dps    []store.Datapoint
		values [][]byte
		row    int64 = 1
	)
	send := func(from int64) error {
		if len(values) == 0 {
			return nil
		}
		resp, err := c.IngestEncoded(ctx, collectionID, values, allowExisting)
		if err != nil {
			return fmt.Errorf("records, rows %d-%d: %w", from, from+int64(len(values))-1, err)
		}
		out.NumCreated += resp.NumCreated
		out.NumExisting += resp.NumExisting
		out.DatapointIDs = append(out.DatapointIDs, resp.DatapointIDs...)
		values = values[:0]
		return nil
	}
	for rec, err := range records {
		if err != nil {
			return out, err
		}
		if mapper == nil || !rec.Schema().Equal(src) {
			if mapper, err = ingest.NewMapper(rec.Schema(), ds.Schema, cfg.mapping, "records", append(slices.Clip(cfg.mapOpts), ingest.WithAllocator(cfg.mem))...); err != nil {
				return out, err
			}
			if enc, err = convert.NewEncoder(ds.Schema, mapper.Schema()); err != nil {
				return out, err
			}
			src = rec.Schema()
		}
		mapped, err := mapper.Map(ingest.Batch{Record: rec, FirstRow: row})
		if err != nil {
			return out, err
		}
		buf, dps, err = enc.Encode(mapped, buf[:0], dps[:0])
		mapped.Release()
		if err != nil {
			return out, fmt.Errorf("records: row %d: %w", row, err)
		}
		// buf is reused for the next record: send everything of this one.
		size, from := 0, row
		for i, dp := range dps {
			if len(values) == MaxBatch || (len(values) > 0 && size+len(dp.Data) > cfg.maxBytes) {
				if err := send(from); err != nil {
					return out, err
				}
				size, from = 0, row+int64(i)
			}
			values = append(values, dp.Data)
			size += len(dp.Data)
		}
		if err := send(from); err != nil {
			return out, err
		}
		row += rec.NumRows()
	}
	return out, nil
}

// QueryRecords streams the matching datapoints as Arrow record batches of
// the dataset's canonical columns (schema.ArrowType: timestamp[ns, UTC],
// UUIDs as fixed_size_binary(16), geometries as WKB, arrays as lists), at
// most 8192 rows each (WithRecordRows). A record is released when the loop
// body returns: Retain it to keep it. With WithSkipData the records hold
// time, id and ingestion_time only.
func (c *DatapointClient) QueryRecords(ctx context.Context, ds *Dataset, qopts []QueryOption, opts ...RecordOption) iter.Seq2[arrow.RecordBatch, error] {
	cfg := newRecordConfig(opts)
	var qc queryConfig
	for _, o := range qopts {
		o(&qc)
	}
	return func(yield func(arrow.RecordBatch, error) bool) {
		var fields []string
		if qc.skipData {
			for _, f := range ds.Schema.Fields[:3] {
				fields = append(fields, f.Name)
			}
		}
		dec, err := convert.NewDecoder(ds.Schema, cfg.mem, fields...)
		if err != nil {
			yield(nil, err)
			return
		}
		defer dec.Release()
		flush := func() bool {
			if dec.Len() == 0 {
				return true
			}
			rec := dec.NewRecordBatch()
			defer rec.Release()
			return yield(rec, nil)
		}
		for b, err := range c.Query(ctx, ds.ID, qopts...) {
			if err != nil {
				yield(nil, err)
				return
			}
			if err := dec.Append(b); err != nil {
				yield(nil, err)
				return
			}
			if dec.Len() >= cfg.batchRows && !flush() {
				return
			}
		}
		flush()
	}
}
