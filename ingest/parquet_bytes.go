package ingest

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
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
	flatColumn
	cc *file.ByteArrayColumnChunkReader

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
	// Extension, large, view and dictionary types are left out.
	isBytes := func(dt arrow.DataType) bool { return dt.ID() == arrow.BINARY || dt.ID() == arrow.STRING }
	for _, fc := range flatColumns(rdr, m, mem, parquet.Types.ByteArray, isBytes) {
		out = append(out, &byteColumn{flatColumn: fc, vals: make([]parquet.ByteArray, batch), defs: make([]int16, batch)})
	}
	return out
}

// maxByteReserve bounds the data buffer byteColumn reserves before it
// knows a batch's size.
const maxByteReserve = 16 << 20

// next returns the column's next n rows.
func (c *byteColumn) next(n int64) (_ arrow.Array, err error) {
	offsets := memory.NewResizableBuffer(c.mem)
	data := memory.NewResizableBuffer(c.mem)
	var valid *memory.Buffer
	defer func() {
		if err != nil {
			releaseBuffers(offsets, data, valid)
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
			return nil, c.wrap(err)
		}
		if lvls == 0 {
			return nil, c.short()
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
					return nil, c.corrupt("definition level %d outside 0–%d", d, c.maxDef)
				}
				offs[r+1] = int32(size)
			}
		}
		row += lvls
		c.consumed(lvls)
	}
	data.ResizeNoShrink(size)
	c.perRow = int64(size)/n + 1
	return c.newArray(n, nulls, valid, offsets, data), nil
}

// advance moves to the next row group once the current one is read.
func (c *byteColumn) advance() error {
	for c.left == 0 {
		if c.cc != nil && c.cc.HasNext() {
			return fmt.Errorf("column %q, row group %d: the column chunk holds more values than its %d rows: corrupt file", c.name, c.rg, c.read)
		}
		c.close()
		rg, err := c.nextRowGroup()
		if err != nil {
			return err
		}
		cr, err := rg.Column(c.leaf)
		if err != nil {
			return c.wrap(err)
		}
		cc, ok := cr.(*file.ByteArrayColumnChunkReader)
		if !ok {
			return fmt.Errorf("column %q: a %T, not a BYTE_ARRAY column", c.name, cr)
		}
		c.cc = cc
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
