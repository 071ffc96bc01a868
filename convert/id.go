// Package convert turns canonical Arrow records into datapoint bytes and
// deterministic IDs, and datapoint bytes back into values.
package convert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/zeebo/xxh3"
)

// IDScheme is the version of the datapoint ID scheme. Scheme 1 is fixed
// forever: changing it would give stored datapoints new IDs.
const IDScheme = 1

// MaxMillis is the largest time (unix milliseconds) an ID can carry: 48 bits.
const MaxMillis = 1<<48 - 1

// ErrTimeRange is returned for a time an ID cannot carry.
var ErrTimeRange = errors.New("time out of range")

// ID computes scheme-1 datapoint ID from the datapoint's time in unix
// milliseconds and its canonical bytes (deterministic protobuf encoding
// without id and ingestion_time): 6 bytes of big-endian milliseconds, then
// the first 10 bytes of the canonical (big-endian) XXH3-128 digest.
func ID(millis int64, canonical []byte) ([16]byte, error) {
	var id [16]byte
	if millis < 0 || millis > MaxMillis {
		return id, fmt.Errorf("%w: %s is before 1970-01-01 or after the 48-bit millisecond range (year 10889)", ErrTimeRange, time.UnixMilli(millis).UTC().Format(time.RFC3339Nano))
	}
	return makeID(uint64(millis), xxh3.Hash128(canonical)), nil
}

// makeID lays out an ID from in-range milliseconds and the digest.
func makeID(millis uint64, h xxh3.Uint128) (id [16]byte) {
	// 48-bit milliseconds, then the digest's first 10 bytes, written as two
	// overlapping big-endian words.
	binary.BigEndian.PutUint64(id[0:8], millis<<16|h.Hi>>48)
	binary.BigEndian.PutUint64(id[8:16], h.Hi<<16|h.Lo>>48)
	return id
}

// Millis returns the unix milliseconds an ID starts with.
func Millis(id [16]byte) int64 {
	var ms [8]byte
	copy(ms[2:], id[:6])
	return int64(binary.BigEndian.Uint64(ms[:]))
}

// TimeMillis is the unix milliseconds of a time given as seconds and nanos,
// rounded down (so 1969-12-31T23:59:59.9995Z is -1, not 0).
func TimeMillis(seconds int64, nanos int32) int64 {
	return seconds*1000 + int64(nanos)/1e6
}

// MinID is the smallest ID whose time is millis; MaxID the largest.
func MinID(millis int64) [16]byte {
	var id [16]byte
	putMillis(&id, millis)
	return id
}

// MaxID is the largest ID at millis.
func MaxID(millis int64) [16]byte {
	id := [16]byte{6: 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	putMillis(&id, millis)
	return id
}

func putMillis(id *[16]byte, millis int64) {
	millis = max(0, min(millis, MaxMillis))
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(millis))
	copy(id[:6], ms[2:])
}
