package geo

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// ErrNoGeometry is wrapped by parse errors for a GeoJSON Feature whose geometry
// is null, so that callers can tell "no footprint" from "broken footprint".
var ErrNoGeometry = errors.New("feature has no geometry")

// ParseGeoJSON decodes a GeoJSON Geometry, Feature or FeatureCollection. A
// Feature yields its geometry; a FeatureCollection yields an orb.Collection of
// its features' geometries in order. Properties are not kept here: callers that
// need them (e.g. the CLI's fix command) decode with orb/geojson directly.
func ParseGeoJSON(b []byte) (orb.Geometry, error) {
	// orb keeps the first two numbers of a position and drops the rest
	// without a word: refuse Z/M here as WKB and WKT do.
	if geojsonHasZM(b) {
		return nil, fmt.Errorf("geo: parse geojson: %w", ErrNot2D)
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("geo: parse geojson: %w", err)
	}
	switch head.Type {
	case "Feature":
		f, err := geojson.UnmarshalFeature(b)
		if err != nil {
			return nil, fmt.Errorf("geo: parse geojson feature: %w", err)
		}
		if f.Geometry == nil {
			return nil, fmt.Errorf("geo: parse geojson: %w", ErrNoGeometry)
		}
		return f.Geometry, nil
	case "FeatureCollection":
		fc, err := geojson.UnmarshalFeatureCollection(b)
		if err != nil {
			return nil, fmt.Errorf("geo: parse geojson feature collection: %w", err)
		}
		c := make(orb.Collection, 0, len(fc.Features))
		for i, f := range fc.Features {
			if f.Geometry == nil {
				return nil, fmt.Errorf("geo: parse geojson: feature %d: %w", i, ErrNoGeometry)
			}
			c = append(c, f.Geometry)
		}
		return c, nil
	case "":
		return nil, errors.New("geo: parse geojson: object has no \"type\"")
	default:
		g, err := geojson.UnmarshalGeometry(b)
		if err != nil {
			return nil, fmt.Errorf("geo: parse geojson %s: %w", head.Type, err)
		}
		return g.Geometry(), nil
	}
}
