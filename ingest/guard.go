package ingest

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Limits for untrusted binary files. Each can be raised (or lowered) by
// its option.
const (
	// DefaultMaxPageBytes bounds one Parquet page, compressed or not, so
	// that a decompression bomb fails instead of exhausting memory.
	DefaultMaxPageBytes = 256 << 20
	// DefaultMaxMessageMetadataBytes bounds one Arrow IPC message's metadata.
	DefaultMaxMessageMetadataBytes = 64 << 20
	// DefaultMaxMessageBodyBytes bounds one Arrow IPC message's body (one
	// record batch as stored).
	DefaultMaxMessageBodyBytes = 1 << 30
	// DefaultMemoryLimit bounds the Arrow memory a Parquet or Arrow source
	// holds at once (decoded batches, pages, decompressed buffers).
	DefaultMemoryLimit = 4 << 30
)

// WithMaxPageBytes sets the largest Parquet page (compressed or
// uncompressed) a reader accepts (default 256 MiB).
func WithMaxPageBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.maxPageBytes = n
		}
	}
}

// WithMaxMessageBytes sets the largest Arrow IPC message metadata and body
// a reader accepts (defaults 64 MiB and 1 GiB; neither may exceed the file).
func WithMaxMessageBytes(metadata, body int64) Option {
	return func(o *options) {
		if metadata > 0 {
			o.maxMetaBytes = metadata
		}
		if body > 0 {
			o.maxBodyBytes = body
		}
	}
}

// WithMemoryLimit bounds the Arrow memory a Parquet or Arrow IPC source may
// hold at once (default 4 GiB); a file that needs more fails with an error
// wrapping ErrMemoryLimit. n <= 0 removes the limit.
func WithMemoryLimit(n int64) Option {
	return func(o *options) { o.memLimit = n }
}

// WithValidation turns the full validation of decoded Parquet and Arrow
// batches (array.ValidateFull: offsets, lengths, dictionary indices) on or
// off. It is on by default: corrupt files otherwise decode into arrays
// whose use panics or returns garbage.
func WithValidation(on bool) Option {
	return func(o *options) { o.validate = on }
}

// recovered turns a panic inside a third-party decoder into an *Error
// naming the file and what was being done. Use as
//
//	defer recovered(name, "reading the footer", &err)
func recovered(name, what string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	*err = panicError(name, what, r)
}

func panicError(name, what string, r any) error {
	var lim *memLimitPanic
	if e, ok := r.(error); ok && errors.As(e, &lim) {
		return &Error{File: name, Err: fmt.Errorf("%s: %w", what, lim)}
	}
	msg := fmt.Sprint(r)
	if _, ok := r.(runtime.Error); ok {
		msg = "runtime error: " + strings.TrimPrefix(msg, "runtime error: ")
	}
	return &Error{File: name, Err: fmt.Errorf("%s: the file is malformed (the decoder failed: %s)", what, msg)}
}

// checked validates a decoded record (when validate is on) and returns it
// re-labelled with the source's schema sc, which carries the GeoArrow
// metadata; the caller still owns rec.
func checked(sc *arrow.Schema, rec arrow.RecordBatch, validate bool) (arrow.RecordBatch, error) {
	if validate {
		if err := validateRecord(rec); err != nil {
			return nil, err
		}
	}
	return array.NewRecordBatch(sc, rec.Columns(), rec.NumRows()), nil
}

// validateRecord checks every column of rec in full. ValidateFull is wrong
// for two types (it rejects null arrays, which have no buffers, and panics
// on unions), so columns containing them are checked child by child.
func validateRecord(rec arrow.RecordBatch) (err error) {
	for i, col := range rec.Columns() {
		if int64(col.Len()) != rec.NumRows() {
			return fmt.Errorf("column %q has %d rows, the batch %d", rec.ColumnName(i), col.Len(), rec.NumRows())
		}
		if err := validateArray(col); err != nil {
			return fmt.Errorf("column %q: %w", rec.ColumnName(i), err)
		}
	}
	return nil
}

func validateArray(a arrow.Array) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid array: %v", r)
		}
	}()
	// Strings are checked for structure only: ValidateFull's UTF-8 check
	// of every value would repeat the mapper's, which checks the columns
	// that become string fields (an ASCII fast path, then UTF-8).
	switch a := a.(type) {
	case *array.String:
		if err := a.Validate(); err != nil {
			return err
		}
		return monotonic(a.ValueOffsets())
	case *array.LargeString:
		if err := a.Validate(); err != nil {
			return err
		}
		return monotonic(a.ValueOffsets())
	}
	if !hasNullOrUnion(a.DataType()) {
		return array.ValidateFull(a)
	}
	switch a := a.(type) {
	case *array.Null:
		return nil
	case *array.Struct:
		for k := 0; k < a.NumField(); k++ {
			if err := validateArray(a.Field(k)); err != nil {
				return fmt.Errorf("field %q: %w", a.DataType().(*arrow.StructType).Field(k).Name, err)
			}
		}
		return nil
	case array.Union:
		for k := 0; k < a.NumFields(); k++ {
			if err := validateArray(a.Field(k)); err != nil {
				return err
			}
		}
		return nil
	case array.ListLike:
		return validateArray(a.ListValues())
	case *array.Dictionary:
		return validateArray(a.Dictionary())
	case array.ExtensionArray:
		return validateArray(a.Storage())
	}
	return nil
}

// monotonic checks that offsets (already known to end inside the data)
// start at or after zero and never decrease, so every value slices safely.
func monotonic[T int32 | int64](offs []T) error {
	if len(offs) == 0 {
		return nil
	}
	if offs[0] < 0 {
		return fmt.Errorf("invalid array: first offset %d is negative", offs[0])
	}
	// Branch-free: the sign of a negative offset or step survives the OR.
	// With every offset non-negative no step overflows, even for int64.
	var acc int64
	for i := 1; i < len(offs); i++ {
		acc |= int64(offs[i]) | (int64(offs[i]) - int64(offs[i-1]))
	}
	if acc < 0 {
		for i := 1; i < len(offs); i++ {
			if offs[i] < offs[i-1] {
				return fmt.Errorf("invalid array: offsets decrease at value %d (%d < %d)", i, offs[i], offs[i-1])
			}
		}
	}
	return nil
}

func hasNullOrUnion(dt arrow.DataType) bool {
	switch d := dt.(type) {
	case *arrow.NullType:
		return true
	case arrow.UnionType:
		return true
	case arrow.NestedType:
		for _, f := range d.Fields() {
			if hasNullOrUnion(f.Type) {
				return true
			}
		}
	case *arrow.DictionaryType:
		return hasNullOrUnion(d.ValueType)
	case arrow.ExtensionType:
		return hasNullOrUnion(d.StorageType())
	}
	return false
}
