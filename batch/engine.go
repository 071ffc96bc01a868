package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"connectrpc.com/connect"
	"github.com/google/uuid"
)

// call is one API call being built or in flight. Its buffers are reused:
// the engine keeps concurrency+1 calls, which bounds memory.
type call struct {
	spans []Span
	ids   []uuid.UUID
	data  []byte // ingest: the datapoints' bytes back to back
	ends  []int  // ingest: end offset of each datapoint in data
	// built at dispatch, sorted by ID
	values [][]byte
	sorted []uuid.UUID
	uniq   []uuid.UUID
}

func (c *call) reset() {
	c.spans, c.ids, c.data, c.ends = c.spans[:0], c.ids[:0], c.data[:0], c.ends[:0]
	c.values, c.sorted, c.uniq = c.values[:0], c.sorted[:0], c.uniq[:0]
}

func (c *call) len() int { return len(c.ids) }

// prepare orders the call by ID (so that the store writes its B-tree
// sequentially, and a remote server gets the same order) and lists its
// distinct IDs.
func (c *call) prepare(withData bool) {
	n := len(c.ids)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if !slices.IsSortedFunc(c.ids, cmpUUID) {
		slices.SortStableFunc(order, func(a, b int) int { return cmpUUID(c.ids[a], c.ids[b]) })
	}
	c.sorted = c.sorted[:0]
	c.values = c.values[:0]
	for _, i := range order {
		c.sorted = append(c.sorted, c.ids[i])
		if withData {
			lo := 0
			if i > 0 {
				lo = c.ends[i-1]
			}
			c.values = append(c.values, c.data[lo:c.ends[i]:c.ends[i]])
		}
	}
	c.uniq = append(c.uniq[:0], c.sorted...)
	c.uniq = slices.Compact(c.uniq)
}

func cmpUUID(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

// outcome is what one try of a call returned.
type outcome struct {
	created, existing int64
}

// engine runs calls on workers with retries; the producer (the caller's
// goroutine) fills calls and hands them over, blocking while all workers
// are busy.
type engine struct {
	cfg  config
	what string // "ingest" or "delete"
	// try sends the call once.
	try func(ctx context.Context, c *call) (outcome, error)
	// landed says whether a failed retry means the first try landed, and
	// with what outcome.
	landed func(ctx context.Context, c *call, err error) (outcome, bool)

	work chan *call
	free chan *call
	wg   sync.WaitGroup
	stop atomic.Bool

	mu      sync.Mutex
	res     engineResult
	failure error
}

type engineResult struct {
	rows              int64
	created, existing int64
	rejected          int64
	calls, retries    int
}

func newEngine(cfg config, what string) *engine {
	e := &engine{cfg: cfg, what: what, work: make(chan *call), free: make(chan *call, cfg.concurrency+1)}
	for range cfg.concurrency + 1 {
		e.free <- &call{}
	}
	return e
}

func (e *engine) start(ctx context.Context) {
	for range e.cfg.concurrency {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for c := range e.work {
				e.run(ctx, c)
				c.reset()
				e.free <- c
			}
		}()
	}
}

// get returns an empty call buffer, waiting for one to come back.
func (e *engine) get(ctx context.Context) (*call, error) {
	select {
	case c := <-e.free:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put returns an unused call buffer.
func (e *engine) put(c *call) {
	c.reset()
	e.free <- c
}

// dispatch hands c to a worker, waiting while all are busy. It returns
// false (and keeps c) when the run stopped or ctx is done.
func (e *engine) dispatch(ctx context.Context, c *call) bool {
	if e.stop.Load() || ctx.Err() != nil {
		return false
	}
	c.prepare(e.what == "ingest")
	select {
	case e.work <- c:
		return true
	case <-ctx.Done():
		return false
	}
}

// wait lets the calls in flight finish.
func (e *engine) wait() (engineResult, error) {
	close(e.work)
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.res, e.failure
}

// stopped reports whether a call failed.
func (e *engine) stopped() bool { return e.stop.Load() }

// run sends one call with retries and records how it ended.
func (e *engine) run(ctx context.Context, c *call) {
	var (
		out     outcome
		err     error
		attempt int
	)
	for attempt = 1; ; attempt++ {
		// A try runs to completion even when ctx is cancelled (Ctrl-C),
		// bounded by the call timeout: a stop never leaves a call half done.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.callTimeout)
		out, err = e.try(cctx, c)
		cancel()
		if err == nil {
			break
		}
		if attempt > 1 && e.landed != nil {
			if o, ok := e.landed(context.WithoutCancel(ctx), c, err); ok {
				e.cfg.log.Info(e.what+": a retry found the first try had landed", "rows", Spans(c.spans))
				out, err = o, nil
				break
			}
		}
		if !Transient(err) || attempt >= e.cfg.attempts || ctx.Err() != nil || e.stop.Load() {
			break
		}
		wait := e.cfg.backoff(attempt)
		e.cfg.log.Warn(e.what+" call failed, retrying", "rows", Spans(c.spans), "try", attempt, "wait", wait.Round(1e6).String(), "err", err)
		e.mu.Lock()
		e.res.retries++
		e.mu.Unlock()
		if e.cfg.sleep(ctx, wait) != nil {
			break // interrupted: report the last error
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.res.rejected += int64(c.len())
		if e.failure == nil {
			if ctx.Err() != nil && Transient(err) {
				err = fmt.Errorf("%w (interrupted before it could be retried)", err)
			}
			e.failure = &CallError{Spans: slices.Clone(c.spans), Rows: c.len(), Attempts: attempt, Err: err}
		}
		e.stop.Store(true)
		return
	}
	e.res.calls++
	e.res.rows += int64(c.len())
	e.res.created += out.created
	e.res.existing += out.existing
	e.cfg.log.Debug(e.what+" call", "rows", Spans(c.spans), "n", c.len(), "created", out.created, "existing", out.existing)
	if e.cfg.onCommit != nil {
		e.cfg.onCommit(Commit{Spans: slices.Clone(c.spans), Rows: c.len(), Created: out.created, Existing: out.existing, Attempts: attempt})
	}
}

// finishErr picks the error a run returns: a failed call first, then the
// input's error, then the interruption.
func finishErr(ctx context.Context, callErr, inputErr error, committed int64) error {
	switch {
	case callErr != nil:
		return callErr
	case inputErr != nil:
		return inputErr
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted after %d row(s) were committed: %w", committed, ctx.Err())
	}
	return nil
}

// isCode reports whether err carries the connect code.
func isCode(err error, code connect.Code) bool {
	var ce *connect.Error
	return errors.As(err, &ce) && ce.Code() == code
}
