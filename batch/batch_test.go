package batch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/granaryhq/granary/datasets"
	"github.com/granaryhq/granary/store"
)

// fakeSink records calls; fail decides the error of each try.
type fakeSink struct {
	mu       sync.Mutex
	calls    [][]uuid.UUID
	stored   map[uuid.UUID]bool
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	delay    time.Duration
	fail     func(try int, ids []uuid.UUID) error // try counts every call
	tries    int
	ctxErrs  int
	block    chan struct{}
}

func newFakeSink() *fakeSink { return &fakeSink{stored: map[uuid.UUID]bool{}} }

func (s *fakeSink) enter(ctx context.Context) func() {
	n := s.inFlight.Add(1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if s.block != nil {
		<-s.block
	}
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	if ctx.Err() != nil {
		s.mu.Lock()
		s.ctxErrs++
		s.mu.Unlock()
	}
	return func() { s.inFlight.Add(-1) }
}

func idsOf(values [][]byte) []uuid.UUID {
	out := make([]uuid.UUID, len(values))
	for i, v := range values {
		copy(out[i][:], v[:16])
	}
	return out
}

func (s *fakeSink) IngestEncoded(ctx context.Context, _ uuid.UUID, values [][]byte, allowExisting bool) (*datasets.IngestResponse, error) {
	defer s.enter(ctx)()
	ids := idsOf(values)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if s.fail != nil {
		if err := s.fail(s.tries, ids); err != nil {
			return nil, err
		}
	}
	resp := &datasets.IngestResponse{}
	for _, id := range ids {
		if s.stored[id] {
			if !allowExisting {
				return nil, connect.NewError(connect.CodeAlreadyExists, errors.New("exists"))
			}
			resp.NumExisting++
		}
	}
	for _, id := range ids {
		if !s.stored[id] {
			s.stored[id] = true
			resp.NumCreated++
		}
	}
	s.calls = append(s.calls, ids)
	return resp, nil
}

func (s *fakeSink) DeleteIDs(ctx context.Context, _ uuid.UUID, ids []uuid.UUID) (int64, error) {
	defer s.enter(ctx)()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if s.fail != nil {
		if err := s.fail(s.tries, ids); err != nil {
			return 0, err
		}
	}
	for _, id := range ids {
		if !s.stored[id] {
			return 0, connect.NewError(connect.CodeNotFound, fmt.Errorf("%s not found", id))
		}
	}
	for _, id := range ids {
		delete(s.stored, id)
	}
	s.calls = append(s.calls, slices.Clone(ids))
	return int64(len(ids)), nil
}

func (s *fakeSink) exists(_ context.Context, ids []uuid.UUID) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range ids {
		if s.stored[id] {
			n++
		}
	}
	return n, nil
}

// makeID is an ID at ms with a sequence number.
func makeID(ms int64, seq uint64) uuid.UUID {
	var id uuid.UUID
	binary.BigEndian.PutUint64(id[:8], uint64(ms)<<16)
	binary.BigEndian.PutUint64(id[8:], seq)
	return id
}

// chunks yields n datapoints of size bytes (the ID first, so the fake sink
// can read it back) in chunks of per rows.
func chunks(source string, n, per, size int, produced *atomic.Int64) iter.Seq2[Chunk, error] {
	return func(yield func(Chunk, error) bool) {
		for lo := 0; lo < n; lo += per {
			hi := min(lo+per, n)
			ch := Chunk{Source: source, FirstRow: int64(lo + 1)}
			for i := lo; i < hi; i++ {
				id := makeID(1_700_000_000_000+int64(i), uint64(i))
				data := make([]byte, size)
				copy(data, id[:])
				ch.Datapoints = append(ch.Datapoints, store.Datapoint{ID: store.ID(id), Data: data})
			}
			if produced != nil {
				produced.Add(int64(hi - lo))
			}
			if !yield(ch, nil) {
				return
			}
		}
	}
}

var fast = WithRetry(DefaultAttempts, time.Millisecond, 2*time.Millisecond)

func TestGroupsByCountAndBytes(t *testing.T) {
	s := newFakeSink()
	res, err := NewIngester(s, uuid.New(), fast).Run(t.Context(), chunks("a.csv", 20000, 3000, 100, nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 20000 || res.Created != 20000 || res.Calls != 3 {
		t.Fatalf("result %+v", res)
	}
	var sizes []int
	for _, c := range s.calls {
		sizes = append(sizes, len(c))
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{3616, 8192, 8192}) {
		t.Fatalf("call sizes %v", sizes)
	}

	s = newFakeSink()
	res, err = NewIngester(s, uuid.New(), WithMaxBytes(1000), fast).Run(t.Context(), chunks("a.csv", 95, 7, 100, nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 10 {
		t.Fatalf("%d calls, want 10 of at most 1000 bytes", res.Calls)
	}
	for _, c := range s.calls {
		if len(c) > 10 {
			t.Fatalf("a call of %d datapoints of 100 bytes exceeds 1000 bytes", len(c))
		}
		if !slices.IsSortedFunc(c, cmpUUID) {
			t.Fatal("call not sorted by ID")
		}
	}
}

func TestConcurrencyAndBackPressure(t *testing.T) {
	s := newFakeSink()
	s.block = make(chan struct{})
	var produced atomic.Int64
	done := make(chan struct{})
	var res Result
	var err error
	go func() {
		res, err = NewIngester(s, uuid.New(), WithConcurrency(3), WithMaxCount(100), fast).
			Run(context.Background(), chunks("big", 100_000, 50, 64, &produced))
		close(done)
	}()
	time.Sleep(100 * time.Millisecond)
	// 3 calls in flight, one being filled, and the chunk being copied.
	if p := produced.Load(); p > 4*100+50 {
		t.Fatalf("the producer ran ahead to %d rows while every call was blocked", p)
	}
	close(s.block)
	<-done
	if err != nil || res.Rows != 100_000 {
		t.Fatalf("%+v %v", res, err)
	}
	if m := s.maxSeen.Load(); m != 3 {
		t.Fatalf("max in flight %d, want 3", m)
	}
}

func TestRetriesTransientOnly(t *testing.T) {
	s := newFakeSink()
	s.fail = func(try int, _ []uuid.UUID) error {
		if try <= 2 {
			return connect.NewError(connect.CodeUnavailable, errors.New("down"))
		}
		return nil
	}
	res, err := NewIngester(s, uuid.New(), fast, WithConcurrency(1)).Run(t.Context(), chunks("a.csv", 10, 10, 32, nil))
	if err != nil || res.Retries != 2 || res.Created != 10 {
		t.Fatalf("%+v %v", res, err)
	}

	s = newFakeSink()
	s.fail = func(try int, _ []uuid.UUID) error {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("values[3]: bad"))
	}
	res, err = NewIngester(s, uuid.New(), fast).Run(t.Context(), chunks("a.csv", 10, 10, 32, nil))
	var ce *CallError
	if !errors.As(err, &ce) || s.tries != 1 || res.Retries != 0 || res.Rejected != 10 {
		t.Fatalf("invalid input: tries %d, %+v, %v", s.tries, res, err)
	}
	if !strings.Contains(err.Error(), "a.csv: rows 1-10") || !strings.Contains(err.Error(), "values[3]") {
		t.Fatalf("error %q", err)
	}

	for _, transient := range []error{
		connect.NewError(connect.CodeDeadlineExceeded, errors.New("x")),
		connect.NewError(connect.CodeResourceExhausted, errors.New("x")),
		connect.NewError(connect.CodeUnknown, errors.New("HTTP status 502 Bad Gateway")),
	} {
		if !Transient(fmt.Errorf("ingest: %w", transient)) {
			t.Errorf("%v is transient", transient)
		}
	}
	for _, permanent := range []error{
		connect.NewError(connect.CodeInvalidArgument, errors.New("x")),
		connect.NewError(connect.CodeAlreadyExists, errors.New("x")),
		connect.NewError(connect.CodeNotFound, errors.New("x")),
		errors.New("plain"),
	} {
		if Transient(permanent) {
			t.Errorf("%v is not transient", permanent)
		}
	}
}

func TestIdempotentRetry(t *testing.T) {
	// The first try lands but its answer is lost; the retry sees its own IDs.
	s := newFakeSink()
	landed := false
	s.fail = func(try int, ids []uuid.UUID) error {
		if try == 1 {
			for _, id := range ids {
				s.stored[id] = true
			}
			landed = true
			return connect.NewError(connect.CodeUnavailable, errors.New("connection reset"))
		}
		return nil
	}
	res, err := NewIngester(s, uuid.New(), fast, WithAllowExisting(false), WithExists(s.exists)).
		Run(t.Context(), chunks("a.csv", 100, 100, 32, nil))
	if err != nil || !landed || res.Created != 100 || res.Existing != 0 || res.Retries != 1 {
		t.Fatalf("%+v %v", res, err)
	}

	// Someone else's IDs: only some of the call exists, which is an error.
	s = newFakeSink()
	s.stored[makeID(1_700_000_000_000, 0)] = true
	s.fail = func(try int, _ []uuid.UUID) error {
		if try == 1 {
			return connect.NewError(connect.CodeUnavailable, errors.New("down"))
		}
		return nil
	}
	_, err = NewIngester(s, uuid.New(), fast, WithAllowExisting(false), WithExists(s.exists)).
		Run(t.Context(), chunks("a.csv", 100, 100, 32, nil))
	if !datasets.IsAlreadyExists(err) {
		t.Fatalf("want already_exists, got %v", err)
	}
}

func TestFailureStopsAfterInFlight(t *testing.T) {
	s := newFakeSink()
	s.delay = 5 * time.Millisecond
	s.fail = func(try int, _ []uuid.UUID) error {
		if try == 5 {
			return connect.NewError(connect.CodeInvalidArgument, errors.New("bad"))
		}
		return nil
	}
	var produced atomic.Int64
	res, err := NewIngester(s, uuid.New(), WithMaxCount(10), WithConcurrency(2), fast).
		Run(t.Context(), chunks("f.csv", 10_000, 10, 16, &produced))
	var ce *CallError
	if !errors.As(err, &ce) || ce.Rows != 10 {
		t.Fatalf("%v", err)
	}
	if produced.Load() > 200 {
		t.Fatalf("kept producing after the failure: %d rows", produced.Load())
	}
	if res.Rows != int64(len(s.calls))*10 || res.Rejected != 10 {
		t.Fatalf("result %+v, %d calls landed", res, len(s.calls))
	}
}

func TestInputErrorAndCancel(t *testing.T) {
	s := newFakeSink()
	bad := errors.New("b.csv: row 7: cannot parse")
	input := func(yield func(Chunk, error) bool) {
		for ch, err := range chunks("a.csv", 30, 10, 16, nil) {
			if !yield(ch, err) {
				return
			}
		}
		yield(Chunk{}, bad)
	}
	res, err := NewIngester(s, uuid.New(), WithMaxCount(10), fast).Run(t.Context(), input)
	if !errors.Is(err, bad) || res.Rows != 30 {
		t.Fatalf("%+v %v", res, err)
	}

	// Cancelling stops producing; the calls in flight still complete.
	s = newFakeSink()
	s.delay = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	res, err = NewIngester(s, uuid.New(), WithMaxCount(10), WithConcurrency(2), fast).Run(ctx, chunks("a.csv", 1_000_000, 10, 16, nil))
	if !errors.Is(err, context.Canceled) || res.Rows == 0 || res.Rows >= 1_000_000 {
		t.Fatalf("%+v %v", res, err)
	}
	if s.ctxErrs != 0 {
		t.Fatalf("%d calls saw a cancelled context", s.ctxErrs)
	}
	if int64(len(s.stored)) != res.Rows {
		t.Fatalf("stored %d, committed %d", len(s.stored), res.Rows)
	}
}

func TestDryRun(t *testing.T) {
	s := newFakeSink()
	for i := range 5 {
		s.stored[makeID(1_700_000_000_000+int64(i), uint64(i))] = true
	}
	res, err := NewIngester(s, uuid.New(), WithDryRun(s.exists)).Run(t.Context(), chunks("a.csv", 20, 20, 16, nil))
	if err != nil || res.Created != 15 || res.Existing != 5 || len(s.calls) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

func idChunks(ids []uuid.UUID, per int) iter.Seq2[IDChunk, error] {
	return func(yield func(IDChunk, error) bool) {
		for lo := 0; lo < len(ids); lo += per {
			if !yield(IDChunk{Source: "ids.txt", FirstRow: int64(lo + 1), IDs: ids[lo:min(lo+per, len(ids))]}, nil) {
				return
			}
		}
	}
}

func TestDeleter(t *testing.T) {
	s := newFakeSink()
	var ids []uuid.UUID
	for i := range 20000 {
		id := makeID(1_700_000_000_000+int64(i), uint64(i))
		s.stored[id] = true
		ids = append(ids, id)
	}
	dry, err := NewDeleter(s, uuid.New(), WithDryRun(s.exists)).Run(t.Context(), idChunks(append(slices.Clone(ids), makeID(1, 1)), 999))
	if err != nil || dry.Deleted != 20000 || dry.Missing != 1 || len(s.stored) != 20000 {
		t.Fatalf("dry run %+v %v", dry, err)
	}
	// The first try of the first call lands but reports unavailable.
	s.fail = func(try int, ids []uuid.UUID) error {
		if try == 1 {
			for _, id := range ids {
				delete(s.stored, id)
			}
			return connect.NewError(connect.CodeUnavailable, errors.New("reset"))
		}
		return nil
	}
	res, err := NewDeleter(s, uuid.New(), fast, WithExists(s.exists), WithConcurrency(1)).Run(t.Context(), idChunks(ids, 999))
	if err != nil || res.Deleted != 20000 || res.Calls != 3 || res.Retries != 1 || len(s.stored) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	// A missing ID fails its call and names the rows.
	s.fail = nil
	s.stored[ids[0]] = true
	_, err = NewDeleter(s, uuid.New(), fast).Run(t.Context(), idChunks(ids[:3], 10))
	if !datasets.IsNotFound(err) || !strings.Contains(err.Error(), "ids.txt: rows 1-3") {
		t.Fatalf("%v", err)
	}
}
