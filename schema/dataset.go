package schema

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// Dataset is a dataset's identity and schema. Fields holds every field in
// field-number order, the required ones of Kind first.
type Dataset struct {
	ID          uuid.UUID
	GroupID     uuid.UUID
	Group       string // the group's code name, the first part of the slug
	CodeName    string
	Name        string
	Summary     string
	Description string
	Kind        Kind
	Fields      []Field
}

var codeNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// ValidCodeName reports whether s may be used as a group or dataset code name
// (the API's rule: lower snake_case, 1-100 characters).
func ValidCodeName(s string) bool {
	return len(s) >= 1 && len(s) <= 100 && codeNameRe.MatchString(s)
}

// Slug is the dataset's full dotted name, group code name first.
func (d *Dataset) Slug() string {
	if d.Group == "" {
		return d.CodeName
	}
	return d.Group + "." + d.CodeName
}

// SplitSlug splits "group.code_name" into its parts; a bare code name has no group.
func SplitSlug(slug string) (group, codeName string) {
	if i := strings.LastIndexByte(slug, '.'); i >= 0 {
		return slug[:i], slug[i+1:]
	}
	return "", slug
}

// Field returns the field with the given name.
func (d *Dataset) Field(name string) (Field, bool) {
	for _, f := range d.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// CustomFields returns the fields after the kind's required ones.
func (d *Dataset) CustomFields() []Field {
	var out []Field
	for _, f := range d.Fields {
		if !IsRequiredFor(d.Kind, f.Name) {
			out = append(out, f)
		}
	}
	return out
}

// IsRequiredFor reports whether name is a required field of kind k.
func IsRequiredFor(k Kind, name string) bool {
	switch name {
	case FieldTime, FieldID, FieldIngestionTime:
		return true
	case FieldGeometry:
		return k == SpatioTemporal
	}
	return false
}

// New builds a dataset of kind k with the required fields followed by the
// custom fields, numbered in order. It checks names and types.
func New(group, codeName, name string, k Kind, custom []Field) (*Dataset, error) {
	d := &Dataset{Group: group, CodeName: codeName, Name: name, Kind: k}
	if err := d.SetFields(custom); err != nil {
		return nil, err
	}
	return d, d.Validate()
}

// SetFields replaces the custom fields, keeping the required ones and
// numbering the custom ones after them in the given order. Numbers already
// set on custom fields are kept, so that stored datapoints stay decodable
// when a field is added to an existing dataset.
func (d *Dataset) SetFields(custom []Field) error {
	req := RequiredFields(d.Kind)
	fields := append([]Field(nil), req...)
	next := int32(len(req) + 1)
	for _, f := range custom {
		if f.Number >= next {
			next = f.Number + 1
		}
	}
	for _, f := range custom {
		if IsRequiredFor(d.Kind, f.Name) {
			return fmt.Errorf("field %q: the name is reserved for the field every %s datapoint has", f.Name, d.Kind)
		}
		if f.Number == 0 {
			f.Number = next
			next++
		}
		fields = append(fields, f)
	}
	d.Fields = fields
	return nil
}

// Validate checks the dataset's names, kind and fields.
func (d *Dataset) Validate() error {
	if d.Kind != Temporal && d.Kind != SpatioTemporal {
		return fmt.Errorf("dataset kind must be temporal or spatiotemporal, got %v", d.Kind)
	}
	if !ValidCodeName(d.CodeName) {
		return fmt.Errorf("code name %q: want lower snake_case starting with a letter (e.g. my_dataset), at most 100 characters", d.CodeName)
	}
	if d.Group != "" && !ValidCodeName(d.Group) {
		return fmt.Errorf("group %q: want a lower snake_case code name (e.g. my_org)", d.Group)
	}
	if n := len(d.Name); n < 1 || n > 100 {
		return fmt.Errorf("dataset name must have 1 to 100 characters, got %d", n)
	}
	seenName := map[string]bool{}
	seenNum := map[int32]string{}
	for i, f := range d.Fields {
		if !ValidCodeName(f.Name) {
			return fmt.Errorf("field %d %q: field names are snake_case: a lower-case letter, then lower-case letters, digits or underscores", i+1, f.Name)
		}
		if seenName[f.Name] {
			return fmt.Errorf("field %q is defined twice", f.Name)
		}
		seenName[f.Name] = true
		if f.Type <= TypeUnspecified || int(f.Type) >= len(typeNames) {
			return fmt.Errorf("field %q: unknown type %v", f.Name, f.Type)
		}
		if f.Number <= 0 {
			return fmt.Errorf("field %q has no field number", f.Name)
		}
		if other, ok := seenNum[f.Number]; ok {
			return fmt.Errorf("fields %q and %q share field number %d", other, f.Name, f.Number)
		}
		seenNum[f.Number] = f.Name
	}
	for _, r := range RequiredFields(d.Kind) {
		f, ok := d.Field(r.Name)
		if !ok || f.Number != r.Number || f.Type != r.Type || f.Array {
			return fmt.Errorf("required field %q must be a %v with number %d", r.Name, r.Type, r.Number)
		}
	}
	return nil
}

// Compatible reports why fields of d cannot change into those of next while
// the dataset holds datapoints: a removed field, or one whose type changed.
// Adding fields is always allowed.
func (d *Dataset) Compatible(next *Dataset) error {
	if d.Kind != next.Kind {
		return fmt.Errorf("the kind of a dataset cannot change (%v → %v)", d.Kind, next.Kind)
	}
	for _, f := range d.Fields {
		g, ok := next.Field(f.Name)
		if !ok {
			return fmt.Errorf("field %q would be removed", f.Name)
		}
		if g.Type != f.Type || g.Array != f.Array || g.Number != f.Number {
			return fmt.Errorf("field %q would change from %s to %s", f.Name, f.TypeString(), g.TypeString())
		}
	}
	return nil
}

// TypeString is the field's type as written in a schema file, e.g. "float64[]".
func (f Field) TypeString() string {
	if f.Array {
		return f.Type.String() + "[]"
	}
	return f.Type.String()
}
