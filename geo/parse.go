package geo

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/paulmach/orb"
)

// Parse sniffs the encoding of b and decodes it: binary WKB/EWKB (first byte
// 0 or 1), hex-encoded WKB/EWKB as PostGIS and CSV exports write it, GeoJSON
// (first non-space byte '{'), otherwise WKT/EWKT.
func Parse(b []byte) (orb.Geometry, error) {
	if len(b) == 0 {
		return nil, errors.New("geo: parse: empty input")
	}
	if b[0] == 0 || b[0] == 1 {
		return ParseWKB(b)
	}
	text := bytes.TrimSpace(b)
	if len(text) == 0 {
		return nil, errors.New("geo: parse: blank input")
	}
	if text[0] == '{' {
		return ParseGeoJSON(text)
	}
	if isHexWKB(text) {
		raw := make([]byte, hex.DecodedLen(len(text)))
		if _, err := hex.Decode(raw, text); err != nil {
			return nil, fmt.Errorf("geo: parse hex wkb: %w", err)
		}
		return ParseWKB(raw)
	}
	return ParseWKT(string(text))
}

// isHexWKB reports whether text looks like hex WKB: an even number of hex
// digits starting with a byte-order marker "00" or "01". No WKT keyword is
// made of hex digits only, so this cannot shadow WKT.
func isHexWKB(text []byte) bool {
	if len(text) < 10 || len(text)%2 != 0 || text[0] != '0' || (text[1] != '0' && text[1] != '1') {
		return false
	}
	for _, c := range text {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
