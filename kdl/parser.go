package kdl

import (
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of children blocks Parse accepts; deeper
// documents are rejected with an error rather than risking the stack.
const MaxDepth = 512

// Parse parses a KDL document.
//
// The document is parsed as KDL 2.0. If that fails, it is parsed again with
// the KDL 1.0 grammar, and if that succeeds the KDL 1.0 document is returned
// with Version 1; otherwise the KDL 2.0 error is returned. A document that
// starts with the version marker "/- kdl-version 2" is only parsed as KDL 2.0,
// and one that starts with "/- kdl-version 1" only as KDL 1.0.
//
// Every error Parse returns is an *Error.
func Parse(src []byte) (*Document, error) {
	s := string(src)
	if err := validateSource(s); err != nil {
		return nil, err
	}
	switch versionMarker(s) {
	case 1:
		return parseString(s, true)
	case 2:
		return parseString(s, false)
	}
	doc, err := parseString(s, false)
	if err == nil {
		return doc, nil
	}
	if doc1, err1 := parseString(s, true); err1 == nil {
		return doc1, nil
	}
	return nil, err
}

// ParseVersion parses src with the grammar of one KDL version only, 1 or 2,
// without fallback and ignoring any version marker. Version 0 means the same
// as Parse. Syntax errors are *Error values; an unsupported version is a
// plain error.
func ParseVersion(src []byte, version int) (*Document, error) {
	switch version {
	case 0:
		return Parse(src)
	case 1, 2:
	default:
		return nil, fmt.Errorf("kdl: unsupported KDL version %d", version)
	}
	s := string(src)
	if err := validateSource(s); err != nil {
		return nil, err
	}
	return parseString(s, version == 1)
}

// validateSource rejects invalid UTF-8 and disallowed code points anywhere in
// the document, so that the parser proper can assume clean input.
func validateSource(s string) error {
	if off, msg := validate(s); off >= 0 {
		return newError(s, off, msg)
	}
	return nil
}

// parseString parses validated source with the KDL 1.0 or 2.0 grammar.
func parseString(s string, v1 bool) (*Document, error) {
	p := &parser{src: s, v1: v1, pt: newPosTracker(s)}
	if strings.HasPrefix(s, "\uFEFF") {
		p.pos = 3
	}
	nodes, err := p.nodes(0, -1)
	if err != nil {
		return nil, err
	}
	doc := &Document{Nodes: nodes, Version: 2}
	if v1 {
		doc.Version = 1
	}
	return doc, nil
}

// parser is a recursive-descent parser working directly on the source text.
// Identifiers and escape-free strings are substrings of the source, and
// nodes, values and integers are carved out of slabs, so that parsing does
// few allocations.
type parser struct {
	src string
	pos int
	v1  bool
	pt  posTracker

	args  entryStack[Value] // arguments of the node being parsed
	props entryStack[Prop]  // properties of the node being parsed
	kids  []*Node           // scratch stack of the children being collected

	nodeSlab slab[Node]
	kidSlab  slab[*Node]
	intSlab  slab[big.Int]
	wordSlab slab[big.Word]

	buf []byte
}

// fail returns an *Error at byte offset off.
func (p *parser) fail(off int, format string, args ...any) error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return newError(p.src, off, msg)
}

// at returns the byte at offset i, or 0 past the end.
func (p *parser) at(i int) byte {
	if i < len(p.src) {
		return p.src[i]
	}
	return 0
}

func (p *parser) startsWith(prefix string) bool {
	return strings.HasPrefix(p.src[p.pos:], prefix)
}

// describe names the character at offset i for error messages.
func (p *parser) describe(i int) string {
	if i >= len(p.src) {
		return "end of file"
	}
	if nlLen(p.src, i) > 0 {
		return "newline"
	}
	r, _ := utf8.DecodeRuneInString(p.src[i:])
	if wsLen(p.src, i) > 0 && r != ' ' {
		return "whitespace " + runeName(r)
	}
	if r < 0x20 || r == 0x7F {
		return runeName(r)
	}
	return fmt.Sprintf("%q", r)
}

// nodes parses nodes until the end of the document (open < 0) or the '}'
// that closes the children block opened at offset open. It leaves p.pos on
// that '}'.
func (p *parser) nodes(depth, open int) ([]*Node, error) {
	base := len(p.kids)
	for {
		if err := p.skipLineSpace(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			if open >= 0 {
				return nil, p.fail(open, "unterminated children block: missing '}'")
			}
			break
		}
		c := p.src[p.pos]
		if c == '}' {
			if open < 0 {
				return nil, p.fail(p.pos, "unexpected '}': there is no children block to close")
			}
			break
		}
		discard := false
		if c == '/' && p.at(p.pos+1) == '-' {
			sd := p.pos
			p.pos += 2
			if err := p.skipLineSpace(); err != nil {
				return nil, err
			}
			if p.pos >= len(p.src) || p.src[p.pos] == '}' || p.src[p.pos] == ';' {
				return nil, p.fail(sd, "slashdash (/-) must be followed by a node to comment out")
			}
			if p.startsWith("/-") {
				return nil, p.fail(p.pos, "slashdash (/-) cannot be followed by another slashdash")
			}
			discard = true
		}
		n, err := p.node(depth)
		if err != nil {
			return nil, err
		}
		if !discard {
			p.kids = append(p.kids, n)
		}
	}
	out := p.kidSlab.alloc(len(p.kids) - base)
	copy(out, p.kids[base:])
	clear(p.kids[base:])
	p.kids = p.kids[:base]
	return out, nil
}

// node parses one node, including its terminator (which it consumes, except
// for a closing '}').
func (p *parser) node(depth int) (*Node, error) {
	n := &p.nodeSlab.alloc(1)[0]
	n.Pos = p.pt.at(p.pos)
	if p.src[p.pos] == '(' {
		t, err := p.typeAnnotation()
		if err != nil {
			return nil, err
		}
		n.Type, n.HasType = t, true
		if _, err := p.skipNodeSpace(); err != nil {
			return nil, err
		}
		if p.startsWith("/-") {
			return nil, p.fail(p.pos, "slashdash (/-) cannot come between a type annotation and the node name")
		}
	}
	n.NamePos = p.pt.at(p.pos)
	name, err := p.stringToken("node name")
	if err != nil {
		return nil, err
	}
	n.Name = name

	entriesDone := false
	sawBlock := false    // any children block, slashdashed or not
	sawChildren := false // a children block that is not slashdashed
loop:
	for {
		spaced, err := p.skipNodeSpace()
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.src) {
			break
		}
		c := p.src[p.pos]
		switch c {
		case ';':
			p.pos++
			break loop
		case '}':
			break loop
		case '/':
			switch p.at(p.pos + 1) {
			case '/':
				p.skipLineComment()
				break loop
			case '-':
				sd := p.pos
				p.pos += 2
				if err := p.skipLineSpace(); err != nil {
					return nil, err
				}
				if p.pos >= len(p.src) || p.src[p.pos] == '}' || p.src[p.pos] == ';' {
					return nil, p.fail(sd, "slashdash (/-) must be followed by an argument, a property or a children block")
				}
				if p.startsWith("/-") {
					return nil, p.fail(p.pos, "slashdash (/-) cannot be followed by another slashdash")
				}
				if p.src[p.pos] == '=' {
					return nil, p.fail(sd, "slashdash (/-) cannot go between a property key and '='; put it before the key")
				}
				if p.src[p.pos] == '{' {
					if !entriesDone {
						p.finishEntries(n)
						entriesDone = true
					}
					if _, err := p.childrenBlock(depth); err != nil {
						return nil, err
					}
					sawBlock = true
					continue
				}
				if sawBlock {
					return nil, p.fail(p.pos, "arguments and properties must come before children blocks")
				}
				if err := p.entry(true); err != nil {
					return nil, err
				}
				continue
			}
		case '{':
			if sawChildren {
				return nil, p.fail(p.pos, "a node can have only one children block (slashdash the others with /-)")
			}
			if !entriesDone {
				p.finishEntries(n)
				entriesDone = true
			}
			kids, err := p.childrenBlock(depth)
			if err != nil {
				return nil, err
			}
			n.Children, n.HasChildren = kids, true
			sawBlock, sawChildren = true, true
			continue
		}
		if nl := nlLen(p.src, p.pos); nl > 0 {
			p.pos += nl
			break
		}
		if sawBlock {
			return nil, p.fail(p.pos, "unexpected %s after a children block: end the node with ';' or a newline first", p.describe(p.pos))
		}
		if !spaced {
			return nil, p.fail(p.pos, "unexpected %s: arguments and properties must be separated by whitespace", p.describe(p.pos))
		}
		if err := p.entry(false); err != nil {
			return nil, err
		}
	}
	if !entriesDone {
		p.finishEntries(n)
	}
	return n, nil
}

// finishEntries hands the collected arguments and properties to n.
func (p *parser) finishEntries(n *Node) {
	n.Args = p.args.take()
	n.Props = p.props.take()
}

// childrenBlock parses a '{ ... }' block at p.pos.
func (p *parser) childrenBlock(depth int) ([]*Node, error) {
	open := p.pos
	if depth+1 > MaxDepth {
		return nil, p.fail(open, "children blocks are nested too deeply (the limit is %d levels)", MaxDepth)
	}
	p.pos++
	kids, err := p.nodes(depth+1, open)
	if err != nil {
		return nil, err
	}
	p.pos++ // '}'
	return kids, nil
}

// entry parses an argument or a property and pushes it on the scratch
// stacks, unless discard is set (slashdash).
func (p *parser) entry(discard bool) error {
	start := p.pos
	var v Value
	bare, err := p.value(&v)
	if err != nil {
		return err
	}
	if v.Kind == KindString {
		save := p.pos
		if _, err := p.skipNodeSpace(); err != nil {
			return err
		}
		if p.at(p.pos) == '=' {
			if v.HasType {
				return p.fail(start, "a property key cannot have a type annotation")
			}
			p.pos++
			if _, err := p.skipNodeSpace(); err != nil {
				return err
			}
			if p.pos >= len(p.src) || nlLen(p.src, p.pos) > 0 || strings.IndexByte(";{}=)", p.src[p.pos]) >= 0 {
				return p.fail(p.pos, "expected a value after '=' for property %q, found %s", v.Str, p.describe(p.pos))
			}
			if p.startsWith("/-") {
				return p.fail(p.pos, "slashdash (/-) cannot comment out only a property's value; put it before the key")
			}
			pr := p.props.push()
			pr.Key, pr.Pos = v.Str, v.Pos
			bare, err := p.value(&pr.Value)
			if err != nil {
				return err
			}
			if bare {
				return p.fail(pr.Value.Pos.Offset, "bare identifier %q cannot be a value in KDL 1.0; quote it", pr.Value.Str)
			}
			if discard {
				p.props.pop()
			}
			return nil
		}
		p.pos = save
	} else if p.at(p.pos) == '=' {
		what := "keyword"
		if v.Kind == KindInt || v.Kind == KindFloat && v.Raw[0] != '#' {
			what = "number"
		}
		return p.fail(start, "a property key must be a string, not the %s %s", what, v.Raw)
	}
	if bare {
		return p.fail(start, "bare identifier %q cannot be a value in KDL 1.0; quote it", v.Str)
	}
	if !discard {
		*p.args.push() = v
	}
	return nil
}

// value parses a value with an optional type annotation into v, which must
// be zero. bare reports a KDL 1.0 bare identifier, which may only be a
// property key.
func (p *parser) value(v *Value) (bare bool, err error) {
	v.Pos = p.pt.at(p.pos)
	if p.src[p.pos] == '(' {
		v.Type, err = p.typeAnnotation()
		if err != nil {
			return false, err
		}
		v.HasType = true
		if _, err = p.skipNodeSpace(); err != nil {
			return false, err
		}
		if p.startsWith("/-") {
			return false, p.fail(p.pos, "slashdash (/-) cannot come between a type annotation and its value")
		}
		if p.pos >= len(p.src) || nlLen(p.src, p.pos) > 0 || strings.IndexByte(";{}=()", p.src[p.pos]) >= 0 {
			return false, p.fail(p.pos, "expected a value after the type annotation, found %s", p.describe(p.pos))
		}
	}
	return p.scalar(v)
}

// scalar parses a string, number or keyword at p.pos into v (Kind, Str, Int,
// Float, Bool and Raw).
func (p *parser) scalar(v *Value) (bare bool, err error) {
	s := p.src
	start := p.pos
	if start >= len(s) {
		return false, p.fail(start, "expected a value, found end of file")
	}
	c := s[start]
	switch {
	case c == '"':
		v.Kind = KindString
		v.Str, err = p.quotedString()
	case c == '#' && !p.v1:
		err = p.hashValue(v)
	case c == 'r' && p.v1 && p.isV1RawString():
		v.Kind = KindString
		v.Str, err = p.v1RawString()
	case isDigit(c) || (c == '+' || c == '-') && isDigit(p.at(start+1)):
		err = p.number(v)
	default:
		if identLen(s, start, p.v1) == 0 {
			return false, p.fail(start, "expected a value, found %s", p.describe(start))
		}
		var id string
		id, err = p.identifier()
		if err != nil {
			return false, err
		}
		v.Kind, v.Str = KindString, id
		if p.v1 {
			switch id {
			case "true", "false":
				v.Kind, v.Str, v.Bool = KindBool, "", id == "true"
			case "null":
				v.Kind, v.Str = KindNull, ""
			default:
				bare = true
			}
		}
	}
	if err != nil {
		return false, err
	}
	v.Raw = s[start:p.pos]
	return bare, nil
}

// stringToken parses a string (identifier, quoted or raw) where only a
// string is allowed, such as a node name or a type annotation.
func (p *parser) stringToken(what string) (string, error) {
	start := p.pos
	if start >= len(p.src) || nlLen(p.src, start) > 0 || strings.IndexByte(";{}=()", p.src[start]) >= 0 {
		return "", p.fail(start, "expected a %s, found %s", what, p.describe(start))
	}
	var v Value
	if _, err := p.scalar(&v); err != nil {
		return "", err
	}
	if v.Kind != KindString {
		if v.Kind == KindInt || v.Kind == KindFloat && v.Raw[0] != '#' {
			return "", p.fail(start, "a %s must be a string; a number like %s cannot be one (quote it: \"%s\")", what, v.Raw, v.Raw)
		}
		return "", p.fail(start, "a %s must be a string, not the keyword %s", what, v.Raw)
	}
	return v.Str, nil
}

// typeAnnotation parses '(' string ')' at p.pos and returns the string.
func (p *parser) typeAnnotation() (string, error) {
	open := p.pos
	p.pos++
	if _, err := p.skipNodeSpace(); err != nil {
		return "", err
	}
	if p.pos >= len(p.src) {
		return "", p.fail(open, "unterminated type annotation: missing ')'")
	}
	if p.src[p.pos] == ')' {
		return "", p.fail(open, "empty type annotation: write a type name between the parentheses")
	}
	if p.startsWith("/-") {
		return "", p.fail(p.pos, "slashdash (/-) is not allowed inside a type annotation")
	}
	t, err := p.stringToken("type annotation")
	if err != nil {
		return "", err
	}
	if _, err := p.skipNodeSpace(); err != nil {
		return "", err
	}
	if p.at(p.pos) != ')' {
		return "", p.fail(p.pos, "expected ')' to close the type annotation, found %s", p.describe(p.pos))
	}
	p.pos++
	return t, nil
}
