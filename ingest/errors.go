package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a failure tied to a place in an input file: a row, a column, or
// both. Every conversion failure the mapper reports is an *Error, and so is
// a malformed CSV record.
type Error struct {
	File   string // the file as the caller named it
	Row    int64  // 1-based data row (the header is not a row); 0 if the error is not about one row
	Line   int64  // 1-based line where the row starts (CSV only; 0 otherwise)
	Column string // the source column, if the error is about one
	Value  string // the offending value as text (truncated when long), if any
	Err    error

	// Target is the field type the value was converted to (e.g. "float64",
	// "timestamp[]"); with Value it makes "cannot parse VALUE as TARGET".
	Target string
	// parse selects "cannot parse" (text sources) over "cannot convert".
	parse bool
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	}
	sep := func() {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
	}
	if e.Row > 0 {
		sep()
		fmt.Fprintf(&b, "row %d", e.Row)
		if e.Line > 0 {
			fmt.Fprintf(&b, " (line %d)", e.Line)
		}
	} else if e.Line > 0 {
		sep()
		fmt.Fprintf(&b, "line %d", e.Line)
	}
	if e.Column != "" {
		if e.Row > 0 || e.Line > 0 {
			b.WriteString(", ")
		} else {
			sep()
		}
		fmt.Fprintf(&b, "column %q", e.Column)
	}
	sep()
	if e.Target != "" {
		switch {
		case e.parse:
			fmt.Fprintf(&b, "cannot parse %q as %s", e.Value, e.Target)
		case e.Value != "":
			fmt.Fprintf(&b, "cannot convert %q to %s", e.Value, e.Target)
		default:
			fmt.Fprintf(&b, "cannot convert the value to %s", e.Target)
		}
		if e.Err != nil {
			b.WriteString(": ")
		}
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// maxValueLen bounds the value quoted in an error (a WKT polygon can be
// megabytes long).
const maxValueLen = 120

func clip(s string) string {
	if len(s) <= maxValueLen {
		return s
	}
	cut := maxValueLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes)", len(s))
}

// plainErr strips the "strconv.ParseFloat: parsing "x": " prefix that
// would repeat the value the message already quotes.
func plainErr(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}
