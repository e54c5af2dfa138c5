// Package kdl parses and prints KDL documents (https://kdl.dev).
//
// It implements KDL 2.0 in full and falls back to KDL 1.0 for documents that
// are not valid 2.0 but are valid 1.0, as the reference implementation does.
// Every node, property and value keeps the position it was read from, so that
// callers can report problems as file:line:col; syntax errors are *Error
// values with a position and a Snippet for display. Format prints a document
// in the canonical form of the KDL conformance suite.
//
// The package imports nothing else of BuildIt.
package kdl

import (
	"math/big"
)

// Pos is a position in a source document. Line and Col are 1-based; Col
// counts Unicode code points, not bytes. Offset is the 0-based byte offset.
// A byte order mark that starts the document is not counted as a column.
type Pos struct {
	Line   int
	Col    int
	Offset int
}

// Document is a parsed KDL document: its top-level nodes in source order.
type Document struct {
	Nodes []*Node
	// Version is the KDL version the document was parsed as: 2, or 1 when it
	// only parsed under the KDL 1.0 grammar.
	Version int
}

// Node is one KDL node.
type Node struct {
	// Type is the node's type annotation without parentheses, "" when absent.
	Type string
	// Name is the node's name, unquoted and unescaped.
	Name string
	// Args are the node's positional arguments in source order.
	Args []Value
	// Props are the node's properties in source order. A key may appear more
	// than once; per the spec the last one wins (see Prop and Node.Prop).
	Props []Prop
	// Children are the nodes of the children block, in source order.
	Children []*Node
	// HasChildren reports whether the node had a (possibly empty) children
	// block that was not slashdash-ed away.
	HasChildren bool
	// HasType reports whether the node had a type annotation, which tells an
	// empty one, ("")node, from none. The printer writes the annotation when
	// HasType is set or Type is not empty.
	HasType bool
	// Pos is where the node starts (its type annotation, or its name).
	Pos Pos
	// NamePos is where the node's name starts.
	NamePos Pos
}

// Prop is one property of a node.
type Prop struct {
	Key   string
	Value Value
	// Pos is where the key starts.
	Pos Pos
}

// Kind is the kind of a KDL value.
type Kind uint8

// The kinds of KDL values.
const (
	KindString Kind = iota + 1
	KindInt
	KindFloat
	KindBool
	KindNull
)

// String returns a lower-case name for the kind, suitable for messages
// ("expected a string, got an integer").
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindInt:
		return "integer"
	case KindFloat:
		return "float"
	case KindBool:
		return "boolean"
	case KindNull:
		return "null"
	}
	return "unknown"
}

// Value is one KDL value: an argument or a property value.
type Value struct {
	Kind Kind
	// HasType reports whether the value had a type annotation, which tells an
	// empty one, ("")1, from none. The printer writes the annotation when
	// HasType is set or Type is not empty.
	HasType bool
	// Type is the value's type annotation without parentheses, "" when absent.
	Type string
	// Str holds a KindString value, unescaped and dedented.
	Str string
	// Int holds a KindInt value (integers are arbitrary precision in KDL).
	Int *big.Int
	// Float holds a KindFloat value, including ±Inf and NaN.
	Float float64
	// Bool holds a KindBool value.
	Bool bool
	// Raw is the value's source text (without its type annotation).
	Raw string
	// Pos is where the value starts (its type annotation, if any).
	Pos Pos
}
