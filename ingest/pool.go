package ingest

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// PoolAllocator is a memory.Allocator that keeps freed buffers in
// power-of-two size classes and hands them out again, so that reading a
// file batch after batch reuses the same few buffers instead of asking the
// garbage collector for fresh ones. Buffers are 64-byte aligned and zeroed,
// like memory.GoAllocator's. It is safe for concurrent use.
//
// Reading a 1M-row Parquet file it cut the time by a third to a half and
// the bytes allocated by more than half (see BenchmarkParquetAllocators).
type PoolAllocator struct {
	mu      sync.Mutex
	free    [poolClasses][][]byte
	held    int64 // bytes waiting in the free lists
	maxHeld int64

	live atomic.Int64 // bytes handed out and not yet freed
}

const (
	poolMinShift = 6  // 64 B
	poolMaxShift = 26 // 64 MiB; larger buffers bypass the pool
	poolClasses  = poolMaxShift - poolMinShift + 1
	poolAlign    = 64
)

// DefaultPoolRetain bounds the bytes a PoolAllocator keeps for reuse.
const DefaultPoolRetain = 512 << 20

// NewPoolAllocator returns a pooling allocator that keeps at most retain
// bytes of freed buffers (DefaultPoolRetain if retain <= 0).
func NewPoolAllocator(retain int64) *PoolAllocator {
	if retain <= 0 {
		retain = DefaultPoolRetain
	}
	return &PoolAllocator{maxHeld: retain}
}

func poolClass(size int) int {
	if size <= 1<<poolMinShift {
		return 0
	}
	return bits.Len(uint(size-1)) - poolMinShift
}

func alignedMake(size, capacity int) []byte {
	buf := make([]byte, capacity+poolAlign)
	shift := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(buf))) % poolAlign); r != 0 {
		shift = poolAlign - r
	}
	return buf[shift : shift+size : shift+capacity]
}

// Allocate returns a zeroed, 64-byte aligned buffer of size bytes.
func (p *PoolAllocator) Allocate(size int) []byte { return p.allocate(size, 0) }

// allocate returns size bytes of which those from keep on are zero; the
// first keep bytes are left as the reused buffer had them (Reallocate
// overwrites them at once, so clearing them is wasted work).
func (p *PoolAllocator) allocate(size, keep int) []byte {
	if size < 0 {
		panic(fmt.Sprintf("ingest: negative allocation size %d", size))
	}
	p.live.Add(int64(size))
	c := poolClass(size)
	if c >= poolClasses {
		return alignedMake(size, size)
	}
	p.mu.Lock()
	if n := len(p.free[c]); n > 0 {
		b := p.free[c][n-1]
		p.free[c][n-1] = nil
		p.free[c] = p.free[c][:n-1]
		p.held -= int64(cap(b))
		p.mu.Unlock()
		b = b[:size]
		clear(b[min(keep, size):])
		return b
	}
	p.mu.Unlock()
	return alignedMake(size, 1<<(c+poolMinShift))
}

// Reallocate resizes b to size bytes, keeping its contents; bytes beyond
// the old length are zero.
func (p *PoolAllocator) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		p.live.Add(int64(size - len(b)))
		if size > len(b) {
			clear(b[len(b):size])
		}
		return b[:size]
	}
	nb := p.allocate(size, len(b))
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free returns b to its size class.
func (p *PoolAllocator) Free(b []byte) {
	p.live.Add(-int64(len(b)))
	c := cap(b)
	if c < 1<<poolMinShift || c > 1<<poolMaxShift || c&(c-1) != 0 {
		return // not one of ours, or too large to keep
	}
	class := bits.Len(uint(c)) - 1 - poolMinShift
	p.mu.Lock()
	if p.held+int64(c) <= p.maxHeld {
		p.free[class] = append(p.free[class], b[:0])
		p.held += int64(c)
	}
	p.mu.Unlock()
}

// Live is the number of bytes handed out and not yet freed.
func (p *PoolAllocator) Live() int64 { return p.live.Load() }

// Held is the number of bytes kept for reuse.
func (p *PoolAllocator) Held() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// ErrMemoryLimit is wrapped by the error a source returns when decoding a
// file would need more memory than WithMemoryLimit allows.
var ErrMemoryLimit = errors.New("memory limit exceeded")

// limitAllocator fails (by panicking with a *memLimitPanic, which the
// sources recover into an error) once the bytes it has handed out and not
// freed would exceed limit.
type limitAllocator struct {
	mem   memory.Allocator
	limit int64
	used  atomic.Int64
	peak  atomic.Int64
}

type memLimitPanic struct {
	want, used, limit int64
}

func (e *memLimitPanic) Error() string {
	return fmt.Sprintf("%v: decoding needs %d more bytes with %d in use, the limit is %d (raise it with WithMemoryLimit)",
		ErrMemoryLimit, e.want, e.used, e.limit)
}

func (e *memLimitPanic) Unwrap() error { return ErrMemoryLimit }

func newLimitAllocator(mem memory.Allocator, limit int64) *limitAllocator {
	return &limitAllocator{mem: mem, limit: limit}
}

func (a *limitAllocator) reserve(n int64) {
	if n <= 0 {
		a.used.Add(n)
		return
	}
	u := a.used.Add(n)
	if u > a.limit || u < 0 {
		a.used.Add(-n)
		panic(&memLimitPanic{want: n, used: u - n, limit: a.limit})
	}
	for {
		p := a.peak.Load()
		if u <= p || a.peak.CompareAndSwap(p, u) {
			break
		}
	}
}

func (a *limitAllocator) Allocate(size int) []byte {
	a.reserve(int64(size))
	return a.mem.Allocate(size)
}

func (a *limitAllocator) Reallocate(size int, b []byte) []byte {
	a.reserve(int64(size - len(b)))
	return a.mem.Reallocate(size, b)
}

func (a *limitAllocator) Free(b []byte) {
	a.used.Add(-int64(len(b)))
	a.mem.Free(b)
}

var (
	_ memory.Allocator = (*PoolAllocator)(nil)
	_ memory.Allocator = (*limitAllocator)(nil)
)
