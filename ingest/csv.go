package ingest

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// csvSource reads CSV with encoding/csv: a header row names the columns,
// every column is utf8, an empty cell is null. RFC 4180 quoting applies
// (doubled quotes; delimiters and line breaks inside quotes); a CRLF inside
// a quoted field comes back as LF, as encoding/csv documents. A UTF-8 BOM
// is dropped. Every record must have as many fields as the header.
type csvSource struct {
	name   string
	r      *csv.Reader
	lim    *recordLimiter
	closer multiCloser
	schema *arrow.Schema
	o      options
	used   bool
	closed bool
}

// errRecordTooLarge reports a record beyond the WithMaxRecordBytes limit.
var errRecordTooLarge = errors.New("record too large")

// recordLimiter fails reads once the current record (from the offset
// csv.Reader reached after the last record) grows past the limit.
type recordLimiter struct {
	r     io.Reader
	total int64
	mark  int64
	limit int64
}

// csvReadAhead is how far encoding/csv's internal bufio.Reader reads beyond
// the record it is parsing.
const csvReadAhead = 4096

func (l *recordLimiter) Read(p []byte) (int, error) {
	if l.total-l.mark > l.limit+csvReadAhead {
		return 0, errRecordTooLarge
	}
	n, err := l.r.Read(p)
	l.total += int64(n)
	return n, err
}

func newCSVSource(name string, r io.Reader, closers []io.Closer, o options) (*csvSource, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	if bom, _ := br.Peek(3); len(bom) == 3 && bom[0] == 0xef && bom[1] == 0xbb && bom[2] == 0xbf {
		br.Discard(3)
	}
	lim := &recordLimiter{r: br, limit: o.maxRecordBytes}
	cr := csv.NewReader(lim)
	cr.Comma = o.delimiter
	cr.Comment = o.comment
	cr.ReuseRecord = true
	s := &csvSource{name: name, r: cr, lim: lim, closer: closers, o: o}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &Error{File: name, Err: errors.New("empty file: a CSV file needs a header row naming its columns")}
	}
	if err != nil {
		return nil, s.readErr(err, 0, nil)
	}
	lim.mark = cr.InputOffset()
	fields := make([]arrow.Field, len(header))
	for i, h := range header {
		fields[i] = arrow.Field{Name: h, Type: arrow.BinaryTypes.String, Nullable: true}
	}
	s.schema = arrow.NewSchema(fields, nil)
	return s, nil
}

func (s *csvSource) Name() string          { return s.name }
func (s *csvSource) Schema() *arrow.Schema { return s.schema }

func (s *csvSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closer.Close()
}

// readErr turns an encoding/csv error for data row `row` (0: the header)
// into an *Error naming the line.
func (s *csvSource) readErr(err error, row int64, rec []string) error {
	e := &Error{File: s.name, Row: row}
	var pe *csv.ParseError
	switch {
	case errors.Is(err, errRecordTooLarge):
		e.Err = fmt.Errorf("a record is longer than %d bytes (unbalanced quotes? raise the limit with WithMaxRecordBytes)", s.o.maxRecordBytes)
	case errors.As(err, &pe):
		e.Line = int64(pe.StartLine)
		switch {
		case errors.Is(pe.Err, csv.ErrFieldCount):
			e.Err = fmt.Errorf("wrong number of fields: the header has %d, this row has %d", s.schema.NumFields(), len(rec))
		case pe.Line != pe.StartLine:
			e.Err = fmt.Errorf("%w (at line %d, column %d; is a quote left open?)", pe.Err, pe.Line, pe.Column)
		default:
			e.Err = fmt.Errorf("%w (column %d)", pe.Err, pe.Column)
		}
	default:
		e.Err = err
	}
	return e
}

func (s *csvSource) Batches() iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		if s.used {
			yield(Batch{}, &Error{File: s.name, Err: errors.New("the file was already read")})
			return
		}
		s.used = true
		if s.closed {
			yield(Batch{}, &Error{File: s.name, Err: errors.New("the file is closed")})
			return
		}
		ncol := s.schema.NumFields()
		builders := make([]*array.StringBuilder, ncol)
		for i := range builders {
			builders[i] = array.NewStringBuilder(s.o.mem)
		}
		defer func() {
			for _, b := range builders {
				b.Release()
			}
		}()
		var (
			row   int64 // data rows read so far
			first int64 = 1
			lines []int64
			bytes int64
		)
		flush := func() bool {
			n := len(lines)
			cols := make([]arrow.Array, ncol)
			for i, b := range builders {
				cols[i] = b.NewArray()
			}
			rec := array.NewRecordBatch(s.schema, cols, int64(n))
			for _, c := range cols {
				c.Release()
			}
			ok := yield(Batch{Record: rec, FirstRow: first, Lines: lines}, nil)
			rec.Release()
			first += int64(n)
			lines, bytes = nil, 0
			return ok
		}
		for {
			rec, err := s.r.Read()
			if err == io.EOF {
				if len(lines) > 0 {
					flush()
				}
				return
			}
			if err != nil {
				yield(Batch{}, s.readErr(err, row+1, rec))
				return
			}
			row++
			line, _ := s.r.FieldPos(0)
			s.lim.mark = s.r.InputOffset()
			if lines == nil {
				lines = make([]int64, 0, min(s.o.batchSize, 1024))
			}
			lines = append(lines, int64(line))
			for i, cell := range rec {
				if cell == "" {
					builders[i].AppendNull()
				} else {
					builders[i].Append(cell)
					bytes += int64(len(cell))
				}
			}
			if len(lines) >= s.o.batchSize || bytes >= s.o.maxBatchBytes {
				if !flush() {
					return
				}
			}
		}
	}
}
