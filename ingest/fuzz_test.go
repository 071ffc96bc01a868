package ingest

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/granaryhq/granary/schema"
)

// FuzzTextCells: any text (a CSV cell, a string column's value, a --set
// value) either converts to each field type or is an error: no conversion
// panics (the Mapper would turn a panic into an internal error).
func FuzzTextCells(f *testing.F) {
	for _, s := range []string{"2024-01-01T00:00:00Z", "PT1H30M", "-1h2m3.5s", "[1, 2, [3]]", `["a", null]`,
		"123e4567-e89b-12d3-a456-426614174000", "POINT Z (1 2 3)", "0x0101000000", "AQIDBA==", "1e400", "-0", "NaN",
		"9223372036854775808", "2262-04-11T23:47:16.854775808Z", "P1Y", `{"type":"Point","coordinates":[1,2]}`} {
		f.Add(s)
	}
	var fields []schema.Field
	for _, typ := range schema.Types() {
		fields = append(fields, schema.Field{Name: "s", Type: typ}, schema.Field{Name: "a", Type: typ, Array: true})
	}
	mem := memory.NewGoAllocator()
	f.Fuzz(func(t *testing.T, cell string) {
		src := stringArray(mem, cell)
		defer src.Release()
		for _, fl := range fields {
			if out, _, err := convertArray(t, mem, src, fl); err == nil {
				out.Release()
			}
		}
	})
}
