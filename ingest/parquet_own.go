package ingest

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ownColumn reads one top-level column batch by batch, in place of
// pqarrow (byteColumn, int64Column).
type ownColumn interface {
	fieldIndex() int
	next(n int64) (arrow.Array, error)
	close()
}

// flatColumn is what granary's own column readers share: a top-level field
// stored as one Parquet leaf with no repetition, and the row group being
// read.
type flatColumn struct {
	name   string
	field  int // top-level field index
	leaf   int // Parquet leaf column index
	dt     arrow.DataType
	maxDef int16
	rdr    *file.Reader
	mem    memory.Allocator

	rg   int   // current row group; -1 before the first
	left int64 // rows of the current row group not yet read
	read int64 // rows read from the current row group
}

// flatColumns returns the top-level fields of the manifest stored as a
// single leaf of physical type pt with no repetition and at most one
// definition level, whose Arrow type keep accepts.
func flatColumns(rdr *file.Reader, m *pqarrow.SchemaManifest, mem memory.Allocator, pt parquet.Type, keep func(arrow.DataType) bool) []flatColumn {
	var out []flatColumn
	for i := range m.Fields {
		sf := &m.Fields[i]
		if len(sf.Children) > 0 || sf.ColIndex < 0 || !keep(sf.Field.Type) {
			continue
		}
		descr := rdr.MetaData().Schema.Column(sf.ColIndex)
		if descr.PhysicalType() != pt || descr.MaxRepetitionLevel() != 0 || descr.MaxDefinitionLevel() > 1 {
			continue
		}
		out = append(out, flatColumn{
			name: sf.Field.Name, field: i, leaf: sf.ColIndex, dt: sf.Field.Type,
			maxDef: descr.MaxDefinitionLevel(), rdr: rdr, mem: mem, rg: -1,
		})
	}
	return out
}

func (c *flatColumn) fieldIndex() int { return c.field }

// nextRowGroup moves to the next row group and returns its reader.
func (c *flatColumn) nextRowGroup() (*file.RowGroupReader, error) {
	c.rg++
	if c.rg >= c.rdr.NumRowGroups() {
		return nil, fmt.Errorf("column %q: more rows asked for than the row groups hold", c.name)
	}
	rg := c.rdr.RowGroup(c.rg)
	c.left, c.read = rg.NumRows(), 0
	return rg, nil
}

// errShortChunk is a column chunk that holds fewer values than its row
// group declares rows.
var errShortChunk = errors.New("the column chunk ends before its row group does: corrupt file")

// errCorrupt marks damage that granary's own column readers find where
// pqarrow may not (a definition level out of range, which pqarrow reads as
// a value).
var errCorrupt = errors.New("corrupt file")

// wrap names the column and row group in err.
func (c *flatColumn) wrap(err error) error {
	return fmt.Errorf("column %q, row group %d: %w", c.name, c.rg, err)
}

// short is the error for a column chunk that ends early.
func (c *flatColumn) short() error {
	return fmt.Errorf("column %q, row group %d (%d of %d rows read): %w", c.name, c.rg, c.read, c.read+c.left, errShortChunk)
}

// corrupt is an errCorrupt naming the column and row group.
func (c *flatColumn) corrupt(format string, args ...any) error {
	return c.wrap(fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errCorrupt))
}

// consumed counts k rows of the row group as read.
func (c *flatColumn) consumed(k int64) {
	c.left -= k
	c.read += k
}

// newArray makes an array of c's type and n rows from its buffers, the
// validity bitmap first (dropped when nulls is 0), and releases them.
func (c *flatColumn) newArray(n int64, nulls int, bufs ...*memory.Buffer) arrow.Array {
	if bufs[0] != nil && nulls == 0 {
		bufs[0].Release()
		bufs[0] = nil
	}
	d := array.NewData(c.dt, int(n), bufs, nil, nulls, 0)
	releaseBuffers(bufs...)
	a := array.MakeFromData(d)
	d.Release()
	return a
}

// releaseBuffers releases the buffers that are set.
func releaseBuffers(bufs ...*memory.Buffer) {
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
}
