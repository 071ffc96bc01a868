package schema

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// The dataset message imports these files by path; registering them lets
	// descriptors built here resolve against protoregistry.GlobalFiles.
	_ "github.com/granaryhq/granary/proto/gen/datasets/v1"
	_ "google.golang.org/protobuf/types/known/durationpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
)

// Imports every dataset message file depends on, as the API delivers them.
var imports = []string{
	"google/protobuf/duration.proto",
	"google/protobuf/timestamp.proto",
	"datasets/v1/well_known_types.proto",
}

// MessageName is the dataset message's name: the code name in PascalCase.
func (d *Dataset) MessageName() string {
	var b strings.Builder
	up := true
	for _, r := range d.CodeName {
		if r == '_' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Package is the protobuf package of the dataset message, derived from the
// group ID so that datasets of different groups never clash in a registry.
func (d *Dataset) Package() string {
	return "datasets.v1.group_" + groupIDHex(d.GroupID)
}

// TypeURL is the dataset message's full name, as the API reports it.
func (d *Dataset) TypeURL() string { return d.Package() + "." + d.MessageName() }

// FileDescriptor builds the single-file descriptor the API delivers as a
// dataset's type: editions 2023 with no file options (so scalar fields have
// explicit presence), fields in number order.
func (d *Dataset) FileDescriptor() *descriptorpb.FileDescriptorProto {
	msg := &descriptorpb.DescriptorProto{Name: ptr(d.MessageName())}
	for _, f := range d.Fields {
		msg.Field = append(msg.Field, fieldDescriptor(f))
	}
	return &descriptorpb.FileDescriptorProto{
		Name:        ptr(fmt.Sprintf("datasets/v1/group_%s/%s.proto", groupIDHex(d.GroupID), d.MessageName())),
		Package:     ptr(d.Package()),
		Dependency:  append([]string(nil), imports...),
		MessageType: []*descriptorpb.DescriptorProto{msg},
		Syntax:      ptr("editions"),
		Edition:     descriptorpb.Edition_EDITION_2023.Enum(),
	}
}

// MessageDescriptor resolves the dataset message against the global registry.
func (d *Dataset) MessageDescriptor() (protoreflect.MessageDescriptor, error) {
	fd, err := protodesc.NewFile(d.FileDescriptor(), protoregistry.GlobalFiles)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: build message type: %w", d.Slug(), err)
	}
	return fd.Messages().Get(0), nil
}

func fieldDescriptor(f Field) *descriptorpb.FieldDescriptorProto {
	fd := &descriptorpb.FieldDescriptorProto{
		Name:     ptr(f.Name),
		Number:   ptr(f.Number),
		JsonName: ptr(jsonName(f.Name)),
		Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
	}
	if f.Array {
		fd.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	}
	typ, name := protoType(f.Type)
	fd.Type = typ.Enum()
	if name != "" {
		fd.TypeName = ptr(name)
	}
	return fd
}

func protoType(t Type) (descriptorpb.FieldDescriptorProto_Type, string) {
	msg := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	switch t {
	case String:
		return descriptorpb.FieldDescriptorProto_TYPE_STRING, ""
	case Int64:
		return descriptorpb.FieldDescriptorProto_TYPE_INT64, ""
	case Uint64:
		return descriptorpb.FieldDescriptorProto_TYPE_UINT64, ""
	case Float64:
		return descriptorpb.FieldDescriptorProto_TYPE_DOUBLE, ""
	case Bool:
		return descriptorpb.FieldDescriptorProto_TYPE_BOOL, ""
	case Bytes:
		return descriptorpb.FieldDescriptorProto_TYPE_BYTES, ""
	case Duration:
		return msg, ".google.protobuf.Duration"
	case Timestamp:
		return msg, ".google.protobuf.Timestamp"
	case UUID:
		return msg, ".datasets.v1.UUID"
	case Geometry:
		return msg, ".datasets.v1.Geometry"
	case Vec3:
		return msg, ".datasets.v1.Vec3"
	case Quaternion:
		return msg, ".datasets.v1.Quaternion"
	case LatLon:
		return msg, ".datasets.v1.LatLon"
	case LatLonAlt:
		return msg, ".datasets.v1.LatLonAlt"
	}
	return 0, ""
}

// TypeOf maps a field descriptor (as clients send it in a DatasetType) to a
// field type; other message and enum types are not supported.
func TypeOf(fd *descriptorpb.FieldDescriptorProto) (Type, bool, error) {
	array := fd.GetLabel() == descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	if fd.GetType() == descriptorpb.FieldDescriptorProto_TYPE_MESSAGE {
		name := fd.GetTypeName()
		for t := String; int(t) < len(typeNames); t++ {
			if pt, n := protoType(t); pt == descriptorpb.FieldDescriptorProto_TYPE_MESSAGE && (n == name || n[1:] == name) {
				return t, array, nil
			}
		}
		return 0, false, fmt.Errorf("field %q: message type %s is not supported", fd.GetName(), name)
	}
	for t := String; int(t) < len(typeNames); t++ {
		if pt, _ := protoType(t); pt == fd.GetType() {
			return t, array, nil
		}
	}
	return 0, false, fmt.Errorf("field %q: type %v is not supported", fd.GetName(), fd.GetType())
}

// FromDescriptor rebuilds a dataset's fields from the message of a delivered
// type (the inverse of FileDescriptor), e.g. for a remote client.
func FromDescriptor(kind Kind, msg *descriptorpb.DescriptorProto) ([]Field, error) {
	var out []Field
	for _, fd := range msg.GetField() {
		t, array, err := TypeOf(fd)
		if err != nil {
			return nil, err
		}
		out = append(out, Field{Name: fd.GetName(), Type: t, Array: array, Number: fd.GetNumber()})
	}
	return out, nil
}

// groupIDHex is the group id as the 32 hex digits used in package names.
func groupIDHex(id uuid.UUID) string { return strings.ReplaceAll(id.String(), "-", "") }

// jsonName is protoc's lowerCamelCase JSON name.
func jsonName(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }
