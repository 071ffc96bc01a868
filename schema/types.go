// Package schema describes dataset schemas: kinds, typed fields, the YAML
// file a person writes, and the protobuf message type the datasets API uses
// for a dataset's datapoints.
package schema

import (
	"fmt"
	"strings"
)

// Kind is what every datapoint of a dataset carries besides its own fields.
type Kind int

const (
	KindUnspecified Kind = iota
	// Temporal datapoints have time, id and ingestion_time.
	Temporal
	// SpatioTemporal datapoints also have a geometry.
	SpatioTemporal
)

func (k Kind) String() string {
	switch k {
	case Temporal:
		return "temporal"
	case SpatioTemporal:
		return "spatiotemporal"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind accepts the spellings a person is likely to write.
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(s, "-", ""), "_", "")) {
	case "temporal":
		return Temporal, nil
	case "spatiotemporal":
		return SpatioTemporal, nil
	}
	return KindUnspecified, fmt.Errorf("unknown dataset kind %q (want temporal or spatiotemporal)", s)
}

// Type is the value type of a field. Each may also be an array (Field.Array).
type Type int

const (
	TypeUnspecified Type = iota
	String
	Int64
	Uint64
	Float64
	Bool
	Bytes
	Duration
	Timestamp
	UUID
	Geometry
	Vec3
	Quaternion
	LatLon
	LatLonAlt
)

var typeNames = [...]string{
	TypeUnspecified: "unspecified",
	String:          "string",
	Int64:           "int64",
	Uint64:          "uint64",
	Float64:         "float64",
	Bool:            "bool",
	Bytes:           "bytes",
	Duration:        "duration",
	Timestamp:       "timestamp",
	UUID:            "uuid",
	Geometry:        "geometry",
	Vec3:            "vec3",
	Quaternion:      "quaternion",
	LatLon:          "latlon",
	LatLonAlt:       "latlonalt",
}

func (t Type) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Types lists every field type a schema may use, in declaration order.
func Types() []Type {
	out := make([]Type, 0, len(typeNames)-1)
	for t := String; int(t) < len(typeNames); t++ {
		out = append(out, t)
	}
	return out
}

// ParseType maps a type name from a schema file to a Type. A few aliases
// (double, float, int, uint, time, ...) are accepted because people write them.
func ParseType(s string) (Type, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	switch name {
	case "double", "float":
		return Float64, nil
	case "int", "integer":
		return Int64, nil
	case "uint":
		return Uint64, nil
	case "boolean":
		return Bool, nil
	case "binary":
		return Bytes, nil
	case "time", "datetime":
		return Timestamp, nil
	case "lat_lon":
		return LatLon, nil
	case "lat_lon_alt":
		return LatLonAlt, nil
	}
	for i, n := range typeNames {
		if i > 0 && n == name {
			return Type(i), nil
		}
	}
	return TypeUnspecified, fmt.Errorf("unknown field type %q (want one of %s)", s, strings.Join(typeNames[1:], ", "))
}

// Field is one typed field of a dataset.
type Field struct {
	Name        string
	Type        Type
	Array       bool
	Description string
	Example     string
	// Number is the protobuf field number; 0 until the schema is resolved.
	Number int32
}

// Required field names and numbers fixed by the datasets API.
const (
	FieldTime          = "time"
	FieldID            = "id"
	FieldIngestionTime = "ingestion_time"
	FieldGeometry      = "geometry"

	NumberTime          = 1
	NumberID            = 2
	NumberIngestionTime = 3
	NumberGeometry      = 4
)

// RequiredFields returns the fields every datapoint of kind k carries, with
// the numbers the API fixes.
func RequiredFields(k Kind) []Field {
	fs := []Field{
		{Name: FieldTime, Type: Timestamp, Number: NumberTime, Description: "Timestamp of the datapoint", Example: "2022-10-17T14:35:28Z"},
		{Name: FieldID, Type: UUID, Number: NumberID, Description: "UUID of the datapoint, derived from its content", Example: "0181f4ef-2040-13e7-ba1f-d5575e2a32a4"},
		{Name: FieldIngestionTime, Type: Timestamp, Number: NumberIngestionTime, Description: "When the datapoint was ingested", Example: "2022-10-17T14:35:28Z"},
	}
	if k == SpatioTemporal {
		fs = append(fs, Field{Name: FieldGeometry, Type: Geometry, Number: NumberGeometry, Description: "Footprint of the datapoint", Example: "POLYGON ((10 50, 11 50, 11 51, 10 51, 10 50))"})
	}
	return fs
}

// IsReserved reports whether name is one of the API's required field names.
func IsReserved(name string) bool {
	switch name {
	case FieldTime, FieldID, FieldIngestionTime, FieldGeometry:
		return true
	}
	return false
}

// IsMessage reports whether values of t are protobuf messages on the wire.
func (t Type) IsMessage() bool {
	switch t {
	case Duration, Timestamp, UUID, Geometry, Vec3, Quaternion, LatLon, LatLonAlt:
		return true
	}
	return false
}
