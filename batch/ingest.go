package batch

import (
	"context"
	"iter"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/granaryhq/granary/store"
)

// Chunk is a run of consecutive rows of one source, encoded: what a
// convert.Encoder returns for one record. Run copies what it keeps, so the
// producer may reuse the chunk's buffers once the loop body returns.
type Chunk struct {
	// Source names the input in errors and commits, e.g. the file.
	Source string
	// FirstRow is the 1-based row number of Datapoints[0] in the source.
	FirstRow int64
	// Datapoints carry the IDs the encoder computed and the canonical bytes.
	Datapoints []store.Datapoint
}

// Result sums up a run.
type Result struct {
	// Rows counts the datapoints of the calls that succeeded.
	Rows int64
	// Created and Existing are the calls' counts (for a dry run: what would
	// be created, and what is already stored).
	Created, Existing int64
	// Rejected counts the datapoints of a call that failed for good.
	Rejected int64
	Calls    int
	Retries  int
}

// Ingester writes chunks of encoded datapoints into one collection.
type Ingester struct {
	sink       Sink
	collection uuid.UUID
	cfg        config
}

// NewIngester returns an Ingester that writes into collection through sink.
func NewIngester(sink Sink, collection uuid.UUID, opts ...Option) *Ingester {
	return &Ingester{sink: sink, collection: collection, cfg: newConfig(opts)}
}

// Run streams chunks into calls until the input ends, the input fails, a
// call fails for good, or ctx is cancelled; in each case the calls in
// flight finish first. The error says which rows failed and why; the
// Result counts what was committed.
func (in *Ingester) Run(ctx context.Context, chunks iter.Seq2[Chunk, error]) (Result, error) {
	e := newEngine(in.cfg, "ingest")
	e.try = in.try
	e.landed = in.landed
	e.start(ctx)

	var inputErr error
	cur, err := e.get(ctx)
	if err == nil {
	loop:
		for ch, err := range chunks {
			if err != nil {
				inputErr = err
				break
			}
			for i, dp := range ch.Datapoints {
				if cur.len() > 0 && (cur.len() >= in.cfg.maxCount || len(cur.data)+len(dp.Data) > in.cfg.maxBytes) {
					if !e.dispatch(ctx, cur) {
						break loop
					}
					if cur, err = e.get(ctx); err != nil {
						cur = nil
						break loop
					}
				}
				cur.spans = appendSpan(cur.spans, ch.Source, ch.FirstRow+int64(i))
				cur.ids = append(cur.ids, uuid.UUID(dp.ID))
				cur.data = append(cur.data, dp.Data...)
				cur.ends = append(cur.ends, len(cur.data))
			}
			if e.stopped() || ctx.Err() != nil {
				break
			}
		}
		if cur != nil {
			if cur.len() == 0 || !e.dispatch(ctx, cur) {
				e.put(cur)
			}
		}
	}
	r, callErr := e.wait()
	res := Result{Rows: r.rows, Created: r.created, Existing: r.existing, Rejected: r.rejected, Calls: r.calls, Retries: r.retries}
	return res, finishErr(ctx, callErr, inputErr, r.rows)
}

func (in *Ingester) try(ctx context.Context, c *call) (outcome, error) {
	if in.cfg.dryRun {
		n := 0
		if in.cfg.exists != nil {
			var err error
			if n, err = in.cfg.exists(ctx, c.uniq); err != nil {
				return outcome{}, err
			}
		}
		created := int64(len(c.uniq) - n)
		return outcome{created: created, existing: int64(c.len()) - created}, nil
	}
	resp, err := in.sink.IngestEncoded(ctx, in.collection, c.values, in.cfg.allowExisting)
	if err != nil {
		return outcome{}, err
	}
	return outcome{created: resp.NumCreated, existing: resp.NumExisting}, nil
}

// landed: with allow_existing=false, a retry that finds already_exists for
// exactly this call's IDs means the first try was committed.
func (in *Ingester) landed(ctx context.Context, c *call, err error) (outcome, bool) {
	if in.cfg.allowExisting || in.cfg.exists == nil || !isCode(err, connect.CodeAlreadyExists) {
		return outcome{}, false
	}
	n, qerr := in.cfg.exists(ctx, c.uniq)
	if qerr != nil || n != len(c.uniq) {
		return outcome{}, false
	}
	// Repeats inside the call count as existing, as the store counts them.
	return outcome{created: int64(len(c.uniq)), existing: int64(c.len() - len(c.uniq))}, true
}
