package schema

import (
	"encoding/json"
	"fmt"
)

// fieldJSON is the stored form of a Field. Types are kept by name, which
// stays fixed even if the Go enum grows.
type fieldJSON struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Array       bool   `json:"array,omitempty"`
	Description string `json:"description,omitempty"`
	Example     string `json:"example,omitempty"`
	Number      int32  `json:"number"`
}

// MarshalFields encodes fields as JSON for a store to keep; UnmarshalFields
// reads them back exactly.
func MarshalFields(fs []Field) (string, error) {
	var out []fieldJSON
	if fs != nil {
		out = make([]fieldJSON, 0, len(fs))
	}
	for _, f := range fs {
		if t, err := ParseType(f.Type.String()); err != nil || t != f.Type {
			return "", fmt.Errorf("field %q: type %v cannot be stored", f.Name, f.Type)
		}
		out = append(out, fieldJSON{f.Name, f.Type.String(), f.Array, f.Description, f.Example, f.Number})
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// UnmarshalFields decodes what MarshalFields wrote.
func UnmarshalFields(s string) ([]Field, error) {
	var in []fieldJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, err
	}
	if in == nil {
		return nil, nil
	}
	out := make([]Field, len(in))
	for i, f := range in {
		t, err := ParseType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("stored field %q: %w", f.Name, err)
		}
		out[i] = Field{Name: f.Name, Type: t, Array: f.Array, Description: f.Description, Example: f.Example, Number: f.Number}
	}
	return out, nil
}
