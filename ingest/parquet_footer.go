package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Parquet footers are Thrift compact-protocol FileMetaData structs. When a
// schema element carries a LogicalType from a newer format version (a
// union member this reader does not know), arrow-go panics instead of
// ignoring the annotation as the format asks. dropUnknownLogicalTypes
// rewrites the footer without such annotations, so that the column reads
// as its physical type.

// knownLogicalTypes are the LogicalType union members arrow-go reads
// (parquet.thrift field ids; 9 was never used).
var knownLogicalTypes = map[int16]bool{
	1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true,
	10: true, 11: true, 12: true, 13: true, 14: true, 15: true, 16: true, 17: true, 18: true,
}

// Thrift compact protocol types.
const (
	ctStop   = 0
	ctTrue   = 1
	ctFalse  = 2
	ctByte   = 3
	ctI16    = 4
	ctI32    = 5
	ctI64    = 6
	ctDouble = 7
	ctBinary = 8
	ctList   = 9
	ctSet    = 10
	ctMap    = 11
	ctStruct = 12
	ctUUID   = 13
)

var errThrift = errors.New("malformed Thrift footer")

type thriftReader struct {
	b     []byte
	i     int
	depth int
}

func (r *thriftReader) byte1() (byte, error) {
	if r.i >= len(r.b) {
		return 0, errThrift
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

func (r *thriftReader) varint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 {
		return 0, errThrift
	}
	r.i += n
	return v, nil
}

func (r *thriftReader) skipN(n uint64) error {
	if n > uint64(len(r.b)-r.i) {
		return errThrift
	}
	r.i += int(n)
	return nil
}

// fieldHeader reads a struct field header; typ 0 is the end of the struct.
func (r *thriftReader) fieldHeader(last int16) (id int16, typ byte, err error) {
	c, err := r.byte1()
	if err != nil || c == ctStop {
		return 0, ctStop, err
	}
	typ = c & 0x0f
	if delta := c >> 4; delta != 0 {
		return last + int16(delta), typ, nil
	}
	v, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	return int16(int64(v>>1) ^ -int64(v&1)), typ, nil
}

// skip skips a value of compact type typ (in a struct field: booleans
// have no payload; inList: one byte each).
func (r *thriftReader) skip(typ byte, inList bool) error {
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > 64 {
		return errThrift
	}
	switch typ {
	case ctTrue, ctFalse:
		if inList {
			return r.skipN(1)
		}
		return nil
	case ctByte:
		return r.skipN(1)
	case ctI16, ctI32, ctI64:
		_, err := r.varint()
		return err
	case ctDouble:
		return r.skipN(8)
	case ctUUID:
		return r.skipN(16)
	case ctBinary:
		n, err := r.varint()
		if err != nil {
			return err
		}
		return r.skipN(n)
	case ctList, ctSet:
		n, et, err := r.listHeader()
		if err != nil {
			return err
		}
		for k := uint64(0); k < n; k++ {
			if err := r.skip(et, true); err != nil {
				return err
			}
		}
		return nil
	case ctMap:
		n, err := r.varint()
		if err != nil || n == 0 {
			return err
		}
		kv, err := r.byte1()
		if err != nil {
			return err
		}
		for k := uint64(0); k < n; k++ {
			if err := r.skip(kv>>4, true); err != nil {
				return err
			}
			if err := r.skip(kv&0x0f, true); err != nil {
				return err
			}
		}
		return nil
	case ctStruct:
		var last int16
		for {
			id, t, err := r.fieldHeader(last)
			if err != nil {
				return err
			}
			if t == ctStop {
				return nil
			}
			if err := r.skip(t, false); err != nil {
				return err
			}
			last = id
		}
	}
	return fmt.Errorf("%w: unknown type %d", errThrift, typ)
}

func (r *thriftReader) listHeader() (n uint64, elem byte, err error) {
	c, err := r.byte1()
	if err != nil {
		return 0, 0, err
	}
	n, elem = uint64(c>>4), c&0x0f
	if n == 15 {
		n, err = r.varint()
	}
	if n > uint64(len(r.b)) {
		return 0, 0, errThrift
	}
	return n, elem, err
}

func appendFieldHeader(out []byte, last, id int16, typ byte) []byte {
	if d := id - last; d > 0 && d <= 15 {
		return append(out, byte(d)<<4|typ)
	}
	out = append(out, typ)
	return binary.AppendUvarint(out, uint64((int64(id)<<1)^(int64(id)>>63)))
}

// dropUnknownLogicalTypes returns footer (a serialized FileMetaData)
// without the logicalType of schema elements whose LogicalType union
// member is unknown, and how many it dropped.
func dropUnknownLogicalTypes(footer []byte) ([]byte, int, error) {
	r := &thriftReader{b: footer}
	out := make([]byte, 0, len(footer))
	dropped := 0
	var last int16
	for {
		start := r.i
		id, typ, err := r.fieldHeader(last)
		if err != nil {
			return nil, 0, err
		}
		if typ == ctStop {
			out = append(out, ctStop)
			return out, dropped, nil
		}
		if id != 2 || typ != ctList {
			if err := r.skip(typ, false); err != nil {
				return nil, 0, err
			}
			out = append(out, footer[start:r.i]...)
			last = id
			continue
		}
		// schema: list<SchemaElement>
		n, et, err := r.listHeader()
		if err != nil || et != ctStruct {
			return nil, 0, errThrift
		}
		out = append(out, footer[start:r.i]...)
		for k := uint64(0); k < n; k++ {
			var lastIn, lastOut int16
			for {
				fid, ft, err := r.fieldHeader(lastIn)
				if err != nil {
					return nil, 0, err
				}
				if ft == ctStop {
					out = append(out, ctStop)
					break
				}
				vstart := r.i
				keep := true
				if fid == 10 && ft == ctStruct {
					// The LogicalType union: which member is set?
					u := &thriftReader{b: footer, i: r.i}
					mid, mt, err := u.fieldHeader(0)
					if err != nil {
						return nil, 0, err
					}
					keep = mt == ctStop || knownLogicalTypes[mid]
				}
				if err := r.skip(ft, false); err != nil {
					return nil, 0, err
				}
				if keep {
					out = appendFieldHeader(out, lastOut, fid, ft)
					out = append(out, footer[vstart:r.i]...)
					lastOut = fid
				} else {
					dropped++
				}
				lastIn = fid
			}
		}
		last = id
	}
}

// readFooter returns the serialized FileMetaData of a Parquet file.
func readParquetFooter(ra io.ReaderAt, size int64) ([]byte, error) {
	if size < 12 {
		return nil, errors.New("file too small")
	}
	var tail [8]byte
	if _, err := ra.ReadAt(tail[:], size-8); err != nil {
		return nil, err
	}
	if string(tail[4:]) != "PAR1" {
		return nil, errors.New("no PAR1 footer magic")
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n <= 0 || n > size-12 {
		return nil, fmt.Errorf("footer length %d does not fit the file", n)
	}
	buf := make([]byte, n)
	if _, err := ra.ReadAt(buf, size-8-n); err != nil {
		return nil, err
	}
	return buf, nil
}
