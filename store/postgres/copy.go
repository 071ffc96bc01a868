package postgres

import (
	"context"
	"encoding/binary"
	"io"
)

// copyHeader starts PostgreSQL's binary COPY format: the signature, no
// flags, no header extension.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyChunk is how much encoded data copyReader prepares at a time.
const copyChunk = 256 << 10

// testHookCopyRow, when set (by tests), is called before each row is
// encoded, from the goroutine that feeds COPY.
var testHookCopyRow func(i int)

// copyReader streams n rows in binary COPY format, encoding them on demand
// with row (which appends row i, field count included), so that a large
// batch is never encoded whole. It stops with the context's error when ctx
// is done, which makes pgx abort the COPY.
type copyReader struct {
	ctx     context.Context
	n, i    int
	row     func(buf []byte, i int) []byte
	buf     []byte
	off     int
	started bool
	done    bool
}

func newCopyReader(ctx context.Context, n int, row func(buf []byte, i int) []byte) *copyReader {
	return &copyReader{ctx: ctx, n: n, row: row, buf: make([]byte, 0, copyChunk+4096)}
}

func (r *copyReader) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		r.buf, r.off = r.buf[:0], 0
		if !r.started {
			r.buf = append(r.buf, copyHeader...)
			r.started = true
		}
		for len(r.buf) < copyChunk && r.i < r.n {
			if testHookCopyRow != nil {
				testHookCopyRow(r.i)
			}
			r.buf = r.row(r.buf, r.i)
			r.i++
		}
		if r.i == r.n {
			r.buf = binary.BigEndian.AppendUint16(r.buf, 0xffff) // trailer: -1
			r.done = true
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// Field encoders for binary COPY rows.

func appendFieldCount(buf []byte, n int) []byte { return binary.BigEndian.AppendUint16(buf, uint16(n)) }

func appendNull(buf []byte) []byte { return binary.BigEndian.AppendUint32(buf, 0xffffffff) }

func appendInt4(buf []byte, v int32) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 4)
	return binary.BigEndian.AppendUint32(buf, uint32(v))
}

func appendInt8(buf []byte, v int64) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 8)
	return binary.BigEndian.AppendUint64(buf, uint64(v))
}

func appendUUID(buf []byte, id *[16]byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, 16)
	return append(buf, id[:]...)
}

func appendBytes(buf []byte, b []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
	return append(buf, b...)
}

// appendTimestamptz encodes microseconds since 2000-01-01 UTC.
func appendTimestamptz(buf []byte, unixMicro int64) []byte {
	const pgEpochMicro = 946684800 * 1_000_000
	return appendInt8(buf, unixMicro-pgEpochMicro)
}

// appendLengthPrefixed appends a field whose bytes fn appends, with their
// length in front.
func appendLengthPrefixed(buf []byte, fn func([]byte) []byte) []byte {
	at := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	buf = fn(buf)
	binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
	return buf
}
