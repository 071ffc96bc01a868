package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Source is one input file streamed as Arrow record batches.
type Source interface {
	// Name is the file as the caller named it; errors use it.
	Name() string
	// Schema is the Arrow schema of every batch, in the file's own types.
	Schema() *arrow.Schema
	// Batches streams the file. It may be ranged over once. A batch's
	// record is released when the loop body returns: Retain it to keep it.
	// After an error the sequence ends.
	Batches() iter.Seq2[Batch, error]
	// Close releases the file. It is safe to call more than once.
	Close() error
}

// Batch is one record batch of a Source.
type Batch struct {
	Record arrow.RecordBatch
	// FirstRow is the 1-based data row number of the record's first row
	// (the CSV header is not a row).
	FirstRow int64
	// Lines holds, for CSV, the 1-based line on which each row starts; nil
	// for formats without lines.
	Lines []int64
}

// Line returns the source line of the record's row i (0-based), or 0.
func (b Batch) Line(i int) int64 {
	if i >= 0 && i < len(b.Lines) {
		return b.Lines[i]
	}
	return 0
}

// Option adjusts Open (and NewMapper, which uses the allocator).
type Option func(*options)

type options struct {
	batchSize      int
	maxBatchBytes  int64
	maxRecordBytes int64
	delimiter      rune
	comment        rune
	mem            memory.Allocator

	// binary formats (parquet.go, ipc.go)
	maxPageBytes int64 // Parquet: largest (un)compressed page
	maxMetaBytes int64 // Arrow IPC: largest message metadata
	maxBodyBytes int64 // Arrow IPC: largest message body
	memLimit     int64 // bytes a binary source may hold at once; 0: none
	validate     bool  // check decoded arrays (array.ValidateFull)
	requireRows  bool  // Parquet: decoded rows must match the footer
	pqarrowOnly  bool  // Parquet: read byte-array columns through pqarrow too (tests)

	noGeoFix bool // mapping: keep geometries as given
	force2D  bool // mapping: drop Z and M ordinates of geometries
	round    bool // mapping: round to the nearest float64
}

const (
	// DefaultBatchSize is the number of rows per batch unless WithBatchSize says otherwise.
	DefaultBatchSize = 8192
	// DefaultMaxRecordBytes bounds one CSV record (a row, with its quoted newlines).
	DefaultMaxRecordBytes = 64 << 20
	defaultMaxBatchBytes  = 64 << 20
)

func newOptions(opts []Option) options {
	o := options{
		batchSize:      DefaultBatchSize,
		maxBatchBytes:  defaultMaxBatchBytes,
		maxRecordBytes: DefaultMaxRecordBytes,
		mem:            memory.DefaultAllocator,
		maxPageBytes:   DefaultMaxPageBytes,
		maxMetaBytes:   DefaultMaxMessageMetadataBytes,
		maxBodyBytes:   DefaultMaxMessageBodyBytes,
		memLimit:       DefaultMemoryLimit,
		validate:       true,
		requireRows:    true,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithBatchSize sets the number of rows per batch (default 8192). A CSV
// batch is also cut early once its cells hold 64 MiB.
func WithBatchSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.batchSize = n
		}
	}
}

// WithDelimiter sets the CSV field delimiter. The default is a tab for
// files named *.tsv or *.tab (optionally .gz) and a comma otherwise.
func WithDelimiter(r rune) Option { return func(o *options) { o.delimiter = r } }

// WithComment makes CSV lines starting with r comments (default: none).
func WithComment(r rune) Option { return func(o *options) { o.comment = r } }

// WithAllocator sets the Arrow allocator for every array built. Without
// it, Parquet sources and mappers each use a PoolAllocator of their own and
// other sources memory.DefaultAllocator. One PoolAllocator shared by the
// files of a run (see ReadPoolRetain) saves most allocations.
func WithAllocator(mem memory.Allocator) Option {
	return func(o *options) {
		if mem != nil {
			o.mem = mem
		}
	}
}

// WithMaxRecordBytes bounds the size of one CSV record (default 64 MiB), so
// that a file without line breaks (or a decompression bomb) fails with an
// error instead of exhausting memory.
func WithMaxRecordBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.maxRecordBytes = n
		}
	}
}

// Format is a file format recognised by its first bytes.
type Format int

const (
	FormatCSV Format = iota // anything not recognised below is read as CSV text
	FormatGzip
	FormatParquet
	FormatArrowFile   // Arrow IPC file = Feather v2 (ARROW1)
	FormatArrowStream // Arrow IPC stream
	FormatFeatherV1   // FEA1
	FormatZip
	FormatZstd
	FormatBzip2
	FormatXz
	FormatUTF16  // text with a UTF-16 byte-order mark
	FormatBinary // binary data none of the readers recognises
)

var formatNames = map[Format]string{
	FormatCSV:         "CSV",
	FormatGzip:        "gzip",
	FormatParquet:     "Parquet",
	FormatArrowFile:   "Arrow IPC file (Feather v2)",
	FormatArrowStream: "Arrow IPC stream",
	FormatFeatherV1:   "Feather v1",
	FormatZip:         "zip archive",
	FormatZstd:        "zstd-compressed data",
	FormatBzip2:       "bzip2-compressed data",
	FormatXz:          "xz-compressed data",
	FormatUTF16:       "UTF-16 text",
	FormatBinary:      "unrecognised binary data",
}

func (f Format) String() string {
	if n, ok := formatNames[f]; ok {
		return n
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Sniff names the format of data from its first bytes (8 are enough).
func Sniff(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return FormatGzip
	case bytes.HasPrefix(head, []byte("PAR1")), bytes.HasPrefix(head, []byte("PARE")):
		return FormatParquet // PARE: encrypted footer
	case bytes.HasPrefix(head, []byte("ARROW1")):
		return FormatArrowFile
	case bytes.HasPrefix(head, []byte("FEA1")):
		return FormatFeatherV1
	case bytes.HasPrefix(head, []byte{0xff, 0xff, 0xff, 0xff}) && len(head) >= 8:
		// IPC stream: continuation marker then a little-endian metadata length.
		return FormatArrowStream
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return FormatZip
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return FormatZstd
	case bytes.HasPrefix(head, []byte("BZh")) && len(head) >= 4 && head[3] >= '1' && head[3] <= '9':
		return FormatBzip2
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return FormatXz
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}) || bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return FormatUTF16
	case isLegacyIPCStream(head):
		return FormatArrowStream
	case len(head) > 0 && head[0] < 0x20 && head[0] != '\t' && head[0] != '\n' && head[0] != '\r':
		return FormatBinary // text never starts with a control character
	}
	return FormatCSV
}

// isLegacyIPCStream recognises an Arrow IPC stream written before Arrow
// 0.15, which has no continuation marker: a little-endian int32 metadata
// length (below 16 MiB, so byte 3 is 0: no text has a NUL there) and the
// flatbuffer's root offset (small, 4-aligned).
func isLegacyIPCStream(head []byte) bool {
	if len(head) < 8 || head[3] != 0 || head[6] != 0 || head[7] != 0 {
		return false
	}
	length := binary.LittleEndian.Uint32(head)
	root := binary.LittleEndian.Uint32(head[4:])
	return length >= 8 && root >= 4 && root < length && root%4 == 0
}

// sniffTail names the format of a file whose first bytes are damaged or
// unusual by its last bytes: Parquet and the Arrow IPC file format end
// with their magic, and their readers go by the footer.
func sniffTail(tail []byte) (Format, bool) {
	switch {
	case bytes.HasSuffix(tail, []byte("PAR1")), bytes.HasSuffix(tail, []byte("PARE")):
		return FormatParquet, true
	case bytes.HasSuffix(tail, []byte("ARROW1")):
		return FormatArrowFile, true
	case bytes.HasSuffix(tail, []byte("FEA1")):
		return FormatFeatherV1, true
	}
	return 0, false
}

// Open opens path and picks a reader by the file's first bytes (not its
// name): Parquet, Arrow IPC file (Feather v2) and Arrow IPC stream have
// their readers (a file whose first bytes are damaged is recognised by the
// magic at its end); gzip is decompressed and read as CSV; text that is no
// recognised binary format is read as CSV.
func Open(path string, opts ...Option) (Source, error) {
	o := newOptions(opts)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	src, err := open(path, f, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	return src, nil
}

// OpenReader reads a stream (standard input, a pipe, a response body) as
// Open reads a file; name labels its errors. CSV (also gzipped) and the
// Arrow IPC stream format stream; Parquet and Feather (Arrow IPC file)
// keep their footer at the end and need a regular file, which r may be
// (standard input redirected from a file): from a pipe they are refused
// with an error that says so. Closing the source closes r if it is an
// io.Closer.
func OpenReader(name string, r io.Reader, opts ...Option) (Source, error) {
	rc, ok := r.(io.ReadCloser)
	if !ok {
		rc = io.NopCloser(r)
	}
	return open(name, rc, newOptions(opts))
}

func open(name string, f io.ReadCloser, o options) (Source, error) {
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(8)
	format := Sniff(head)
	closers := []io.Closer{f}
	file, seekable := f.(*os.File)
	size := int64(-1)
	if seekable {
		if st, err := file.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		} else {
			seekable = false
		}
	}
	if (format == FormatCSV || format == FormatBinary || format == FormatArrowStream) && seekable && size >= 12 {
		var tail [8]byte
		if _, err := file.ReadAt(tail[:], size-8); err == nil {
			if tf, ok := sniffTail(tail[:]); ok {
				format = tf
			}
		}
	}
	if format == FormatParquet || format == FormatArrowFile {
		if !seekable {
			return nil, &Error{File: name, Err: fmt.Errorf("%s needs a regular file, not a stream (its footer is at the end): save it to a file first", format)}
		}
		if format == FormatParquet {
			return openParquet(name, noClose{file}, f, o)
		}
		return openIPCFile(name, file, size, f, o)
	}
	var r io.Reader = br
	if format == FormatGzip {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &Error{File: name, Err: fmt.Errorf("reading gzip: %w", err)}
		}
		closers = append([]io.Closer{zr}, closers...)
		br = bufio.NewReaderSize(zr, 64<<10)
		r = br
		head, _ = br.Peek(8)
		format = Sniff(head)
		if format != FormatCSV {
			return nil, &Error{File: name, Err: fmt.Errorf("unsupported format: gzip-compressed %s (decompress it first)", format)}
		}
	}
	switch format {
	case FormatCSV:
		if o.delimiter == 0 {
			o.delimiter = defaultDelimiter(name)
		}
		return newCSVSource(name, r, closers, o)
	case FormatArrowStream:
		return openIPCStream(name, br, size, multiCloser(closers), o)
	case FormatFeatherV1:
		return nil, &Error{File: name, Err: errors.New("unsupported format Feather v1 (magic FEA1): re-save the file as Feather v2, i.e. the Arrow IPC file format (pyarrow.feather.write_feather, R arrow::write_feather), or as Parquet")}
	case FormatBinary:
		return nil, &Error{File: name, Err: fmt.Errorf("unrecognised binary data (first bytes % x): not CSV, Parquet, Feather or an Arrow IPC stream", head)}
	}
	if format == FormatUTF16 {
		return nil, &Error{File: name, Err: errors.New("unsupported format UTF-16 text: convert the file to UTF-8")}
	}
	return nil, &Error{File: name, Err: fmt.Errorf("unsupported format %s", format)}
}

func defaultDelimiter(name string) rune {
	n := strings.ToLower(strings.TrimSuffix(strings.ToLower(name), ".gz"))
	if strings.HasSuffix(n, ".tsv") || strings.HasSuffix(n, ".tab") {
		return '\t'
	}
	return ','
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var first error
	for _, c := range m {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// noClose hides Close from readers that would close a file we close.
type noClose struct{ *os.File }

func (noClose) Close() error { return nil }
