package convert

import (
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
)

func consumeField(b []byte) int {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return n
	}
	m := protowire.ConsumeFieldValue(num, typ, b[n:])
	if m < 0 {
		return m
	}
	return n + m
}

func asRowError(err error, re **RowError) bool { return errors.As(err, re) }
