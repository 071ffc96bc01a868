package batch

import (
	"context"
	"iter"

	"connectrpc.com/connect"
	"github.com/google/uuid"
)

// IDChunk is a run of consecutive rows of one source, each an ID to delete.
type IDChunk struct {
	Source   string
	FirstRow int64
	IDs      []uuid.UUID
}

// DeleteResult sums up a delete run.
type DeleteResult struct {
	// IDs counts the IDs of the calls that succeeded.
	IDs int64
	// Deleted is what the calls deleted (a dry run: what they would delete).
	Deleted int64
	// Missing counts, in a dry run, IDs that are not stored: the real call
	// carrying them would fail and delete nothing.
	Missing  int64
	Rejected int64
	Calls    int
	Retries  int
}

// Deleter deletes IDs from one collection in calls of at most 8192, each
// all-or-nothing.
type Deleter struct {
	sink       Sink
	collection uuid.UUID
	cfg        config
}

// NewDeleter returns a Deleter for collection through sink.
func NewDeleter(sink Sink, collection uuid.UUID, opts ...Option) *Deleter {
	return &Deleter{sink: sink, collection: collection, cfg: newConfig(opts)}
}

// Run deletes the IDs of chunks, with the same flow, retries and error
// reporting as Ingester.Run.
func (d *Deleter) Run(ctx context.Context, chunks iter.Seq2[IDChunk, error]) (DeleteResult, error) {
	e := newEngine(d.cfg, "delete")
	e.try = d.try
	e.landed = d.landed
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
			for i, id := range ch.IDs {
				if cur.len() >= d.cfg.maxCount {
					if !e.dispatch(ctx, cur) {
						break loop
					}
					if cur, err = e.get(ctx); err != nil {
						cur = nil
						break loop
					}
				}
				cur.spans = appendSpan(cur.spans, ch.Source, ch.FirstRow+int64(i))
				cur.ids = append(cur.ids, id)
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
	res := DeleteResult{IDs: r.rows, Deleted: r.created, Missing: r.existing, Rejected: r.rejected, Calls: r.calls, Retries: r.retries}
	return res, finishErr(ctx, callErr, inputErr, r.rows)
}

func (d *Deleter) try(ctx context.Context, c *call) (outcome, error) {
	if d.cfg.dryRun {
		n := len(c.uniq)
		if d.cfg.exists != nil {
			var err error
			if n, err = d.cfg.exists(ctx, c.uniq); err != nil {
				return outcome{}, err
			}
		}
		return outcome{created: int64(n), existing: int64(len(c.uniq) - n)}, nil
	}
	n, err := d.sink.DeleteIDs(ctx, d.collection, c.sorted)
	return outcome{created: n}, err
}

// landed: a retry that finds none of the call's IDs means the first try
// deleted them.
func (d *Deleter) landed(ctx context.Context, c *call, err error) (outcome, bool) {
	if d.cfg.exists == nil || !isCode(err, connect.CodeNotFound) {
		return outcome{}, false
	}
	n, qerr := d.cfg.exists(ctx, c.uniq)
	if qerr != nil || n != 0 {
		return outcome{}, false
	}
	return outcome{created: int64(len(c.uniq))}, true
}
