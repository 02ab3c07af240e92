package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// BodyError is a request body that is not the JSON its request takes, said
// for people: which value (Field, a JSON path such as "location.lat"; for an
// item of a batch, Index and the path inside the item) and what form it must
// have. It never names a Go type or a Go time layout.
type BodyError struct {
	Index   int    // the batch item, or -1
	Field   string // where, "" for the body as a whole
	Message string
}

func (e *BodyError) Error() string { return e.Message }

// ExampleTime is the timestamp the messages show as the form to send.
const ExampleTime = "2026-11-23T10:00:00Z"

// explain says why raw did not decode into a value of type t, given the
// decoder's error: the JSON decoder decides whether a body is refused, this
// finds the first value (in document order) that made it so and words it.
func explain(raw []byte, t reflect.Type, err error) *BodyError {
	var syntax *json.SyntaxError
	switch {
	case len(bytes.TrimSpace(raw)) == 0:
		return &BodyError{Index: -1, Message: "the body is empty; send a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &BodyError{Index: -1, Message: "the body is not valid JSON: it ends before its JSON value does"}
	case errors.As(err, &syntax) && strings.Contains(syntax.Error(), "max depth"):
		return &BodyError{Index: -1, Message: "the body nests arrays or objects too deeply"}
	case errors.As(err, &syntax):
		return &BodyError{Index: -1, Message: fmt.Sprintf("the body is not valid JSON: %s (at byte %d)", syntax.Error(), syntax.Offset)}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if found := mismatch(raw, t, nil); found != nil {
		return found.bodyError(t)
	}
	// The walk agrees with the decoder on everything the API decodes; this
	// is for a form it does not know.
	return &BodyError{Index: -1, Message: "the body does not have the form this request takes; see /docs"}
}

// step is one level of a JSON path: an object key, or an array index.
type step struct {
	key   string
	index int // when key == ""
}

type jsonPath []step

// child is p one level down, in a slice of its own (p is shared by siblings).
func (p jsonPath) child(s step) jsonPath { return append(p[:len(p):len(p)], s) }

func (p jsonPath) String() string {
	var b strings.Builder
	for _, s := range p {
		if s.key == "" {
			fmt.Fprintf(&b, "[%d]", s.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// found is the first value that does not fit: where, and what is wrong
// with it (a phrase that follows the value's name).
type found struct {
	at      jsonPath
	problem string
}

// bodyError words f; a problem inside an item of a batch (a list field of
// the body) also names the item, as validation errors do.
func (f *found) bodyError(body reflect.Type) *BodyError {
	e := &BodyError{Index: -1, Field: f.at.String()}
	subject := "the body"
	if len(f.at) > 0 {
		subject = f.at.String()
	}
	e.Message = subject + " " + f.problem
	if len(f.at) >= 2 && f.at[0].key != "" && f.at[1].key == "" {
		if sf, ok := fieldByName(body, f.at[0].key); ok && sf.Type.Kind() == reflect.Slice {
			e.Index = f.at[1].index
			e.Field = f.at[2:].String()
		}
	}
	return e
}

var (
	timeType        = reflect.TypeFor[time.Time]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// mismatch walks raw along t and returns the first value that does not fit.
func mismatch(raw []byte, t reflect.Type, at jsonPath) *found {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil // null leaves the zero value, as the decoder does
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	wrong := func() *found { return &found{at, "must be " + expected(t) + ", not " + described(raw)} }
	if t == rawMessageType {
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
			return wrong()
		}
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		if raw[0] != '"' {
			return wrong()
		}
	case reflect.Bool:
		if string(raw) != "true" && string(raw) != "false" {
			return wrong()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !isNumber(raw) {
			return wrong()
		}
		if _, err := strconv.ParseInt(string(raw), 10, t.Bits()); err != nil {
			lo, hi := -(int64(1) << (t.Bits() - 1)), int64(1)<<(t.Bits()-1)-1
			return &found{at, fmt.Sprintf("must be a whole number from %d to %d, not %s", lo, hi, raw)}
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !isNumber(raw) {
			return wrong()
		}
		if _, err := strconv.ParseUint(string(raw), 10, t.Bits()); err != nil {
			return &found{at, fmt.Sprintf("must be a whole number from 0 to %d, not %s", uint64(math.MaxUint64)>>(64-t.Bits()), raw)}
		}
	case reflect.Float32, reflect.Float64:
		if !isNumber(raw) {
			return wrong()
		}
		if _, err := strconv.ParseFloat(string(raw), t.Bits()); err != nil {
			largest := math.MaxFloat64
			if t.Bits() == 32 {
				largest = math.MaxFloat32
			}
			return &found{at, fmt.Sprintf("must be a number from -%.3g to %.3g, not %s", largest, largest, raw)}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
			return wrong()
		}
		for i, item := range items {
			if f := mismatch(item, t.Elem(), at.child(step{index: i})); f != nil {
				return f
			}
		}
	case reflect.Map:
		members, ok := objectMembers(raw)
		if !ok {
			return wrong()
		}
		for _, m := range members {
			if f := mismatch(m.value, t.Elem(), at.child(step{key: m.key})); f != nil {
				return f
			}
		}
	case reflect.Struct:
		members, ok := objectMembers(raw)
		if !ok {
			return wrong()
		}
		for _, m := range members {
			sf, known := fieldByName(t, m.key)
			if !known {
				return &found{at, fmt.Sprintf("has an unknown field %q; its fields are %s", m.key, strings.Join(fieldNames(t), ", "))}
			}
			if f := mismatch(m.value, sf.Type, at.child(step{key: sf.Name})); f != nil {
				return f
			}
		}
	}
	return nil
}

func isNumber(raw []byte) bool { return raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' }

// expected names the form of a Go type in JSON words.
func expected(t reflect.Type) string {
	switch {
	case t == timeType:
		return "an RFC 3339 time such as " + strconv.Quote(ExampleTime)
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "a list [...]"
	case t.Kind() == reflect.Map:
		return "an object {...}"
	case t.Kind() == reflect.Struct:
		return "an object {...} with the fields " + strings.Join(fieldNames(t), ", ")
	}
	return "another form"
}

// described names what a JSON value is, quoting a short string or number.
func described(raw []byte) string {
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil && utf8.RuneCountInString(s) <= 40 {
			return "the string " + strconv.Quote(s)
		}
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "a list"
	case c == 't' || c == 'f':
		return string(raw)
	case len(raw) <= 40:
		return "the number " + string(raw)
	}
	return "a number"
}

type member struct {
	key   string
	value json.RawMessage
}

// objectMembers reads an object's members in the order they are written.
func objectMembers(raw []byte) ([]member, bool) {
	if raw[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		if err != nil || !isKey {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		out = append(out, member{key, v})
	}
	return out, true
}

// jsonFields lists a struct's JSON fields as encoding/json sees them:
// exported, named by their tag, embedded structs' fields promoted.
func jsonFields(t reflect.Type) []reflect.StructField {
	var out []reflect.StructField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(sf.Type)...)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		sf.Name = name
		out = append(out, sf)
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for _, sf := range jsonFields(t) {
		names = append(names, sf.Name)
	}
	return names
}

// fieldByName finds the field a key decodes into: its exact name, else a
// case-insensitive match, as encoding/json does.
func fieldByName(t reflect.Type, key string) (reflect.StructField, bool) {
	fields := jsonFields(t)
	for _, sf := range fields {
		if sf.Name == key {
			return sf, true
		}
	}
	for _, sf := range fields {
		if strings.EqualFold(sf.Name, key) {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}
