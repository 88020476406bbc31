package api

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// strictJSON is how the API reads every JSON request body: encoding/json/v2
// semantics (github.com/go-json-experiment/json), whose defaults already
// match member names exactly (case-sensitively), refuse a name that appears
// twice in one object and refuse strings that are not valid UTF-8, plus
// refusing names the target does not have. encoding/json (v1) matched
// "Body" to body and let the last of two "body" keys win: two readers of
// the same request (a proxy or WAF and the gateway) could see two different
// messages.
var strictJSON = jsonv2.RejectUnknownMembers(true)

// decodeStrict decodes data into v (a pointer) with strictJSON. Every error
// is an *Error (400) naming the field where the decoder stopped, as a path
// such as "to.phone", "tags[1]" or "metadata.order" ("" for the body as a
// whole). The location comes from the decoder's typed errors
// (jsontext.SyntacticError, jsonv2.SemanticError), never from their text.
func decodeStrict(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return badRequest("invalid_json", "", "request body is empty; send a JSON object")
	}
	if err := jsonv2.Unmarshal(data, v, strictJSON); err != nil {
		return jsonError(err, reflect.TypeOf(v).Elem())
	}
	return nil
}

// jsonError turns a decoding error of a value of type root into an *Error.
func jsonError(err error, root reflect.Type) *Error {
	var syn *jsontext.SyntacticError
	var sem *jsonv2.SemanticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &syn):
		field := fieldPath(root, syn.JSONPointer)
		return badRequest("invalid_json", field, "duplicate key %q in %s: a key may appear only once in an object", syn.JSONPointer.LastToken(), orBody(parentPath(field)))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("invalid_json", "", "JSON ends too early")
	case errors.As(err, &syn):
		return badRequest("invalid_json", fieldPath(root, syn.JSONPointer), "malformed JSON at byte %d: %v", syn.ByteOffset, syn.Err)
	case errors.Is(err, jsonv2.ErrUnknownName) && errors.As(err, &sem):
		return unknownFieldError(root, sem)
	case errors.As(err, &sem):
		field := fieldPath(root, sem.JSONPointer)
		if sem.JSONKind != 0 && sem.GoType != nil {
			code := "invalid_field"
			if field == "" {
				code = "invalid_json"
			}
			return badRequest(code, field, "%s must be a JSON %s, not %s", orBody(field), jsonType(sem.GoType), kindName(sem.JSONKind))
		}
		return badRequest("invalid_field", field, "%s has an invalid value", orBody(field))
	}
	return badRequest("invalid_json", "", "malformed JSON")
}

// unknownFieldError names a member the target does not have; when it
// differs from a real one only in case, it says so, since that is what the
// old case-insensitive decoding accepted.
func unknownFieldError(root reflect.Type, sem *jsonv2.SemanticError) *Error {
	field := fieldPath(root, sem.JSONPointer)
	name := sem.JSONPointer.LastToken()
	var known []string
	if t := sem.GoType; t != nil {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct {
			known = jsonNames(t)
		}
	}
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return badRequest("unknown_field", field, "unknown field %q: field names are case-sensitive, did you mean %q?", field, k)
		}
	}
	if len(known) > 0 {
		return badRequest("unknown_field", field, "unknown field %q (%s takes %s)", field, orBody(parentPath(field)), strings.Join(known, ", "))
	}
	return badRequest("unknown_field", field, "unknown field %q", field)
}

// fieldPath spells a JSON pointer into a value of type t the way the API
// names fields: object members joined with ".", array elements as "[i]".
// Walking the Go type, not guessing from the tokens, keeps a metadata key
// "0" a key and a tags index an index.
func fieldPath(t reflect.Type, ptr jsontext.Pointer) string {
	var b strings.Builder
	for tok := range ptr.Tokens() {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == rawValueType {
			t = nil // a raw value: its inside has no Go type to follow
		}
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			b.WriteString("[" + tok + "]")
			t = t.Elem()
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
		switch {
		case t == nil:
		case t.Kind() == reflect.Map:
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			t = fieldType(t, tok)
		default:
			t = nil
		}
	}
	return b.String()
}

var rawValueType = reflect.TypeFor[jsontext.Value]()

// parentPath is the path of the object holding field ("" for the body).
func parentPath(field string) string {
	if i := strings.LastIndexAny(field, ".["); i >= 0 {
		return field[:i]
	}
	return ""
}

// jsonFields lists the JSON names of struct t's fields with their types,
// in declaration order, inlining embedded structs as encoding/json does.
func jsonFields(t reflect.Type, visit func(name string, ft reflect.Type)) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if (f.Anonymous && name == "") || strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				jsonFields(ft, visit)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		visit(name, f.Type)
	}
}

func jsonNames(t reflect.Type) []string {
	var out []string
	jsonFields(t, func(name string, _ reflect.Type) { out = append(out, name) })
	return out
}

func fieldType(t reflect.Type, name string) reflect.Type {
	var out reflect.Type
	jsonFields(t, func(n string, ft reflect.Type) {
		if n == name && out == nil {
			out = ft
		}
	})
	return out
}

func orBody(field string) string {
	if field == "" {
		return "the request body"
	}
	return field
}

// jsonType names the JSON type a Go type is decoded from.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	}
	return "value"
}

// kindName names a JSON kind for a message.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return strconv.Quote(string(rune(k)))
}
