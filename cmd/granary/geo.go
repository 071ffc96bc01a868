package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/spf13/cobra"

	"github.com/granaryhq/granary/geo"
)

func (a *app) geoCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "geo", Short: "Geometry tools"}
	var flat, noWinding, north, south, force2D bool
	fix := &cobra.Command{
		Use:   "fix [FILE]",
		Short: "Cut GeoJSON geometries at the antimeridian (RFC 7946 §3.1.9)",
		Long: `Read GeoJSON (a Geometry, Feature or FeatureCollection) from FILE or standard
input, cut every polygon and line at the antimeridian, wrap longitudes, close
rings that circle a pole over that pole, fix the winding (exteriors
counter-clockwise, holes clockwise), and write the result to standard output.
Feature properties are kept. The crossing latitude follows the great circle
unless --flat. Fixing twice changes nothing.`,
		Example: `  granary geo fix footprint.geojson
  echo '{"type":"Polygon","coordinates":[[[170,-10],[-170,-10],[-170,10],[170,10],[170,-10]]]}' | granary geo fix`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if north && south {
				return usagef("give at most one of --force-north-pole and --force-south-pole")
			}
			var opts []geo.FixOption
			if flat {
				opts = append(opts, geo.Flat())
			}
			if noWinding {
				opts = append(opts, geo.NoWindingFix())
			}
			if north {
				opts = append(opts, geo.ForceNorthPole())
			}
			if south {
				opts = append(opts, geo.ForceSouthPole())
			}
			in, name := a.stdin, "standard input"
			if len(args) == 1 {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in, name = f, args[0]
			}
			b, err := io.ReadAll(in)
			if err != nil {
				return err
			}
			if flat2D, changed, err := geo.Force2D(b); err == nil && changed {
				// orb keeps two numbers per position: say so, or drop the
				// rest when asked.
				if !force2D {
					return fmt.Errorf("%s: %w; --force-2d drops them", name, geo.ErrNot2D)
				}
				b = flat2D
			}
			out, err := fixGeoJSON(b, opts)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			_, err = fmt.Fprintln(a.stdout, string(out))
			return err
		},
	}
	f := fix.Flags()
	f.BoolVar(&flat, "flat", false, "interpolate the crossing latitude linearly in lon/lat instead of on the great circle")
	f.BoolVar(&noWinding, "no-winding-fix", false, "keep the winding as given (a clockwise ring then covers the rest of the globe)")
	f.BoolVar(&north, "force-north-pole", false, "close rings that circle a pole over the north pole")
	f.BoolVar(&south, "force-south-pole", false, "close rings that circle a pole over the south pole")
	f.BoolVar(&force2D, "force-2d", false, "drop Z and M coordinates (positions with more than two numbers) instead of refusing them")
	cmd.AddCommand(fix)
	return cmd
}

// fixGeoJSON fixes a GeoJSON Geometry, Feature or FeatureCollection,
// keeping everything else of the document.
func fixGeoJSON(b []byte, opts []geo.FixOption) ([]byte, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("not GeoJSON: %w", err)
	}
	fixOne := func(g orb.Geometry, where string) (orb.Geometry, error) {
		if g == nil {
			return nil, nil
		}
		fixed, _, err := geo.Fix(g, opts...)
		if err != nil {
			return nil, fmt.Errorf("%s%w", where, err)
		}
		// Validate after fixing: longitudes beyond ±180 are Fix's to wrap.
		if err := geo.Validate(fixed); err != nil {
			return nil, fmt.Errorf("%sinvalid geometry: %w", where, err)
		}
		return fixed, nil
	}
	switch head.Type {
	case "Feature":
		feat, err := geojson.UnmarshalFeature(b)
		if err != nil {
			return nil, err
		}
		if feat.Geometry, err = fixOne(feat.Geometry, ""); err != nil {
			return nil, err
		}
		return json.Marshal(feat)
	case "FeatureCollection":
		fc, err := geojson.UnmarshalFeatureCollection(b)
		if err != nil {
			return nil, err
		}
		for i, feat := range fc.Features {
			if feat.Geometry, err = fixOne(feat.Geometry, fmt.Sprintf("feature %d: ", i)); err != nil {
				return nil, err
			}
		}
		return json.Marshal(fc)
	default:
		g, err := geojson.UnmarshalGeometry(b)
		if err != nil {
			return nil, fmt.Errorf("not a GeoJSON geometry: %w", err)
		}
		fixed, err := fixOne(g.Geometry(), "")
		if err != nil {
			return nil, err
		}
		return json.Marshal(geojson.NewGeometry(fixed))
	}
}
