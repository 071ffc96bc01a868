package convert

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/granaryhq/granary/geo"
	"github.com/granaryhq/granary/schema"
)

// JSONValue returns a datapoint field's value in the form granary prints
// and exports as JSON: UUIDs as strings, times as RFC 3339 with
// nanoseconds, durations in Go syntax, bytes as base64, geometries as WKT,
// vec3 and friends as objects, arrays as arrays. Unset fields give nil.
func JSONValue(f schema.Field, m protoreflect.Message) any {
	fd := m.Descriptor().Fields().ByNumber(protoreflect.FieldNumber(f.Number))
	if fd == nil {
		return nil
	}
	if f.Array {
		l := m.Get(fd).List()
		out := make([]any, l.Len())
		for i := range out {
			out[i] = scalarJSON(f.Type, l.Get(i))
		}
		return out
	}
	if !m.Has(fd) {
		return nil
	}
	return scalarJSON(f.Type, m.Get(fd))
}

func scalarJSON(t schema.Type, v protoreflect.Value) any {
	switch t {
	case schema.String:
		return v.String()
	case schema.Int64:
		return v.Int()
	case schema.Uint64:
		return v.Uint()
	case schema.Float64:
		return jsonFloat(v.Float())
	case schema.Bool:
		return v.Bool()
	case schema.Bytes:
		return base64.StdEncoding.EncodeToString(v.Bytes())
	case schema.Timestamp:
		s, ns := secondsNanosOf(v.Message())
		return time.Unix(s, ns).UTC().Format(time.RFC3339Nano)
	case schema.Duration:
		s, ns := secondsNanosOf(v.Message())
		return (time.Duration(s)*time.Second + time.Duration(ns)).String()
	case schema.UUID:
		b := bytesOf(v.Message())
		u, err := uuid.FromBytes(b)
		if err != nil {
			return base64.StdEncoding.EncodeToString(b)
		}
		return u.String()
	case schema.Geometry:
		b := bytesOf(v.Message())
		g, err := geo.ParseWKB(b)
		if err != nil {
			return fmt.Sprintf("invalid WKB (%d bytes): %v", len(b), err)
		}
		return geo.WKT(g)
	case schema.Vec3, schema.Quaternion, schema.LatLon, schema.LatLonAlt:
		m := v.Message()
		out := map[string]any{}
		for i, name := range schema.StructFields(t) {
			out[name] = jsonFloat(m.Get(m.Descriptor().Fields().ByNumber(protoreflect.FieldNumber(i + 1))).Float())
		}
		return out
	}
	return nil
}

// jsonFloat keeps NaN and ±Inf printable: encoding/json rejects them.
func jsonFloat(f float64) any {
	if f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
		return fmt.Sprint(f)
	}
	return f
}

func secondsNanosOf(m protoreflect.Message) (int64, int64) {
	fs := m.Descriptor().Fields()
	return m.Get(fs.ByNumber(1)).Int(), m.Get(fs.ByNumber(2)).Int()
}

func bytesOf(m protoreflect.Message) []byte {
	return m.Get(m.Descriptor().Fields().ByNumber(1)).Bytes()
}
