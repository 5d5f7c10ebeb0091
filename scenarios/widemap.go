package scenarios

import (
	"context"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// goccy/go-yaml (v1.19.2) parses a block mapping by recursing once per
// sibling key and copying the siblings parsed so far at every level: a
// mapping of n keys costs n² copies and n stack frames (200,000 hosts:
// minutes and gigabytes; upstream goccy/go-yaml#889). A scenario of many
// hosts is exactly such a mapping, so a file with a wide mapping is parsed
// here entry by entry instead: the lexer's tokens of each entry go to
// goccy's parser on their own, and the entries are put together into the
// mapping goccy would have built. Positions come from the tokens, so they
// are the same either way.
//
// The fence: only block mappings of simple keys (a scalar and ":" opening
// its line, no flow collection, anchor, tag, "?" key or document marker at
// the mapping's level) are split; anything else in a range is handed to
// goccy whole. Files whose mappings all have fewer than wideMapEntries
// keys never take this path. TestWideMapAgrees parses every scenario of
// the repository both ways and compares the trees.

// wideMapEntries is the number of sibling keys from which a file is parsed
// entry by entry. A variable, so that tests run both paths on small files.
var wideMapEntries = 512

// parseOpts are the options of every goccy parse: duplicate keys are the
// decoder's to report, with both positions.
var parseOpts = []parser.Option{parser.AllowDuplicateMapKey()}

// parseWide parses the body of a one-document file entry by entry when it
// has a wide block mapping. It returns ok=false when the file is not of
// that kind (comments and one leading "---" aside, a single document); the
// caller then parses it whole. ctx is checked between pieces.
func parseWide(ctx context.Context, tokens token.Tokens) (body ast.Node, ok bool, err error) {
	tks := make([]*token.Token, 0, len(tokens))
	var header *token.Token
	for _, tk := range tokens {
		switch tk.Type {
		case token.CommentType:
			continue
		case token.InvalidType, token.DirectiveType, token.DocumentEndType:
			return nil, false, nil
		case token.DocumentHeaderType:
			if len(tks) > 0 || header != nil {
				return nil, false, nil
			}
			header = tk
			continue
		}
		tks = append(tks, tk)
	}
	if len(tks) == 0 || header != nil && tks[0].Position.Line == header.Position.Line {
		return nil, false, nil // "--- value" on one line
	}
	if maxSiblings(tks) < wideMapEntries {
		return nil, false, nil
	}
	body, err = parseEntries(ctx, tks, true)
	return body, true, err
}

// maxSiblings estimates the most keys of one block mapping: keys opening
// their line, counted per column of the indentation stack.
func maxSiblings(tks []*token.Token) int {
	type level struct{ col, n int }
	var stack []level
	most, depth := 0, 0
	for i, tk := range tks {
		if flowDepth(tk, &depth) || depth > 0 || !isKeyAt(tks, i) {
			continue
		}
		c := tk.Position.Column
		for len(stack) > 0 && stack[len(stack)-1].col > c {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].col == c {
			stack[len(stack)-1].n++
		} else {
			stack = append(stack, level{c, 1})
		}
		most = max(most, stack[len(stack)-1].n)
	}
	return most
}

// flowDepth updates depth for a flow collection's bracket and reports
// whether tk was one.
func flowDepth(tk *token.Token, depth *int) bool {
	switch tk.Type {
	case token.MappingStartType, token.SequenceStartType:
		*depth++
		return true
	case token.MappingEndType, token.SequenceEndType:
		*depth = max(*depth-1, 0)
		return true
	}
	return false
}

// opensLine reports whether tks[i] is the first token on its line.
func opensLine(tks []*token.Token, i int) bool {
	return i == 0 || tks[i-1].Position.Line < tks[i].Position.Line
}

// isKeyAt reports whether tks[i] is a simple key opening its line: a
// scalar followed by ":" on the same line.
func isKeyAt(tks []*token.Token, i int) bool {
	if !opensLine(tks, i) || i+1 >= len(tks) {
		return false
	}
	switch tks[i].Type {
	case token.StringType, token.SingleQuoteType, token.DoubleQuoteType, token.IntegerType,
		token.BoolType, token.NullType, token.FloatType, token.MergeKeyType:
	default:
		return false
	}
	next := tks[i+1]
	return next.Type == token.MappingValueType && next.Position.Line == tks[i].Position.Line
}

// entries splits tks, a block mapping of simple keys, into one token
// range per key: entry i is tks[at[i]:at[i+1]]. ok=false when tks are
// anything else.
func entries(tks []*token.Token) (at []int, ok bool) {
	if len(tks) == 0 || !isKeyAt(tks, 0) {
		return nil, false
	}
	col := tks[0].Position.Column
	at = []int{0}
	depth := 0
	for i, tk := range tks {
		if flowDepth(tk, &depth) && depth > 0 && opensLine(tks, i) && tk.Position.Column <= col {
			return nil, false // a flow collection at the mapping's level
		}
		if depth > 0 || !opensLine(tks, i) || i == 0 {
			continue
		}
		switch c := tk.Position.Column; {
		case c == col && isKeyAt(tks, i):
			at = append(at, i)
		case c < col, c == col && tk.Type != token.SequenceEntryType:
			return nil, false
		}
	}
	return append(at, len(tks)), true
}

// wideBatch is how many entries of a wide mapping go to goccy's parser at
// once: few enough that its n² is nothing, enough that the cost of a
// parse is shared. A variable, for tests.
var wideBatch = 64

// parseEntries parses tks entry by entry when they are a block mapping of
// simple keys, else whole. atEnd says whether tks end the file.
func parseEntries(ctx context.Context, tks []*token.Token, atEnd bool) (ast.Node, error) {
	at, ok := entries(tks)
	if !ok {
		return parseRange(tks, atEnd)
	}
	n := len(at) - 1 // entries
	values := make([]*ast.MappingValueNode, 0, n)
	// whole parses entries from..to-1 together and appends their values.
	whole := func(from, to int) (bool, error) {
		if from == to {
			return true, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		node, err := parseRange(tks[at[from]:at[to]], atEnd && to == n)
		if err != nil {
			return false, err
		}
		m, ok := node.(*ast.MappingNode)
		if !ok || m.IsFlowStyle {
			return false, nil
		}
		values = append(values, m.Values...)
		return true, nil
	}
	from := 0 // entries from..i-1 wait to be parsed together
	for i := range n {
		e := tks[at[i]:at[i+1]]
		// A value that is not a block mapping of simple keys on the lines
		// below (a scalar, a list, a flow collection, an anchor or tag) is
		// parsed with its key: lists are parsed in linear time by goccy,
		// and the rest is written on the key's line.
		if len(e) == 2 || e[2].Position.Line == e[0].Position.Line || !isKeyAt(e, 2) {
			if i+1-from == wideBatch {
				if ok, err := whole(from, i+1); !ok || err != nil {
					return fallback(tks, atEnd, err)
				}
				from = i + 1
			}
			continue
		}
		if ok, err := whole(from, i); !ok || err != nil {
			return fallback(tks, atEnd, err)
		}
		from = i + 1
		// A mapping below its key, wide perhaps: the key alone (goccy gives
		// it a null value), then the mapping.
		node, err := parseTokens(e[:2])
		if err != nil {
			return fallback(tks, atEnd, err)
		}
		m, ok := node.(*ast.MappingNode)
		if !ok || len(m.Values) != 1 {
			return fallback(tks, atEnd, nil)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v, err := parseEntries(ctx, e[2:], atEnd && i == n-1)
		if err != nil {
			return nil, err
		}
		m.Values[0].Value = v
		values = append(values, m.Values[0])
	}
	if ok, err := whole(from, n); !ok || err != nil {
		return fallback(tks, atEnd, err)
	}
	// goccy's block mapping starts at its first key's ":".
	return ast.Mapping(values[0].Start, false, values...), nil
}

// fallback returns a syntax error as it is, and otherwise (a piece that
// did not parse into what its tokens promised) parses tks whole.
func fallback(tks []*token.Token, atEnd bool, err error) (ast.Node, error) {
	if err != nil {
		return nil, err
	}
	return parseRange(tks, atEnd)
}

// parseRange parses tks whole. A key without a value gets an implicit
// null one column after its ":" when tokens follow, two columns after at
// the end of the tokens; the last key of a range that does not end the
// file is moved back to where goccy puts it within the file.
func parseRange(tks []*token.Token, atEnd bool) (ast.Node, error) {
	n, err := parseTokens(tks)
	if err != nil || atEnd {
		return n, err
	}
	for at := n; at != nil; {
		switch t := at.(type) {
		case *ast.MappingNode:
			if t.IsFlowStyle || len(t.Values) == 0 {
				return n, nil
			}
			mv := t.Values[len(t.Values)-1]
			if null, ok := mv.Value.(*ast.NullNode); ok {
				p, colon := null.GetToken().Position, mv.Start.Position
				if null.GetToken().Type == token.ImplicitNullType && p.Line == colon.Line && p.Column == colon.Column+2 {
					p.Column--
				}
				return n, nil
			}
			at = mv.Value
		case *ast.SequenceNode:
			if t.IsFlowStyle || len(t.Values) == 0 {
				return n, nil
			}
			at = t.Values[len(t.Values)-1]
		case *ast.AnchorNode:
			at = t.Value
		case *ast.TagNode:
			at = t.Value
		default:
			return n, nil
		}
	}
	return n, nil
}

// parseTokens parses tks, one document, with goccy/go-yaml and returns
// its body.
func parseTokens(tks []*token.Token) (ast.Node, error) {
	f, err := parser.Parse(token.Tokens(tks), 0, parseOpts...)
	if err != nil {
		return nil, err
	}
	if len(f.Docs) != 1 {
		return nil, nil
	}
	return f.Docs[0].Body, nil
}
