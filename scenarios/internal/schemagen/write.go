package schemagen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// schema is one JSON Schema object. Its keywords are written in the order
// of keywordOrder, so that the output reads top-down and stays stable.
type schema map[string]any

// props is the "properties" of an object schema, in the order the Go
// struct declares its fields: the order a reader of the type expects.
type props []prop

type prop struct {
	key string
	s   schema
}

// keywordOrder ranks the keywords the generator writes; other keys (names
// in $defs) follow in lexical order.
var keywordOrder = []string{
	"$schema", "$id", "$ref", "title", "description", "type", "const", "enum",
	"format", "pattern", "minLength", "maxLength", "minimum", "maximum",
	"items", "minItems", "maxItems", "propertyNames", "properties",
	"additionalProperties", "required", "minProperties", "maxProperties",
	"oneOf", "anyOf", "allOf", "$defs",
}

// marshal writes v as indented JSON with a final newline. Strings keep
// "<", ">" and "&" as they are: the file is read by people too.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := write(&b, v, ""); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func write(b *bytes.Buffer, v any, indent string) error {
	in := indent + "  "
	switch t := v.(type) {
	case schema:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y string) int {
			rx, ry := rank(x), rank(y)
			if rx != ry {
				return rx - ry
			}
			return strings.Compare(x, y)
		})
		return writeObject(b, len(keys), indent, func(i int) (string, any) { return keys[i], t[keys[i]] })
	case map[string]schema:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return writeObject(b, len(keys), indent, func(i int) (string, any) { return keys[i], t[keys[i]] })
	case props:
		return writeObject(b, len(t), indent, func(i int) (string, any) { return t[i].key, t[i].s })
	case []any:
		if len(t) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteString("[\n")
		for i, e := range t {
			b.WriteString(in)
			if err := write(b, e, in); err != nil {
				return err
			}
			if i < len(t)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case []string:
		l := make([]any, len(t))
		for i, s := range t {
			l[i] = s
		}
		return write(b, l, indent)
	case string:
		var sb bytes.Buffer
		enc := json.NewEncoder(&sb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(t); err != nil {
			return err
		}
		b.Write(bytes.TrimSuffix(sb.Bytes(), []byte("\n")))
	case int:
		fmt.Fprint(b, t)
	case bool:
		fmt.Fprint(b, t)
	default:
		return fmt.Errorf("internal: cannot write %T", v)
	}
	return nil
}

func writeObject(b *bytes.Buffer, n int, indent string, at func(int) (string, any)) error {
	if n == 0 {
		b.WriteString("{}")
		return nil
	}
	in := indent + "  "
	b.WriteString("{\n")
	for i := range n {
		k, v := at(i)
		b.WriteString(in)
		if err := write(b, k, in); err != nil {
			return err
		}
		b.WriteString(": ")
		if err := write(b, v, in); err != nil {
			return err
		}
		if i < n-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(indent + "}")
	return nil
}

func rank(k string) int {
	if i := slices.Index(keywordOrder, k); i >= 0 {
		return i
	}
	return len(keywordOrder)
}
