package schema

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// FileError is a problem in a schema file, with the line it is on.
type FileError struct {
	File string
	Line int
	Err  error
}

func (e *FileError) Error() string {
	name := e.File
	if name == "" {
		name = "schema"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", name, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", name, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// ReadFile parses a schema file (YAML) into a dataset with numbered fields.
func ReadFile(path string) (*Dataset, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	return Parse(path, b)
}

// Parse parses schema YAML. name is used in error messages. The file looks like
//
//	group: my_org
//	code_name: measurements
//	name: Measurements
//	kind: temporal
//	fields:
//	  - {name: value, type: float64, description: A numeric measurement}
//	  - {name: sensor_history, type: float64, array: true}
//
// A type may also be written with a trailing "[]" to mean an array.
func Parse(name string, b []byte) (*Dataset, error) {
	fail := func(line int, format string, args ...any) error {
		return &FileError{File: name, Line: line, Err: fmt.Errorf(format, args...)}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, yamlError(name, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fail(doc.Line, "a schema file is a YAML mapping with group, code_name, name, kind and fields")
	}
	root := doc.Content[0]
	d := &Dataset{}
	var fields []Field
	var lines []int
	seen := map[string]int{}
	kindLine := root.Line
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			return nil, fail(k.Line, "key %q repeats the one on line %d", k.Value, prev)
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "group", "code_name", "name", "summary", "description", "kind":
			if v.Kind != yaml.ScalarNode {
				return nil, fail(v.Line, "%s must be a single value", k.Value)
			}
			switch k.Value {
			case "group":
				d.Group = v.Value
			case "code_name":
				d.CodeName = v.Value
			case "name":
				d.Name = v.Value
			case "summary":
				d.Summary = v.Value
			case "description":
				d.Description = v.Value
			case "kind":
				kind, err := ParseKind(v.Value)
				if err != nil {
					return nil, &FileError{File: name, Line: v.Line, Err: err}
				}
				d.Kind, kindLine = kind, v.Line
			}
		case "fields":
			if v.Kind != yaml.SequenceNode {
				return nil, fail(v.Line, "fields must be a list, e.g. - {name: value, type: float64}")
			}
			for _, item := range v.Content {
				f, err := parseField(name, item)
				if err != nil {
					return nil, err
				}
				fields = append(fields, f)
				lines = append(lines, item.Line)
			}
		default:
			return nil, fail(k.Line, "unknown key %q (want group, code_name, name, summary, description, kind, fields)", k.Value)
		}
	}
	if d.CodeName == "" {
		return nil, fail(root.Line, "code_name is missing")
	}
	if d.Kind == KindUnspecified {
		return nil, fail(kindLine, "kind is missing (temporal or spatiotemporal)")
	}
	if d.Name == "" {
		d.Name = d.CodeName
	}
	// Check each field where it is written, so the error carries its line.
	names := map[string]int{}
	for i, f := range fields {
		if prev, dup := names[f.Name]; dup {
			return nil, fail(lines[i], "field %q is already defined on line %d", f.Name, prev)
		}
		names[f.Name] = lines[i]
		if IsReserved(f.Name) {
			return nil, fail(lines[i], "field name %q is reserved: every datapoint has time, id and ingestion_time, and spatiotemporal ones geometry", f.Name)
		}
		if !ValidCodeName(f.Name) {
			return nil, fail(lines[i], "field name %q: field names are snake_case (a lower-case letter, then lower-case letters, digits or underscores)", f.Name)
		}
	}
	if err := d.SetFields(fields); err != nil {
		return nil, &FileError{File: name, Err: err}
	}
	if err := d.Validate(); err != nil {
		return nil, &FileError{File: name, Line: root.Line, Err: err}
	}
	return d, nil
}

func parseField(file string, n *yaml.Node) (Field, error) {
	fail := func(line int, format string, args ...any) error {
		return &FileError{File: file, Line: line, Err: fmt.Errorf(format, args...)}
	}
	if n.Kind != yaml.MappingNode {
		return Field{}, fail(n.Line, "a field is a mapping like {name: value, type: float64}")
	}
	var f Field
	var typ string
	typeLine := n.Line
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return Field{}, fail(v.Line, "field key %s must be a single value", k.Value)
		}
		switch k.Value {
		case "name":
			f.Name = v.Value
		case "type":
			typ, typeLine = v.Value, v.Line
		case "array":
			var b bool
			if err := v.Decode(&b); err != nil {
				return Field{}, fail(v.Line, "array must be true or false, got %q", v.Value)
			}
			f.Array = f.Array || b
		case "description":
			f.Description = v.Value
		case "example", "example_value":
			f.Example = v.Value
		default:
			return Field{}, fail(k.Line, "unknown field key %q (want name, type, array, description, example)", k.Value)
		}
	}
	if f.Name == "" {
		return Field{}, fail(n.Line, "field has no name")
	}
	if typ == "" {
		return Field{}, fail(n.Line, "field %q has no type", f.Name)
	}
	if t, ok := strings.CutSuffix(strings.TrimSpace(typ), "[]"); ok {
		typ, f.Array = t, true
	}
	t, err := ParseType(typ)
	if err != nil {
		return Field{}, &FileError{File: file, Line: typeLine, Err: fmt.Errorf("field %q: %w", f.Name, err)}
	}
	f.Type = t
	return f, nil
}

// yamlError turns the YAML library's error into a FileError with the line.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		err = errors.New(te.Errors[0])
	}
	msg := err.Error()
	line := 0
	// The library reports "yaml: line N: ..."; lift N out.
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			fmt.Sscanf(rest[:i], "%d", &line)
			msg = strings.TrimSpace(rest[i+1:])
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &FileError{File: file, Line: line, Err: fmt.Errorf("invalid YAML: %s", msg)}
}

// Marshal writes d's custom fields as a schema file that Parse reads back.
func Marshal(d *Dataset) ([]byte, error) {
	type field struct {
		Name        string `yaml:"name"`
		Type        string `yaml:"type"`
		Array       bool   `yaml:"array,omitempty"`
		Description string `yaml:"description,omitempty"`
		Example     string `yaml:"example,omitempty"`
	}
	doc := struct {
		Group       string  `yaml:"group,omitempty"`
		CodeName    string  `yaml:"code_name"`
		Name        string  `yaml:"name"`
		Summary     string  `yaml:"summary,omitempty"`
		Description string  `yaml:"description,omitempty"`
		Kind        string  `yaml:"kind"`
		Fields      []field `yaml:"fields"`
	}{Group: d.Group, CodeName: d.CodeName, Name: d.Name, Summary: d.Summary, Description: d.Description, Kind: d.Kind.String()}
	for _, f := range d.CustomFields() {
		doc.Fields = append(doc.Fields, field{Name: f.Name, Type: f.Type.String(), Array: f.Array, Description: f.Description, Example: f.Example})
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}
