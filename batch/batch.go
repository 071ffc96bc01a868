// Package batch streams datapoints into a collection (and IDs out of one)
// in auto-sized API calls: grouped by count (at most 8192, the API's limit)
// and by bytes, with up to N calls in flight while the caller keeps
// decoding, bounded memory through back-pressure, and retries of transient
// failures only.
//
// The sink is anything with the datasets.DatapointClient methods
// IngestEncoded and DeleteIDs, so the same code drives the embedded store
// and a remote server:
//
//	in := batch.NewIngester(client.Datapoints, col.ID,
//		batch.WithConcurrency(4), batch.WithAllowExisting(true))
//	res, err := in.Run(ctx, chunks) // chunks: iter.Seq2[batch.Chunk, error]
//
// Retries are idempotent: datapoint IDs are derived from content, so
// resending a call whose first attempt landed creates nothing new. With
// allow_existing=false such a resend fails with already_exists; when every
// ID of the call is then found stored (see WithExists), the first attempt
// landed and the call counts as created. Invalid input is never retried.
//
// A failure stops the run: no new call starts, the calls in flight finish,
// and Run returns a *CallError naming the sources and rows of the failed
// call. What was committed stays committed and is in the Result.
package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/granaryhq/granary/datasets"
)

// Sink receives the calls: datasets.DatapointClient is one.
type Sink interface {
	IngestEncoded(ctx context.Context, collectionID uuid.UUID, values [][]byte, allowExisting bool) (*datasets.IngestResponse, error)
	DeleteIDs(ctx context.Context, collectionID uuid.UUID, ids []uuid.UUID) (int64, error)
}

// ExistsFunc reports how many of ids (sorted ascending, no repeats) are
// stored in the collection. QueryExists builds one from the datasets API.
type ExistsFunc func(ctx context.Context, ids []uuid.UUID) (int, error)

// Defaults.
const (
	// MaxCount is the API's limit of datapoints per call.
	MaxCount = datasets.MaxBatch
	// DefaultMaxBytes caps the encoded datapoints of one ingest call, well
	// under a server's usual request limit (e.g. 32 MiB).
	DefaultMaxBytes = 4 << 20
	// DefaultConcurrency is the number of calls in flight.
	DefaultConcurrency = 4
	// DefaultAttempts is how often a call is tried (1 + retries).
	DefaultAttempts = 6
)

type config struct {
	maxCount      int
	maxBytes      int
	concurrency   int
	allowExisting bool
	attempts      int
	baseDelay     time.Duration
	maxDelay      time.Duration
	callTimeout   time.Duration
	log           *slog.Logger
	onCommit      func(Commit)
	exists        ExistsFunc
	dryRun        bool
	sleep         func(ctx context.Context, d time.Duration) error
}

func newConfig(opts []Option) config {
	c := config{
		maxCount:      MaxCount,
		maxBytes:      DefaultMaxBytes,
		concurrency:   DefaultConcurrency,
		allowExisting: true,
		attempts:      DefaultAttempts,
		baseDelay:     200 * time.Millisecond,
		maxDelay:      15 * time.Second,
		callTimeout:   5 * time.Minute,
		log:           slog.New(slog.DiscardHandler),
		sleep:         sleepCtx,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Option configures an Ingester or a Deleter.
type Option func(*config)

// WithMaxCount sets the most datapoints (or IDs) per call; at most 8192.
func WithMaxCount(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxCount = min(n, MaxCount)
		}
	}
}

// WithMaxBytes caps the encoded bytes of one ingest call (default 4 MiB).
// A single datapoint above the cap goes alone.
func WithMaxBytes(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxBytes = n
		}
	}
}

// WithConcurrency sets how many calls may be in flight (default 4).
func WithConcurrency(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.concurrency = n
		}
	}
}

// WithAllowExisting sets the calls' allow_existing (default true):
// datapoints already stored count as existing instead of failing the call.
func WithAllowExisting(b bool) Option { return func(c *config) { c.allowExisting = b } }

// WithRetry sets how often a call is tried in all (at least 1; default 6)
// and the exponential backoff between tries: full jitter up to
// base·2^(try-1), at most maxDelay.
func WithRetry(attempts int, base, maxDelay time.Duration) Option {
	return func(c *config) {
		c.attempts = max(attempts, 1)
		if base > 0 {
			c.baseDelay = base
		}
		if maxDelay > 0 {
			c.maxDelay = maxDelay
		}
	}
}

// WithCallTimeout bounds one try of a call (default 5 minutes). Calls run
// to completion when the run's context is cancelled, so that a stop leaves
// no call half done; this timeout is what bounds them then.
func WithCallTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.callTimeout = d
		}
	}
}

// WithLogger logs retries (warn) and calls (debug).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithOnCommit calls fn after each call that succeeded, one at a time (never
// concurrently), e.g. to write a checkpoint or move a progress bar.
func WithOnCommit(fn func(Commit)) Option { return func(c *config) { c.onCommit = fn } }

// WithExists lets a retried call that failed with already_exists (ingest,
// allow_existing=false) or not_found (delete) check whether its first
// attempt landed: all of the call's IDs stored (or, for a delete, none).
func WithExists(fn ExistsFunc) Option { return func(c *config) { c.exists = fn } }

// WithDryRun makes an Ingester write nothing: each call instead counts its
// IDs that are already stored with fn (nil: none are), reporting the rest
// as what would be created. A Deleter counts what would be deleted.
func WithDryRun(fn ExistsFunc) Option {
	return func(c *config) { c.dryRun, c.exists = true, fn }
}

// Span is a run of consecutive rows of one source in a call.
type Span struct {
	Source      string
	First, Last int64 // 1-based, inclusive
}

func (s Span) String() string {
	if s.First == s.Last {
		return fmt.Sprintf("%s: row %d", s.Source, s.First)
	}
	return fmt.Sprintf("%s: rows %d-%d", s.Source, s.First, s.Last)
}

// Spans prints spans compactly.
func Spans(spans []Span) string {
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = s.String()
	}
	return strings.Join(parts, "; ")
}

// appendSpan adds row to spans, extending the last span when it continues it.
func appendSpan(spans []Span, source string, row int64) []Span {
	if n := len(spans); n > 0 && spans[n-1].Source == source && spans[n-1].Last+1 == row {
		spans[n-1].Last = row
		return spans
	}
	return append(spans, Span{Source: source, First: row, Last: row})
}

// Commit describes one call that succeeded.
type Commit struct {
	Spans    []Span // the rows it carried
	Rows     int
	Created  int64 // ingest: datapoints created; delete: deleted
	Existing int64 // ingest: datapoints already stored
	Attempts int
}

// CallError is a call that failed for good: its rows were not stored (or
// deleted), and the run stopped.
type CallError struct {
	Spans    []Span
	Rows     int
	Attempts int
	Err      error
}

func (e *CallError) Error() string {
	tries := ""
	if e.Attempts > 1 {
		tries = fmt.Sprintf(" (after %d tries)", e.Attempts)
	}
	return fmt.Sprintf("%s: %v%s", Spans(e.Spans), e.Err, tries)
}

func (e *CallError) Unwrap() error { return e.Err }

var http5xx = regexp.MustCompile(`HTTP status 5\d\d`)

// Transient reports whether err is worth retrying: connect codes
// unavailable, deadline_exceeded and resource_exhausted, and HTTP 5xx
// answers. Invalid input, missing or existing data and the like are not.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeResourceExhausted:
		return true
	case connect.CodeUnknown, connect.CodeInternal:
		// connect reports an HTTP 500 from a proxy as unknown.
		var ce *connect.Error
		return errors.As(err, &ce) && http5xx.MatchString(ce.Message())
	}
	return false
}

// backoff is the wait before try n+1 (n ≥ 1): full jitter.
func (c *config) backoff(n int) time.Duration {
	d := c.baseDelay << min(n-1, 30)
	if d <= 0 || d > c.maxDelay {
		d = c.maxDelay
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
