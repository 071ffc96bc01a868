package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Arrow IPC: the file format (Feather v2, magic ARROW1) through
// ipc.FileReader, and the stream format through ipc.Reader fed by our own
// message reader, which applies the metadata and body size limits (the
// plain ipc.NewReader ignores them), refuses metadata versions newer than
// V5 and Arrow 0.17's experimental compression (which arrow-go would
// decode into garbage). Every batch is fully validated.

// experimentalCompressionKey marks Arrow 0.17's pre-standard buffer
// compression in record batch custom metadata.
const experimentalCompressionKey = "ARROW:experimental_compression"

var errExperimentalCompression = errors.New("the file uses Arrow 0.17's experimental buffer compression (ARROW:experimental_compression), which was never standardised; re-save it with Arrow ≥ 1.0 (e.g. pyarrow.feather.write_feather)")

// messageInfo is what we read from an IPC message's flatbuffer ourselves.
type messageInfo struct {
	version    int16
	headerType byte
	bodyLen    int64
	custom     []string // custom_metadata keys
}

// fb reads a flatbuffer with bounds checks.
type fb []byte

func (b fb) u32(p int) (int, error) {
	if p < 0 || p+4 > len(b) {
		return 0, errors.New("offset out of range")
	}
	return int(binary.LittleEndian.Uint32(b[p:])), nil
}

// field returns the position of field slot i of the table at pos (0 if
// the field is absent).
func (b fb) field(pos, i int) (int, error) {
	so, err := b.u32(pos)
	if err != nil {
		return 0, err
	}
	vt := pos - int(int32(so))
	if vt < 0 || vt+4 > len(b) {
		return 0, errors.New("vtable out of range")
	}
	vsize := int(binary.LittleEndian.Uint16(b[vt:]))
	slot := 4 + 2*i
	if slot+2 > vsize || vt+slot+2 > len(b) {
		return 0, nil
	}
	off := int(binary.LittleEndian.Uint16(b[vt+slot:]))
	if off == 0 {
		return 0, nil
	}
	return pos + off, nil
}

// deref follows the offset stored at p.
func (b fb) deref(p int) (int, error) {
	o, err := b.u32(p)
	if err != nil {
		return 0, err
	}
	if p+o >= len(b) {
		return 0, errors.New("offset out of range")
	}
	return p + o, nil
}

// parseMessage reads a flatbuffer Message table (Message.fbs: version,
// header_type, header, bodyLength, custom_metadata).
func parseMessage(meta []byte) (mi messageInfo, err error) {
	bad := func(e error) (messageInfo, error) {
		return messageInfo{}, fmt.Errorf("invalid message metadata (%v)", e)
	}
	b := fb(meta)
	root, err := b.u32(0)
	if err != nil || root >= len(b) {
		return bad(errors.New("root offset out of range"))
	}
	get := func(i, size int) ([]byte, error) {
		p, err := b.field(root, i)
		if err != nil || p == 0 {
			return nil, err
		}
		if p+size > len(b) {
			return nil, errors.New("field out of range")
		}
		return b[p : p+size], nil
	}
	v, err := get(0, 2)
	if err != nil {
		return bad(err)
	}
	if v != nil {
		mi.version = int16(binary.LittleEndian.Uint16(v))
	}
	if v, err = get(1, 1); err != nil {
		return bad(err)
	} else if v != nil {
		mi.headerType = v[0]
	}
	if v, err = get(3, 8); err != nil {
		return bad(err)
	} else if v != nil {
		mi.bodyLen = int64(binary.LittleEndian.Uint64(v))
	}
	p, err := b.field(root, 4)
	if err != nil {
		return bad(err)
	}
	if p != 0 {
		vec, err := b.deref(p)
		if err != nil {
			return bad(err)
		}
		n, err := b.u32(vec)
		if err != nil || n > len(b)/4 {
			return bad(errors.New("custom_metadata length out of range"))
		}
		for j := 0; j < n; j++ {
			kv, err := b.deref(vec + 4 + 4*j)
			if err != nil {
				return bad(err)
			}
			kp, err := b.field(kv, 0)
			if err != nil {
				return bad(err)
			}
			if kp == 0 {
				continue
			}
			str, err := b.deref(kp)
			if err != nil {
				return bad(err)
			}
			l, err := b.u32(str)
			if err != nil || str+4+l > len(b) {
				return bad(errors.New("string out of range"))
			}
			mi.custom = append(mi.custom, string(b[str+4:str+4+l]))
		}
	}
	return mi, nil
}

// checkMessage refuses what arrow-go would misread.
func checkMessage(mi messageInfo) error {
	if ipc.MetadataVersion(mi.version) > ipc.MetadataV5 || mi.version < 0 {
		// The enum counts from 0 for V1.
		return fmt.Errorf("unsupported Arrow IPC metadata version V%d (this reader knows V1 to V5): the file was written by a newer Arrow, or is corrupt", int(mi.version)+1)
	}
	for _, k := range mi.custom {
		if k == experimentalCompressionKey {
			return errExperimentalCompression
		}
	}
	return nil
}

// messageReader implements ipc.MessageReader with limits.
type messageReader struct {
	r         io.Reader
	mem       memory.Allocator
	maxMeta   int64
	maxBody   int64
	remaining int64 // bytes left in the input; -1 if unknown
	msg       *ipc.Message
	refs      atomic.Int64
}

func newMessageReader(r io.Reader, mem memory.Allocator, maxMeta, maxBody, size int64) *messageReader {
	mr := &messageReader{r: r, mem: mem, maxMeta: maxMeta, maxBody: maxBody, remaining: size}
	mr.refs.Add(1)
	return mr
}

func (r *messageReader) Retain() { r.refs.Add(1) }

func (r *messageReader) Release() {
	if r.refs.Add(-1) == 0 && r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
}

func (r *messageReader) read(p []byte) error {
	if r.remaining >= 0 && int64(len(p)) > r.remaining {
		return fmt.Errorf("the message needs %d bytes, the file has %d left: truncated or corrupt", len(p), r.remaining)
	}
	n, err := io.ReadFull(r.r, p)
	if r.remaining >= 0 {
		r.remaining -= int64(n)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Message reads the next message; it is valid until the next call. The end
// of the stream (an end-of-stream marker, or the end of the input between
// messages) is io.EOF.
func (r *messageReader) Message() (*ipc.Message, error) {
	if r.msg != nil {
		r.msg.Release()
		r.msg = nil
	}
	var hdr [4]byte
	n, err := io.ReadFull(r.r, hdr[:])
	if r.remaining >= 0 {
		r.remaining -= int64(n)
	}
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("reading a message header: %w", err)
	}
	length := binary.LittleEndian.Uint32(hdr[:])
	switch length {
	case 0:
		return nil, io.EOF
	case 0xFFFFFFFF:
		if err := r.read(hdr[:]); err != nil {
			return nil, fmt.Errorf("reading a message length: %w", err)
		}
		length = binary.LittleEndian.Uint32(hdr[:])
		if length == 0 {
			return nil, io.EOF
		}
	}
	// else: pre-0.15 framing, no continuation marker.
	if int32(length) < 8 {
		return nil, fmt.Errorf("invalid message metadata length %d", int32(length))
	}
	if int64(length) > r.maxMeta {
		return nil, fmt.Errorf("message metadata of %d bytes exceeds the limit of %d (WithMaxMessageBytes)", length, r.maxMeta)
	}
	meta := make([]byte, length)
	if err := r.read(meta); err != nil {
		return nil, fmt.Errorf("reading message metadata: %w", err)
	}
	mi, err := parseMessage(meta)
	if err != nil {
		return nil, err
	}
	if err := checkMessage(mi); err != nil {
		return nil, err
	}
	if mi.bodyLen < 0 {
		return nil, fmt.Errorf("invalid message body length %d", mi.bodyLen)
	}
	if mi.bodyLen > r.maxBody {
		return nil, fmt.Errorf("message body of %d bytes exceeds the limit of %d (WithMaxMessageBytes)", mi.bodyLen, r.maxBody)
	}
	if r.remaining >= 0 && mi.bodyLen > r.remaining {
		return nil, fmt.Errorf("message body of %d bytes, but the file has %d left: truncated or corrupt", mi.bodyLen, r.remaining)
	}
	body := memory.NewResizableBuffer(r.mem)
	body.Resize(int(mi.bodyLen))
	if err := r.read(body.Bytes()); err != nil {
		body.Release()
		return nil, fmt.Errorf("reading a message body: %w", err)
	}
	mb := memory.NewBufferBytes(meta)
	r.msg = ipc.NewMessage(mb, body)
	mb.Release()
	body.Release()
	return r.msg, nil
}

// ipcStreamSource reads the Arrow IPC stream format.
type ipcStreamSource struct {
	name   string
	rdr    *ipc.Reader
	closer io.Closer
	schema *arrow.Schema
	geo    *GeoMetadata
	o      options
	used   bool
	closed bool
}

func openIPCStream(name string, r io.Reader, size int64, closer io.Closer, o options) (src Source, err error) {
	defer recovered(name, "reading the Arrow IPC stream schema", &err)
	mem := o.mem
	if o.memLimit > 0 {
		mem = newLimitAllocator(mem, o.memLimit)
	}
	mr := newMessageReader(r, mem, o.maxMetaBytes, o.maxBodyBytes, size)
	rdr, err := ipc.NewReaderFromMessageReader(mr, ipc.WithAllocator(mem))
	if err != nil {
		mr.Release()
		return nil, &Error{File: name, Err: fmt.Errorf("reading the Arrow IPC stream: %w", err)}
	}
	s := &ipcStreamSource{name: name, rdr: rdr, closer: closer, o: o}
	s.geo, s.schema = schemaGeo(rdr.Schema(), nil, nil)
	return s, nil
}

func (s *ipcStreamSource) Name() string          { return s.name }
func (s *ipcStreamSource) Schema() *arrow.Schema { return s.schema }
func (s *ipcStreamSource) GeoInfo() *GeoMetadata { return s.geo }

func (s *ipcStreamSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.rdr.Release()
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

func (s *ipcStreamSource) next() (rec arrow.RecordBatch, err error) {
	defer recovered(s.name, "decoding an Arrow IPC record batch", &err)
	if !s.rdr.Next() {
		if err := s.rdr.Err(); err != nil {
			return nil, &Error{File: s.name, Err: fmt.Errorf("reading the Arrow IPC stream: %w", err)}
		}
		return nil, nil
	}
	rec, err = checked(s.schema, s.rdr.RecordBatch(), s.o.validate)
	if err != nil {
		return nil, &Error{File: s.name, Err: fmt.Errorf("reading the Arrow IPC stream: corrupt data: %w", err)}
	}
	return rec, nil
}

func (s *ipcStreamSource) Batches() iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		if !startOnce(s.name, &s.used, s.closed, yield) {
			return
		}
		var first int64 = 1
		for {
			rec, err := s.next()
			if err != nil {
				yield(Batch{}, err)
				return
			}
			if rec == nil {
				return
			}
			n := rec.NumRows()
			ok := yield(Batch{Record: rec, FirstRow: first}, nil)
			rec.Release()
			first += n
			if !ok {
				return
			}
		}
	}
}

// startOnce reports an error for a second read or a read after Close.
func startOnce(name string, used *bool, closed bool, yield func(Batch, error) bool) bool {
	if *used {
		yield(Batch{}, &Error{File: name, Err: errors.New("the file was already read")})
		return false
	}
	*used = true
	if closed {
		yield(Batch{}, &Error{File: name, Err: errors.New("the file is closed")})
		return false
	}
	return true
}

// ipcFileSource reads the Arrow IPC file format (Feather v2).
type ipcFileSource struct {
	name   string
	rdr    *ipc.FileReader
	closer io.Closer
	schema *arrow.Schema
	geo    *GeoMetadata
	o      options
	used   bool
	closed bool
}

// ipcReaderAt is what the IPC file reader needs.
type ipcReaderAt interface {
	io.ReaderAt
	io.Seeker
	io.Reader
}

func openIPCFile(name string, ra ipcReaderAt, size int64, closer io.Closer, o options) (src Source, err error) {
	defer recovered(name, "reading the Arrow IPC file footer", &err)
	if err := prescanIPCFile(ra, size); err != nil {
		return nil, &Error{File: name, Err: err}
	}
	mem := o.mem
	if o.memLimit > 0 {
		mem = newLimitAllocator(mem, o.memLimit)
	}
	rdr, err := ipc.NewFileReader(ra, ipc.WithAllocator(mem),
		ipc.WithMetadataSizeLimit(min(o.maxMetaBytes, size)), ipc.WithBodySizeLimit(min(o.maxBodyBytes, size)))
	if err != nil {
		return nil, &Error{File: name, Err: fmt.Errorf("reading the Arrow IPC file: %w", err)}
	}
	if v := rdr.Version(); v > ipc.MetadataV5 {
		rdr.Close()
		return nil, &Error{File: name, Err: fmt.Errorf("unsupported Arrow IPC metadata version %v (newer than V5)", v)}
	}
	s := &ipcFileSource{name: name, rdr: rdr, closer: closer, o: o}
	s.geo, s.schema = schemaGeo(rdr.Schema(), nil, nil)
	return s, nil
}

// prescanIPCFile walks the stream-format messages after the file magic,
// reading only their metadata, up to the first record batch, to refuse
// what the file reader would misread (Arrow 0.17's experimental
// compression, metadata versions above V5). Damage is left for the file
// reader, which goes by the footer, to report.
func prescanIPCFile(ra io.ReaderAt, size int64) error {
	off := int64(8)
	for k := 0; k < 64 && off+8 <= size; k++ {
		var hdr [8]byte
		if _, err := ra.ReadAt(hdr[:], off); err != nil {
			return nil
		}
		length := int64(binary.LittleEndian.Uint32(hdr[:4]))
		off += 4
		if length == 0xFFFFFFFF {
			length = int64(binary.LittleEndian.Uint32(hdr[4:]))
			off += 4
		}
		if length < 8 || off+length > size || length > 1<<20 {
			return nil
		}
		meta := make([]byte, length)
		if _, err := ra.ReadAt(meta, off); err != nil {
			return nil
		}
		mi, err := parseMessage(meta)
		if err != nil {
			return nil
		}
		if err := checkMessage(mi); err != nil {
			return err
		}
		if ipc.MessageType(mi.headerType) == ipc.MessageRecordBatch || mi.bodyLen < 0 {
			return nil
		}
		off += length + mi.bodyLen
	}
	return nil
}

func (s *ipcFileSource) Name() string          { return s.name }
func (s *ipcFileSource) Schema() *arrow.Schema { return s.schema }
func (s *ipcFileSource) GeoInfo() *GeoMetadata { return s.geo }

func (s *ipcFileSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.rdr.Close()
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

func (s *ipcFileSource) batch(i int) (rec arrow.RecordBatch, err error) {
	defer recovered(s.name, fmt.Sprintf("decoding Arrow IPC record batch %d", i), &err)
	r, err := s.rdr.RecordBatchAt(i)
	if err != nil {
		return nil, &Error{File: s.name, Err: fmt.Errorf("record batch %d: %w", i, err)}
	}
	defer r.Release()
	rec, err = checked(s.schema, r, s.o.validate)
	if err != nil {
		return nil, &Error{File: s.name, Err: fmt.Errorf("record batch %d: corrupt data: %w", i, err)}
	}
	return rec, nil
}

func (s *ipcFileSource) Batches() iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		if !startOnce(s.name, &s.used, s.closed, yield) {
			return
		}
		var first int64 = 1
		for i := 0; i < s.rdr.NumRecords(); i++ {
			rec, err := s.batch(i)
			if err != nil {
				yield(Batch{}, err)
				return
			}
			n := rec.NumRows()
			ok := yield(Batch{Record: rec, FirstRow: first}, nil)
			rec.Release()
			first += n
			if !ok {
				return
			}
		}
	}
}
