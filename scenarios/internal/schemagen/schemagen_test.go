package schemagen

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mxsim/mxsim/scenarios/internal/schemagen/internal/fixture"
)

// fixtureShapes is a shapes table for package fixture.
var fixtureShapes = map[string]shape{
	"Odd": func(g *gen, t reflect.Type) schema {
		return oneOf(schema{"type": "integer"}, g.object(t))
	},
}

// get walks a decoded schema along keys.
func get(t *testing.T, v any, path ...string) any {
	t.Helper()
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object before %q", strings.Join(path, "/"), k)
		}
		v = m[k]
	}
	return v
}

func TestGenerateFixture(t *testing.T) {
	out, err := generate(reflect.TypeFor[fixture.Root](), ".", fixtureShapes)
	if err != nil {
		t.Fatal(err)
	}
	again, err := generate(reflect.TypeFor[fixture.Root](), ".", fixtureShapes)
	if err != nil || !bytes.Equal(out, again) {
		t.Errorf("two runs differ (err %v)", err)
	}
	if !bytes.HasSuffix(out, []byte("}\n")) || !bytes.HasPrefix(out, []byte("{\n  \"$schema\"")) {
		t.Errorf("output does not start with $schema and end with a newline:\n%s", out)
	}
	var s map[string]any
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"description"}, "Root is the document."},
		{[]string{"additionalProperties"}, false},
		{[]string{"required"}, []any{"name"}},
		// A field's line comment; a check of its mx tag.
		{[]string{"properties", "name", "description"}, "the root's name"},
		{[]string{"properties", "name", "$ref"}, "#/$defs/name"},
		// A keyed list: a map from the key field to the rest.
		{[]string{"properties", "items", "description"}, "`items` by name, in file order."},
		{[]string{"properties", "items", "propertyNames", "$ref"}, "#/$defs/domain"},
		{[]string{"properties", "items", "propertyNames", "description"}, "the item's domain"},
		{[]string{"properties", "items", "additionalProperties", "$ref"}, "#/$defs/Item"},
		// Go field names in docs become keys; max= becomes maximum.
		{[]string{"$defs", "Item", "description"}, "Item is one item; `max_count` caps it."},
		{[]string{"$defs", "Item", "properties", "max_count", "maximum"}, 9.0},
		{[]string{"$defs", "Item", "properties", "max_count", "minimum"}, 0.0},
		// An enum from Values, each value described by its constant.
		{[]string{"$defs", "Color", "enum"}, []any{"red", "blue"}},
		{[]string{"$defs", "Color", "description"}, "Color is a color.\n\nred: warm\nblue: cold"},
		// A shape from the table, with the type's doc.
		{[]string{"$defs", "Odd", "oneOf", "0", "type"}, "integer"},
		{[]string{"$defs", "Odd", "description"}, "Odd is read by hand."},
		{[]string{"properties", "odd", "description"}, "written as a number or a map"},
		// One name in two packages: both qualified, docs from each package.
		{[]string{"$defs", "fixture.Limits", "description"}, "Limits are ours."},
		{[]string{"$defs", "other.Limits", "description"}, "Limits are theirs."},
		{[]string{"$defs", "other.Limits", "required"}, []any{"min"}},
		{[]string{"$defs", "fixture.Limits", "type"}, []any{"object", "null"}},
		// Inline structs are flattened.
		{[]string{"properties", "wait", "$ref"}, "#/$defs/duration"},
		{[]string{"properties", "wait", "description"}, "how long"},
	} {
		var got any = s
		for _, k := range c.path {
			if l, ok := got.([]any); ok && k == "0" {
				got = l[0]
				continue
			}
			got = get(t, got, k)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", strings.Join(c.path, "/"), got, c.want)
		}
	}
	if _, ok := get(t, s, "properties").(map[string]any)["Pos"]; ok {
		t.Error(`a yaml:"-" field is a property`)
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		root  reflect.Type
		table map[string]shape
		want  string
	}{
		{"decodeNode without a shape", reflect.TypeFor[fixture.Root](), map[string]shape{},
			`fixture.Odd has a decodeNode method`},
		{"shape of no type", reflect.TypeFor[fixture.Root](), map[string]shape{"Odd": fixtureShapes["Odd"], "Gone": fixtureShapes["Odd"]},
			`shapes entry "Gone"`},
		{"shape of two types", reflect.TypeFor[fixture.Root](), map[string]shape{"Odd": fixtureShapes["Odd"], "Limits": fixtureShapes["Odd"]},
			`shapes entry "Limits" matches fixture.Limits and other.Limits: qualify it`},
		{"constants without Values", reflect.TypeFor[fixture.LooseRoot](), map[string]shape{},
			`fixture.Loose has constants but no Values method`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := generate(c.root, ".", c.table)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one containing %q", err, c.want)
			}
		})
	}
	// A qualified entry takes precedence over the other type of that name.
	table := map[string]shape{"Odd": fixtureShapes["Odd"], "other.Limits": func(*gen, reflect.Type) schema { return schema{"type": "integer"} }}
	out, err := generate(reflect.TypeFor[fixture.Root](), ".", table)
	if err != nil || !bytes.Contains(out, []byte(`"other.Limits": {`+"\n"+`      "description": "Limits are theirs.",`+"\n"+`      "type": "integer"`)) {
		t.Errorf("qualified entry: %v\n%s", err, out)
	}
}

func TestReplaceWord(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"up to Within; Within.", "up to `within`; `within`."},
		{"WithinX and xWithin and `Within`", "WithinX and xWithin and `Within`"},
		{"", ""},
	} {
		if got := replaceWord(c.in, "Within", "`within`"); got != c.want {
			t.Errorf("replaceWord(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestFormatRefs checks that a format's own references are written: a
// schema whose only host field is an MX target still has $defs/domain.
func TestFormatRefs(t *testing.T) {
	type mx struct {
		Host string `yaml:"host" mx:"host"`
	}
	out, err := generate(reflect.TypeFor[mx](), ".", map[string]shape{})
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]any `json:"$defs"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	if s.Defs["mx_host"] == nil || s.Defs["domain"] == nil {
		t.Errorf("$defs = %v, want mx_host and the domain it refers to", s.Defs)
	}
}
