package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// int64Column reads one flat INT64 column (int64, uint64 or a millisecond,
// microsecond or nanosecond timestamp; required or nullable) whose pages
// are PLAIN or dictionary-encoded, decoding the pages arrow-go's page
// reader hands over (decompressed, any codec, page versions 1 and 2)
// straight into the Arrow buffer.
//
// arrow-go decodes a dictionary lazily: each batch of indices appends the
// dictionary entries it reaches to a growing slice. Writers keep unique
// values (times, sizes) in a dictionary until it reaches 1 MiB, so on the
// 1M-row benchmark file that growth allocated 180 MB and took 8% of our
// path. Here a dictionary page is decoded once, and the RLE/bit-packed
// indices are gathered from it. Other encodings (delta, byte stream split,
// the deprecated bit-packed levels) stay with pqarrow.
type int64Column struct {
	flatColumn
	pr file.PageReader

	dict  []int64
	page  int64 // levels of the current page not yet read
	defs  hybrid
	plain []byte // PLAIN values not yet read
	idx   hybrid // dictionary indices, when the page has them
	isIdx bool
	lv    []uint32 // scratch for levels
	ix    []uint32 // scratch for indices
}

// int64Encodings are the encodings int64Column decodes (RLE for levels).
var int64Encodings = []parquet.Encoding{parquet.Encodings.Plain, parquet.Encodings.PlainDict, parquet.Encodings.RLEDict, parquet.Encodings.RLE}

// int64Columns picks the top-level fields of the manifest that int64Column
// reads: a single INT64 leaf with no repetition, read as int64, uint64 or
// a timestamp that pqarrow hands over bit for bit, whose column chunks use
// only encodings int64Column decodes.
func int64Columns(rdr *file.Reader, m *pqarrow.SchemaManifest, mem memory.Allocator) []*int64Column {
	var out []*int64Column
	md := rdr.MetaData()
	isInt64 := func(dt arrow.DataType) bool {
		switch t := dt.(type) {
		case *arrow.Int64Type, *arrow.Uint64Type:
			return true
		case *arrow.TimestampType:
			return t.Unit != arrow.Second
		}
		return false
	}
fields:
	for _, fc := range flatColumns(rdr, m, mem, parquet.Types.Int64, isInt64) {
		for g := range md.NumRowGroups() {
			cc, err := md.RowGroup(g).ColumnChunk(fc.leaf)
			if err != nil || cc.CryptoMetadata() != nil {
				continue fields
			}
			for _, e := range cc.Encodings() {
				// parquet-mr lists BIT_PACKED for the levels of a column
				// that has none.
				if !slices.Contains(int64Encodings, e) && (e != parquet.Encodings.BitPacked || fc.maxDef > 0) {
					continue fields
				}
			}
		}
		out = append(out, &int64Column{flatColumn: fc})
	}
	return out
}

// next returns the column's next n rows.
func (c *int64Column) next(n int64) (_ arrow.Array, err error) {
	values := memory.NewResizableBuffer(c.mem)
	var valid *memory.Buffer
	defer func() {
		if err != nil {
			releaseBuffers(values, valid)
		}
	}()
	values.Resize(int(n) * 8)
	out := arrow.Int64Traits.CastFromBytes(values.Bytes())
	var bitmap []byte
	if c.maxDef > 0 {
		valid = memory.NewResizableBuffer(c.mem)
		valid.Resize(int(bitutil.BytesForBits(n)))
		bitmap = valid.Bytes()
	}
	var row int64
	nulls := 0
	for row < n {
		if c.page == 0 {
			if err := c.nextPage(); err != nil {
				return nil, err
			}
			continue
		}
		k := min(n-row, c.page)
		if c.maxDef == 0 {
			if err := c.values(out[row : row+k]); err != nil {
				return nil, err
			}
		} else {
			// Levels first, then the values of the rows that have one,
			// written densely and spread out from the back.
			if cap(c.lv) < int(k) {
				c.lv = make([]uint32, k)
			}
			lv := c.lv[:k]
			if err := c.defs.read(lv); err != nil {
				return nil, c.corrupt("definition levels: %v", err)
			}
			present := 0
			for _, d := range lv {
				if d > uint32(c.maxDef) {
					return nil, c.corrupt("definition level %d outside 0–%d", d, c.maxDef)
				}
				present += int(d)
			}
			seg := out[row : row+k]
			if err := c.values(seg[:present]); err != nil {
				return nil, err
			}
			j := present - 1
			for i := int(k) - 1; i >= 0; i-- {
				if lv[i] == 1 {
					seg[i] = seg[j]
					j--
					bitutil.SetBit(bitmap, int(row)+i)
				} else {
					seg[i] = 0
					nulls++
				}
			}
		}
		row += k
		c.page -= k
		c.consumed(k)
	}
	return c.newArray(n, nulls, valid, values), nil
}

// values decodes len(out) values of the current page.
func (c *int64Column) values(out []int64) error {
	if !c.isIdx {
		if len(c.plain) < 8*len(out) {
			return c.corrupt("a page holds fewer values than its levels say")
		}
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(c.plain[8*i:]))
		}
		c.plain = c.plain[8*len(out):]
		return nil
	}
	for len(out) > 0 {
		k := min(len(out), 1024)
		if cap(c.ix) < k {
			c.ix = make([]uint32, 1024)
		}
		ix := c.ix[:k]
		if err := c.idx.read(ix); err != nil {
			return c.corrupt("dictionary indices: %v", err)
		}
		dict := c.dict
		for i, x := range ix {
			if int(x) >= len(dict) {
				return c.corrupt("dictionary index %d, the dictionary has %d values", x, len(dict))
			}
			out[i] = dict[x]
		}
		out = out[k:]
	}
	return nil
}

// nextPage moves to the next data page (and row group), reading a
// dictionary page on the way.
func (c *int64Column) nextPage() error {
	for {
		for c.left == 0 { // row groups of no rows have nothing to read
			if err := c.nextChunk(); err != nil {
				return err
			}
		}
		if !c.pr.Next() {
			if err := c.pr.Err(); err != nil {
				return c.wrap(err)
			}
			return c.short()
		}
		switch p := c.pr.Page().(type) {
		case *file.DictionaryPage:
			if e := parquet.Encoding(p.Encoding()); e != parquet.Encodings.Plain && e != parquet.Encodings.PlainDict {
				return c.corrupt("dictionary page encoded as %s", e)
			}
			data, nv := p.Data(), int(p.NumValues())
			if nv < 0 || len(data) < 8*nv {
				return c.corrupt("dictionary page of %d bytes for %d values", len(data), nv)
			}
			c.dict = slices.Grow(c.dict[:0], nv)
			for i := range nv {
				c.dict = append(c.dict, int64(binary.LittleEndian.Uint64(data[8*i:])))
			}
		case *file.DataPageV1:
			data := p.Data()
			if c.maxDef > 0 {
				if p.DefinitionLevelEncoding() != parquet.Encodings.RLE {
					return c.corrupt("definition levels encoded as %s", p.DefinitionLevelEncoding())
				}
				if len(data) < 4 {
					return c.corrupt("a page too short for its levels")
				}
				l := int(binary.LittleEndian.Uint32(data))
				if l < 0 || l > len(data)-4 {
					return c.corrupt("definition levels of %d bytes in a page of %d", l, len(data))
				}
				c.defs = hybrid{data: data[4 : 4+l], width: 1}
				data = data[4+l:]
			}
			return c.startPage(parquet.Encoding(p.Encoding()), int64(p.NumValues()), data)
		case *file.DataPageV2:
			data := p.Data()
			rl, dl := int(p.RepetitionLevelByteLen()), int(p.DefinitionLevelByteLen())
			if rl != 0 || dl > len(data) || (c.maxDef == 0 && dl != 0) {
				return c.corrupt("levels of %d and %d bytes in a page of %d", rl, dl, len(data))
			}
			c.defs = hybrid{data: data[:dl], width: 1}
			return c.startPage(parquet.Encoding(p.Encoding()), int64(p.NumValues()), data[dl:])
		}
	}
}

func (c *int64Column) startPage(enc parquet.Encoding, levels int64, data []byte) error {
	if levels < 0 || levels > c.left {
		return c.corrupt("a page of %d values with %d rows left in its row group", levels, c.left)
	}
	c.page = levels
	if levels == 0 {
		return nil // an empty page: on to the next
	}
	switch enc {
	case parquet.Encodings.Plain:
		c.isIdx, c.plain = false, data
	case parquet.Encodings.RLEDict, parquet.Encodings.PlainDict:
		if len(data) < 1 || data[0] > 32 {
			return c.corrupt("dictionary indices without a valid bit width")
		}
		c.isIdx, c.idx = true, hybrid{data: data[1:], width: uint(data[0])}
	default:
		return c.corrupt("a data page encoded as %s", enc)
	}
	return nil
}

// nextChunk moves to the next row group's column chunk.
func (c *int64Column) nextChunk() error {
	if c.pr != nil && c.pr.Next() {
		return c.corrupt("the column chunk holds more values than its %d rows", c.read)
	}
	c.close()
	rg, err := c.nextRowGroup()
	if err != nil {
		return err
	}
	if c.pr, err = rg.GetColumnPageReader(c.leaf); err != nil {
		return c.wrap(err)
	}
	c.dict = c.dict[:0]
	return nil
}

func (c *int64Column) close() {
	if c.pr != nil {
		c.pr.Close()
		c.pr = nil
	}
}

// hybrid decodes Parquet's RLE/bit-packed hybrid encoding of values of a
// bit width up to 32: runs of one repeated value and groups of eight
// values packed least significant bit first.
type hybrid struct {
	data  []byte // after the current run
	width uint
	rep   int    // values left in the current repeated run
	val   uint32 // its value
	lit   int    // values left in the current bit-packed run
	run   []byte // its bytes
	bit   uint   // bit offset in run of the next value
}

var errHybridShort = errors.New("the encoded values end early")

// read fills out.
func (h *hybrid) read(out []uint32) error {
	mask := uint64(1)<<h.width - 1
	for len(out) > 0 {
		switch {
		case h.rep > 0:
			k := min(h.rep, len(out))
			for i := range k {
				out[i] = h.val
			}
			h.rep -= k
			out = out[k:]
		case h.lit > 0:
			k := min(h.lit, len(out))
			w, bit, run := h.width, h.bit, h.run
			for i := range k {
				at := bit >> 3
				var v uint64
				if at+8 <= uint(len(run)) {
					v = binary.LittleEndian.Uint64(run[at:])
				} else {
					for j := uint(0); at+j < uint(len(run)); j++ {
						v |= uint64(run[at+j]) << (8 * j)
					}
				}
				out[i] = uint32(v >> (bit & 7) & mask)
				bit += w
			}
			h.bit, h.lit = bit, h.lit-k
			out = out[k:]
		default:
			if err := h.header(); err != nil {
				return err
			}
		}
	}
	return nil
}

// header starts the next run.
func (h *hybrid) header() error {
	hdr, n := binary.Uvarint(h.data)
	if n <= 0 {
		return errHybridShort
	}
	h.data = h.data[n:]
	if hdr&1 == 0 {
		count := hdr >> 1
		size := int(h.width+7) / 8
		if count == 0 || count > 1<<31 || len(h.data) < size {
			return errHybridShort
		}
		var v uint32
		for j := range size {
			v |= uint32(h.data[j]) << (8 * j)
		}
		if h.width < 32 && v>>h.width != 0 {
			return fmt.Errorf("repeated value %d wider than %d bits", v, h.width)
		}
		h.rep, h.val, h.data = int(count), v, h.data[size:]
		return nil
	}
	groups := hdr >> 1
	if groups == 0 || groups > 1<<28 {
		return errHybridShort
	}
	// Eight values of width bits each take width bytes. A writer may end
	// the data inside the last group when the run holds fewer values.
	size := min(groups*uint64(h.width), uint64(len(h.data)))
	count := groups * 8
	if h.width > 0 {
		count = min(count, size*8/uint64(h.width))
	}
	if count == 0 {
		return errHybridShort
	}
	h.lit, h.run, h.bit, h.data = int(count), h.data[:size], 0, h.data[size:]
	return nil
}
