package ingest

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Text conversions: how a cell (CSV) or a string column (any format) is
// read as each field type. Surrounding ASCII spaces are ignored for every
// type but string.

func trim(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// parseInt64 reads a base-10 integer with an optional sign. Decimal points
// and exponents are rejected: "5.0" in an integer field is a mistake worth
// hearing about.
func parseInt64(s string) (int64, error) {
	v, err := strconv.ParseInt(trim(s), 10, 64)
	if err != nil {
		return 0, intErr(s, err, "int64 (-9223372036854775808 to 9223372036854775807)")
	}
	return v, nil
}

func parseUint64(s string) (uint64, error) {
	t := trim(s)
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		if strings.HasPrefix(t, "-") {
			if _, e2 := strconv.ParseInt(t, 10, 64); e2 == nil || errors.Is(e2, strconv.ErrRange) {
				return 0, errors.New("negative value in an unsigned field")
			}
		}
		return 0, intErr(s, err, "uint64 (0 to 18446744073709551615)")
	}
	return v, nil
}

func intErr(s string, err error, rng string) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("out of range for %s", rng)
	}
	if _, ferr := strconv.ParseFloat(trim(s), 64); ferr == nil {
		return errors.New("not an integer (a number with a decimal point or exponent cannot go into an integer field)")
	}
	return errors.New("not an integer")
}

// parseFloat64 reads a decimal or hexadecimal float; NaN, Inf, +Inf,
// -Inf, Infinity and -Infinity in any case. A value beyond float64's range
// is an error, not infinity.
func parseFloat64(s string) (float64, error) {
	t := trim(s)
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errors.New("out of range for float64")
		}
		if strings.Contains(t, ",") && !strings.ContainsAny(t, ".") {
			return 0, errors.New("not a number (decimal commas are not supported; use a point)")
		}
		return 0, errors.New("not a number")
	}
	return canonNaN(v), nil
}

// parseBool accepts true/false, 1/0 and yes/no in any case.
func parseBool(s string) (bool, error) {
	t := trim(s)
	switch {
	case t == "1" || strings.EqualFold(t, "true") || strings.EqualFold(t, "yes"):
		return true, nil
	case t == "0" || strings.EqualFold(t, "false") || strings.EqualFold(t, "no"):
		return false, nil
	}
	return false, errors.New("want true/false, 1/0 or yes/no")
}

// parseBytes reads 0x-prefixed hex, otherwise base64 (standard or URL
// alphabet, padded or not).
func parseBytes(s string) ([]byte, error) {
	t := trim(s)
	if len(t) >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		b, err := hex.DecodeString(t[2:])
		if err != nil {
			return nil, fmt.Errorf("bad hex after 0x: %v", err)
		}
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(t); err == nil {
			return b, nil
		}
	}
	_, err := base64.StdEncoding.DecodeString(t)
	return nil, fmt.Errorf("want base64 or 0x-prefixed hex (%v)", err)
}

var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

const timestampHint = "want an ISO 8601 / RFC 3339 time such as 2024-01-02T03:04:05.123Z, 2024-01-02T03:04:05+01:00, 2024-01-02 03:04:05 (UTC) or 2024-01-02"

// parseTimestamp reads ISO 8601 / RFC 3339 times into unix nanoseconds:
//
//	YYYY-MM-DD                                  midnight UTC
//	YYYY-MM-DD(T|t| )hh:mm[:ss[(.|,)f{1,9}]][zone]
//	zone: Z, z, ±hh:mm, ±hhmm, ±hh; absent means UTC
//
// Bare numbers are rejected: unix seconds and milliseconds cannot be told
// apart. So are leap seconds (23:59:60), more than nine fractional digits
// (sub-nanosecond precision would be lost) and times outside the int64
// nanosecond range (1677-09-21 to 2262-04-11).
func parseTimestamp(s string) (int64, error) {
	t := trim(s)
	if isNumber(t) {
		return 0, errors.New("a bare number is ambiguous (unix seconds? milliseconds?); " + timestampHint)
	}
	p := tsParser{s: t}
	year := p.digits(4)
	p.expect('-')
	month := p.digits(2)
	p.expect('-')
	day := p.digits(2)
	var hour, minute, sec, nanos, offset int
	if p.err == nil && p.i < len(p.s) {
		if c := p.s[p.i]; c == 'T' || c == 't' || c == ' ' {
			p.i++
		} else {
			p.fail()
		}
		hour = p.digits(2)
		p.expect(':')
		minute = p.digits(2)
		if p.peek(':') {
			p.i++
			sec = p.digits(2)
			if p.peek('.') || p.peek(',') {
				p.i++
				start := p.i
				for p.i < len(p.s) && isDigit(p.s[p.i]) {
					p.i++
				}
				n := p.i - start
				switch {
				case n == 0:
					p.fail()
				case n > 9:
					if p.err == nil {
						p.err = errors.New("more than 9 fractional digits: timestamps keep nanoseconds")
					}
				default:
					nanos, _ = strconv.Atoi(p.s[start:p.i])
					for ; n < 9; n++ {
						nanos *= 10
					}
				}
			}
		}
		if p.err == nil && p.i < len(p.s) {
			switch c := p.s[p.i]; c {
			case 'Z', 'z':
				p.i++
			case '+', '-':
				p.i++
				oh := p.digits(2)
				om := 0
				if p.peek(':') {
					p.i++
					om = p.digits(2)
				} else if p.i < len(p.s) && isDigit(p.s[p.i]) {
					om = p.digits(2)
				}
				if p.err == nil && (oh > 23 || om > 59) {
					p.err = fmt.Errorf("bad UTC offset %s", p.s[strings.LastIndexAny(p.s, "+-"):])
				}
				offset = (oh*60 + om) * 60
				if c == '-' {
					offset = -offset
				}
			default:
				p.fail()
			}
		}
	}
	if p.err == nil && p.i != len(p.s) {
		p.fail()
	}
	if p.err != nil {
		return 0, p.err
	}
	switch {
	case month < 1 || month > 12:
		return 0, errors.New("month out of range")
	case day < 1 || day > daysIn(year, month):
		return 0, errors.New("day out of range")
	case hour > 23:
		return 0, errors.New("hour out of range")
	case minute > 59:
		return 0, errors.New("minute out of range")
	case sec == 60:
		return 0, errors.New("leap seconds (:60) are not supported")
	case sec > 59:
		return 0, errors.New("second out of range")
	}
	tm := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC).Add(-time.Duration(offset) * time.Second)
	if tm.Before(minTime) || tm.After(maxTime) {
		return 0, errors.New("out of range: timestamps are int64 nanoseconds, 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z")
	}
	return tm.UnixNano(), nil
}

type tsParser struct {
	s   string
	i   int
	err error
}

func (p *tsParser) fail() {
	if p.err == nil {
		p.err = errors.New(timestampHint)
	}
}

func (p *tsParser) peek(c byte) bool { return p.err == nil && p.i < len(p.s) && p.s[p.i] == c }

func (p *tsParser) expect(c byte) {
	if !p.peek(c) {
		p.fail()
		return
	}
	p.i++
}

func (p *tsParser) digits(n int) int {
	if p.err != nil {
		return 0
	}
	if p.i+n > len(p.s) {
		p.fail()
		return 0
	}
	v := 0
	for _, c := range []byte(p.s[p.i : p.i+n]) {
		if !isDigit(c) {
			p.fail()
			return 0
		}
		v = v*10 + int(c-'0')
	}
	p.i += n
	return v
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isNumber reports whether s is a plain decimal number (digits, sign,
// point, exponent), such as a unix time.
func isNumber(s string) bool {
	for _, c := range []byte(s) {
		if !isDigit(c) && c != '.' && c != 'e' && c != 'E' && c != '-' && c != '+' {
			return false
		}
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

const durationHint = "want a Go duration such as 1h2m3.5s, -90m or 250ms, or an ISO 8601 duration such as PT1H30M or P1DT2H"

// parseDuration reads a Go duration (1h2m3.5s, -90m, 1us, 0) or an ISO 8601
// duration ([-]PnW or [-]PnDTnHnMnS, fractions allowed, a day is 24 hours)
// into nanoseconds. ISO years and months are rejected (no fixed length).
func parseDuration(s string) (int64, error) {
	t := trim(s)
	body := strings.TrimLeft(t, "+-")
	if body != "" && (body[0] == 'P' || body[0] == 'p') {
		return parseISODuration(t)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "time: ")
		if strings.Contains(msg, "invalid duration") {
			return 0, errors.New(durationHint)
		}
		return 0, fmt.Errorf("%s; %s", msg, durationHint)
	}
	return int64(d), nil
}

var isoUnits = map[byte]int64{
	'W': 7 * 24 * 3600 * 1e9,
	'D': 24 * 3600 * 1e9,
	'H': 3600 * 1e9,
	'M': 60 * 1e9, // after T
	'S': 1e9,
}

func parseISODuration(s string) (int64, error) {
	u := strings.ToUpper(s)
	neg := false
	switch {
	case strings.HasPrefix(u, "-"):
		neg, u = true, u[1:]
	case strings.HasPrefix(u, "+"):
		u = u[1:]
	}
	u = u[1:] // the P
	total := new(big.Rat)
	inTime, any, lastUnit := false, false, -1
	order := "WDHMS"
	for len(u) > 0 {
		if u[0] == 'T' {
			if inTime {
				return 0, errors.New(durationHint)
			}
			inTime, u = true, u[1:]
			if u == "" {
				return 0, errors.New(durationHint)
			}
			continue
		}
		i := 0
		for i < len(u) && (isDigit(u[i]) || u[i] == '.' || u[i] == ',') {
			i++
		}
		if i == 0 || i == len(u) {
			return 0, errors.New(durationHint)
		}
		num, unit := strings.Replace(u[:i], ",", ".", 1), u[i]
		u = u[i+1:]
		if !inTime && (unit == 'Y' || unit == 'M') {
			return 0, errors.New("ISO 8601 years and months have no fixed length; use days (P30D) or hours")
		}
		if inTime != (unit == 'H' || unit == 'M' || unit == 'S') {
			return 0, errors.New(durationHint)
		}
		pos := strings.IndexByte(order, unit)
		if pos < 0 || pos <= lastUnit {
			return 0, errors.New(durationHint)
		}
		lastUnit = pos
		r, ok := new(big.Rat).SetString(num)
		if !ok {
			return 0, errors.New(durationHint)
		}
		total.Add(total, r.Mul(r, new(big.Rat).SetInt64(isoUnits[unit])))
		any = true
	}
	if !any {
		return 0, errors.New(durationHint)
	}
	if !total.IsInt() {
		return 0, errors.New("finer than a nanosecond")
	}
	n := total.Num()
	if neg {
		n.Neg(n)
	}
	if !n.IsInt64() {
		return 0, errors.New("out of range: durations are int64 nanoseconds (about ±292 years)")
	}
	return n.Int64(), nil
}

// parseUUID accepts the canonical form in either case, with braces, with a
// urn:uuid: prefix, or as 32 hex digits without dashes.
func parseUUID(s string) ([16]byte, error) {
	u, err := uuid.Parse(trim(s))
	if err != nil {
		return u, fmt.Errorf("want a UUID such as 123e4567-e89b-12d3-a456-426614174000 (%v)", err)
	}
	return u, nil
}

// parseTuple reads the members of vec3, quaternion, latlon or latlonalt,
// in the order names gives: "[1, 2, 3]", "1 2 3", "1, 2, 3", or a JSON
// object keyed by member name ({"x": 1, "y": 2, "z": 3}).
func parseTuple(s string, names []string) ([]float64, error) {
	t := trim(s)
	want := func() error {
		return fmt.Errorf("want %d numbers (%s) as [%s] or a JSON object", len(names), strings.Join(names, ", "), strings.Join(names, ", "))
	}
	if strings.HasPrefix(t, "{") {
		var m map[string]float64
		if err := json.Unmarshal([]byte(t), &m); err != nil {
			return nil, fmt.Errorf("%v: %w", err, want())
		}
		out := make([]float64, len(names))
		for i, n := range names {
			v, ok := m[n]
			if !ok {
				return nil, fmt.Errorf("member %q is missing", n)
			}
			out[i] = v
		}
		if len(m) != len(names) {
			return nil, fmt.Errorf("unknown members: %w", want())
		}
		return out, nil
	}
	if strings.HasPrefix(t, "[") != strings.HasSuffix(t, "]") {
		return nil, want()
	}
	t = strings.TrimSuffix(strings.TrimPrefix(t, "["), "]")
	var parts []string
	if strings.Contains(t, ",") {
		parts = strings.Split(t, ",")
	} else {
		parts = strings.Fields(t)
	}
	if len(parts) != len(names) {
		return nil, want()
	}
	out := make([]float64, len(names))
	for i, p := range parts {
		v, err := parseFloat64(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", names[i], err)
		}
		out[i] = v
	}
	return out, nil
}

// element is one item of an array literal.
type element struct {
	text   string // unquoted content of a string, or the raw token
	quoted bool
	null   bool
}

// splitArray reads a JSON-ish array literal: "[-12.15, 13.45]",
// `["a", "b"]`, "[]", "[1, null, 3]", "[[1,2,3], [4,5,6]]". Elements are
// JSON strings, null, nested [...] or {...} (kept as raw text), or bare
// tokens such as numbers, NaN, Infinity or unquoted times.
func splitArray(s string) ([]element, error) {
	t := trim(s)
	if t == "" || t[0] != '[' {
		return nil, errors.New("want an array literal such as [1.5, 2] or [\"a\", \"b\"]")
	}
	out := make([]element, 0, strings.Count(t, ",")+1)
	i := 1
	skip := func() {
		for i < len(t) && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n') {
			i++
		}
	}
	skip()
	if i < len(t) && t[i] == ']' {
		i++
		skip()
		if i != len(t) {
			return nil, fmt.Errorf("unexpected text after ]: %q", clip(t[i:]))
		}
		return []element{}, nil
	}
	for {
		skip()
		if i >= len(t) {
			return nil, errors.New("unterminated array: missing ]")
		}
		var e element
		switch c := t[i]; c {
		case '"':
			end, err := scanString(t, i)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", len(out)+1, err)
			}
			if err := json.Unmarshal([]byte(t[i:end]), &e.text); err != nil {
				return nil, fmt.Errorf("element %d: bad JSON string: %v", len(out)+1, err)
			}
			e.quoted = true
			i = end
		case '[', '{':
			end, err := scanNested(t, i)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", len(out)+1, err)
			}
			e.text = t[i:end]
			i = end
		case ',', ']':
			return nil, fmt.Errorf("element %d is empty", len(out)+1)
		default:
			start := i
			for i < len(t) && t[i] != ',' && t[i] != ']' && t[i] != '"' && t[i] != '[' && t[i] != '{' {
				i++
			}
			e.text = trim(t[start:i])
			if e.text == "null" {
				e = element{null: true}
			}
		}
		out = append(out, e)
		skip()
		if i >= len(t) {
			return nil, errors.New("unterminated array: missing ]")
		}
		switch t[i] {
		case ',':
			i++
			skip()
			if i < len(t) && t[i] == ']' {
				return nil, errors.New("trailing comma")
			}
		case ']':
			i++
			skip()
			if i != len(t) {
				return nil, fmt.Errorf("unexpected text after ]: %q", clip(t[i:]))
			}
			return out, nil
		default:
			return nil, fmt.Errorf("element %d: want , or ] after it", len(out))
		}
	}
}

// scanString returns the index after the JSON string starting at t[i].
func scanString(t string, i int) (int, error) {
	for j := i + 1; j < len(t); j++ {
		switch t[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

// scanNested returns the index after the bracketed value starting at t[i].
func scanNested(t string, i int) (int, error) {
	depth := 0
	for j := i; j < len(t); j++ {
		switch t[j] {
		case '"':
			end, err := scanString(t, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, errors.New("unterminated nested value")
}
