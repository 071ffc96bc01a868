package ingest

import (
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// byteColumn reads one flat BYTE_ARRAY column (a top-level binary or
// string, required or nullable) batch by batch, straight into Arrow
// buffers.
//
// pqarrow builds such columns value by value through a BinaryBuilder
// (capacity checks, a bitmap append and a growing data buffer per value);
// on the 1M-row benchmark file that was over a quarter of the decode time.
// Here arrow-go's column chunk reader still decodes every page (each
// codec, encoding and page version, dictionaries); only the transfer into
// the Arrow array is ours: one pass that writes offsets and copies the
// bytes of a page's values into a data buffer sized up front.
// Everything else (nested, repeated, large, view, dictionary and extension
// types) stays with pqarrow.
type byteColumn struct {
	name   string
	field  int // top-level field index
	leaf   int // Parquet leaf column index
	dt     arrow.DataType
	maxDef int16
	rdr    *file.Reader
	mem    memory.Allocator

	rg   int // current row group; -1 before the first
	cc   *file.ByteArrayColumnChunkReader
	left int64 // rows of the current row group not yet read
	read int64 // rows read from the current row group

	vals []parquet.ByteArray
	defs []int16
	// perRow is the bytes per row of the last batch, to size the next
	// batch's data buffer (0: estimate from the row group's metadata).
	perRow int64
}

// byteColumns picks the top-level fields of the manifest that byteColumn
// reads: a single BYTE_ARRAY leaf with no repetition, read as plain
// binary or string.
func byteColumns(rdr *file.Reader, m *pqarrow.SchemaManifest, mem memory.Allocator, batch int) []*byteColumn {
	var out []*byteColumn
	for i := range m.Fields {
		sf := &m.Fields[i]
		if len(sf.Children) > 0 || sf.ColIndex < 0 {
			continue
		}
		id := sf.Field.Type.ID()
		if id != arrow.BINARY && id != arrow.STRING {
			continue // extension, large, view and dictionary types included
		}
		descr := rdr.MetaData().Schema.Column(sf.ColIndex)
		if descr.PhysicalType() != parquet.Types.ByteArray || descr.MaxRepetitionLevel() != 0 || descr.MaxDefinitionLevel() > 1 {
			continue
		}
		out = append(out, &byteColumn{
			name: sf.Field.Name, field: i, leaf: sf.ColIndex, dt: sf.Field.Type,
			maxDef: descr.MaxDefinitionLevel(), rdr: rdr, mem: mem, rg: -1,
			vals: make([]parquet.ByteArray, batch), defs: make([]int16, batch),
		})
	}
	return out
}

// maxByteReserve bounds the data buffer byteColumn reserves before it
// knows a batch's size.
const maxByteReserve = 16 << 20

func (c *byteColumn) fieldIndex() int { return c.field }

// errShortChunk is a column chunk that holds fewer values than its row
// group declares rows.
var errShortChunk = errors.New("the column chunk ends before its row group does: corrupt file")

// errCorrupt marks damage that granary's own column readers find where
// pqarrow may not (a definition level out of range, which pqarrow reads as
// a value).
var errCorrupt = errors.New("corrupt file")

// next returns the column's next n rows.
func (c *byteColumn) next(n int64) (_ arrow.Array, err error) {
	offsets := memory.NewResizableBuffer(c.mem)
	data := memory.NewResizableBuffer(c.mem)
	var valid *memory.Buffer
	defer func() {
		if err != nil {
			offsets.Release()
			data.Release()
			if valid != nil {
				valid.Release()
			}
		}
	}()
	offsets.Resize(int(n+1) * 4)
	offs := arrow.Int32Traits.CastFromBytes(offsets.Bytes())
	offs[0] = 0
	if c.maxDef > 0 {
		valid = memory.NewResizableBuffer(c.mem)
		valid.Resize(int(bitutil.BytesForBits(n))) // zeroed: all null
	}
	if err := c.advance(); err != nil {
		return nil, err
	}
	// Room for the batch from the last one's bytes per row (or the row
	// group's size), at most maxByteReserve: a few huge values must not
	// make every later batch reserve for that many (growing is cheap).
	var est int64
	if c.perRow > 0 {
		est = c.perRow * 9 / 8
	} else if rg := c.rdr.MetaData().RowGroup(c.rg); rg.NumRows() > 0 {
		if cc, err := rg.ColumnChunk(c.leaf); err == nil {
			est = max(cc.TotalUncompressedSize(), 0) / rg.NumRows()
		}
	}
	data.Reserve(int(min(est, maxByteReserve/n) * n))
	var row int64
	var size, nulls int
	for row < n {
		if err := c.advance(); err != nil {
			return nil, err
		}
		want := min(n-row, c.left, int64(len(c.vals)))
		lvls, nv, err := c.cc.ReadBatchInPage(want, c.vals, c.defs, nil)
		if err != nil {
			return nil, fmt.Errorf("column %q, row group %d: %w", c.name, c.rg, err)
		}
		if lvls == 0 {
			return nil, fmt.Errorf("column %q, row group %d (%d of %d rows read): %w", c.name, c.rg, c.read, c.read+c.left, errShortChunk)
		}
		vals := c.vals[:nv]
		need := size
		for _, v := range vals {
			need += len(v)
		}
		if need > math.MaxInt32 {
			return nil, fmt.Errorf("column %q: a batch holds more than 2 GiB of values; read it with a smaller batch size", c.name)
		}
		if need > data.Cap() {
			data.Reserve(max(need, 2*data.Cap()))
		}
		buf := data.Buf()
		if c.maxDef == 0 {
			for i, v := range vals {
				size += copy(buf[size:], v)
				offs[row+int64(i)+1] = int32(size)
			}
		} else {
			bits, vi := valid.Bytes(), 0
			for i, d := range c.defs[:lvls] {
				r := row + int64(i)
				if d == c.maxDef {
					if vi == len(vals) {
						return nil, fmt.Errorf("column %q, row group %d: more definition levels than values: corrupt file", c.name, c.rg)
					}
					size += copy(buf[size:], vals[vi])
					vi++
					bitutil.SetBit(bits, int(r))
				} else if d < c.maxDef && d >= 0 {
					nulls++
				} else {
					return nil, fmt.Errorf("column %q, row group %d: definition level %d outside 0–%d: %w", c.name, c.rg, d, c.maxDef, errCorrupt)
				}
				offs[r+1] = int32(size)
			}
		}
		row += lvls
		c.left -= lvls
		c.read += lvls
	}
	data.ResizeNoShrink(size)
	c.perRow = int64(size)/n + 1
	if valid != nil && nulls == 0 {
		valid.Release()
		valid = nil
	}
	d := array.NewData(c.dt, int(n), []*memory.Buffer{valid, offsets, data}, nil, nulls, 0)
	offsets.Release()
	data.Release()
	if valid != nil {
		valid.Release()
	}
	a := array.MakeFromData(d)
	d.Release()
	return a, nil
}

// advance moves to the next row group once the current one is read.
func (c *byteColumn) advance() error {
	for c.left == 0 {
		if c.cc != nil && c.cc.HasNext() {
			return fmt.Errorf("column %q, row group %d: the column chunk holds more values than its %d rows: corrupt file", c.name, c.rg, c.read)
		}
		c.close()
		c.rg++
		if c.rg >= c.rdr.NumRowGroups() {
			return fmt.Errorf("column %q: more rows asked for than the row groups hold", c.name)
		}
		rg := c.rdr.RowGroup(c.rg)
		cr, err := rg.Column(c.leaf)
		if err != nil {
			return fmt.Errorf("column %q, row group %d: %w", c.name, c.rg, err)
		}
		cc, ok := cr.(*file.ByteArrayColumnChunkReader)
		if !ok {
			return fmt.Errorf("column %q: a %T, not a BYTE_ARRAY column", c.name, cr)
		}
		c.cc, c.left, c.read = cc, rg.NumRows(), 0
	}
	return nil
}

// close releases the current column chunk reader's pages.
func (c *byteColumn) close() {
	if c.cc != nil {
		c.cc.Close()
		c.cc = nil
	}
}
