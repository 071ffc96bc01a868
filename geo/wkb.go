package geo

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/ewkb"
	"github.com/paulmach/orb/encoding/wkb"
)

// sridWGS84 is the only spatial reference granary stores: lon/lat on WGS 84.
const sridWGS84 = 4326

// WKB type-code flags that orb does not decode. orb masks the EWKB type code
// down to the geometry kind, so a 3-D EWKB geometry would otherwise be read
// with the wrong stride and yield garbage coordinates instead of an error.
const (
	ewkbZFlag = 0x80000000
	ewkbMFlag = 0x40000000
)

// ParseWKB decodes WKB or PostGIS EWKB in either byte order. An EWKB SRID must
// be absent, 0 or 4326: any other reference system would need reprojection,
// which granary does not do, so it is an error that names the SRID.
func ParseWKB(b []byte) (orb.Geometry, error) {
	if err := checkWKBHeader(b); err != nil {
		return nil, err
	}
	g, srid, err := ewkb.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("geo: parse wkb: %w", err)
	}
	if srid != 0 && srid != sridWGS84 {
		return nil, fmt.Errorf("geo: parse wkb: SRID %d is not supported (want 4326 or none)", srid)
	}
	return g, nil
}

// wkbOrder reads a WKB byte-order marker.
func wkbOrder(marker byte) (binary.ByteOrder, error) {
	switch marker {
	case 0:
		return binary.BigEndian, nil
	case 1:
		return binary.LittleEndian, nil
	}
	return nil, fmt.Errorf("geo: parse wkb: byte-order marker %#x is neither 0 nor 1", marker)
}

// checkWKBHeader rejects what orb would misread: Z/M ordinates, in either the
// EWKB flag form or the ISO 1000/2000/3000 type-code form.
func checkWKBHeader(b []byte) error {
	if len(b) < 5 {
		return fmt.Errorf("geo: parse wkb: %d bytes is too short for a header", len(b))
	}
	order, err := wkbOrder(b[0])
	if err != nil {
		return err
	}
	typ := order.Uint32(b[1:5])
	if typ&(ewkbZFlag|ewkbMFlag) != 0 || (typ&0xffff) >= 1000 {
		return fmt.Errorf("geo: parse wkb: %w", ErrNot2D)
	}
	return nil
}

// MarshalWKB writes g as little-endian ISO WKB without an SRID, the form
// granary stores (the SRID is always 4326, so it carries no information).
func MarshalWKB(g orb.Geometry) ([]byte, error) {
	if g == nil {
		return nil, errors.New("geo: marshal wkb: nil geometry")
	}
	b, err := wkb.Marshal(g, binary.LittleEndian)
	if err != nil {
		return nil, fmt.Errorf("geo: marshal wkb: %w", err)
	}
	return b, nil
}
