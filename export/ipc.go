package export

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// noCloser hides an io.Writer's Close from writers that would close it.
type noCloser struct{ io.Writer }

// ipcWriter writes Feather v2 (the Arrow IPC file format) or an Arrow IPC
// stream. Geometry columns carry GeoArrow's geoarrow.wkb extension name.
type ipcWriter struct {
	w      *Writer
	sc     *arrow.Schema
	file   *ipc.FileWriter
	stream *ipc.Writer
}

func newIPCWriter(out io.Writer, w *Writer, feather bool) (*ipcWriter, error) {
	sc := arrowSchemaFor(w, true, nil)
	opts := []ipc.Option{ipc.WithSchema(sc), ipc.WithAllocator(w.o.mem)}
	codec := w.o.compression
	if codec == "" && feather {
		codec = "lz4" // what pyarrow's write_feather uses
	}
	switch codec {
	case "", "none", "uncompressed":
	case "lz4", "lz4_frame":
		opts = append(opts, ipc.WithLZ4())
	case "zstd":
		opts = append(opts, ipc.WithZstd())
	default:
		return nil, fmt.Errorf("export: unknown Arrow compression %q (want lz4, zstd or none)", codec)
	}
	iw := &ipcWriter{w: w, sc: sc}
	if feather {
		fw, err := ipc.NewFileWriter(noCloser{out}, opts...)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		iw.file = fw
	} else {
		iw.stream = ipc.NewWriter(noCloser{out}, opts...)
	}
	return iw, nil
}

func (iw *ipcWriter) write(rec arrow.RecordBatch) error {
	out := toOutput(iw.w, iw.sc, rec)
	defer out.Release()
	var err error
	if iw.file != nil {
		err = iw.file.Write(out)
	} else {
		err = iw.stream.Write(out)
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func (iw *ipcWriter) close() error {
	var err error
	if iw.file != nil {
		err = iw.file.Close()
	} else {
		err = iw.stream.Close()
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
