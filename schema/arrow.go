package schema

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// ArrowType is the canonical Arrow type of a field's values: what the
// ingest mapping produces and what convert encodes from. One canonical type
// per field type keeps the encoder small; readers convert into it.
//
//	string → utf8, int64 → int64, uint64 → uint64, float64 → float64,
//	bool → bool, bytes → binary, duration → duration[ns],
//	timestamp → timestamp[ns, UTC], uuid → fixed_size_binary(16),
//	geometry → binary (little-endian WKB), vec3 → struct<x,y,z: float64>,
//	quaternion → struct<q1..q4>, latlon → struct<latitude,longitude>,
//	latlonalt → struct<latitude,longitude,altitude>; arrays → list<…>.
func ArrowType(f Field) arrow.DataType {
	t := arrowScalarType(f.Type)
	if f.Array {
		return arrow.ListOf(t)
	}
	return t
}

// TimestampType is the canonical Arrow type of timestamps.
var TimestampType = &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}

func arrowScalarType(t Type) arrow.DataType {
	switch t {
	case String:
		return arrow.BinaryTypes.String
	case Int64:
		return arrow.PrimitiveTypes.Int64
	case Uint64:
		return arrow.PrimitiveTypes.Uint64
	case Float64:
		return arrow.PrimitiveTypes.Float64
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	case Bytes, Geometry:
		return arrow.BinaryTypes.Binary
	case Duration:
		return arrow.FixedWidthTypes.Duration_ns
	case Timestamp:
		return TimestampType
	case UUID:
		return &arrow.FixedSizeBinaryType{ByteWidth: 16}
	case Vec3, Quaternion, LatLon, LatLonAlt:
		names := StructFields(t)
		fs := make([]arrow.Field, len(names))
		for i, n := range names {
			fs[i] = arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64}
		}
		return arrow.StructOf(fs...)
	}
	return arrow.Null
}

// StructFields names the float64 members of the well-known message types,
// in field-number order (member i has protobuf field number i+1).
func StructFields(t Type) []string {
	switch t {
	case Vec3:
		return []string{"x", "y", "z"}
	case Quaternion:
		return []string{"q1", "q2", "q3", "q4"}
	case LatLon:
		return []string{"latitude", "longitude"}
	case LatLonAlt:
		return []string{"latitude", "longitude", "altitude"}
	}
	return nil
}

// ArrowSchema is the canonical Arrow schema of the dataset's fields (all
// nullable), in field-number order.
func (d *Dataset) ArrowSchema() *arrow.Schema {
	fs := make([]arrow.Field, len(d.Fields))
	for i, f := range d.Fields {
		fs[i] = arrow.Field{Name: f.Name, Type: ArrowType(f), Nullable: true}
	}
	return arrow.NewSchema(fs, nil)
}
