package kdl

import (
	"errors"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
)

var (
	posInf = math.Inf(1)
	negInf = math.Inf(-1)
	nan    = math.NaN()
)

// number parses a decimal, hexadecimal, octal or binary number at p.pos; the
// caller has checked that it starts with a digit or a sign and a digit.
func (p *parser) number(v *Value) error {
	s := p.src
	start := p.pos
	i := start
	neg := false
	if s[i] == '+' || s[i] == '-' {
		neg = s[i] == '-'
		i++
	}
	if s[i] == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'o' || s[i+1] == 'b') {
		base, name := 16, "hexadecimal"
		switch s[i+1] {
		case 'o':
			base, name = 8, "octal"
		case 'b':
			base, name = 2, "binary"
		}
		i += 2
		digits := i
		if i >= len(s) || digitValue(s[i]) >= base {
			return p.fail(i, "expected a %s digit after %s, found %s", name, s[i-2:i], p.describe(i))
		}
		for i < len(s) && (s[i] == '_' || digitValue(s[i]) < base) {
			i++
		}
		if identLen(s, i, p.v1) > 0 {
			return p.fail(i, "invalid character %s in %s number", p.describe(i), name)
		}
		v.Kind = KindInt
		v.Int = p.makeInt(s[digits:i], base, neg)
		p.pos = i
		return nil
	}
	float := false
	for i < len(s) && (isDigit(s[i]) || s[i] == '_') {
		i++
	}
	if i < len(s) && s[i] == '.' {
		if !isDigit(p.at(i + 1)) {
			return p.fail(i+1, "expected a digit after the decimal point, found %s", p.describe(i+1))
		}
		float = true
		i++
		for i < len(s) && (isDigit(s[i]) || s[i] == '_') {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		float = true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !isDigit(p.at(i)) {
			return p.fail(i, "expected a digit in the exponent, found %s", p.describe(i))
		}
		for i < len(s) && (isDigit(s[i]) || s[i] == '_') {
			i++
		}
	}
	if identLen(s, i, p.v1) > 0 {
		if !float && s[i] != '.' {
			return p.fail(start, "identifier cannot start with a digit: quote %q to use it as a string", s[start:p.identEnd(i)])
		}
		return p.fail(i, "invalid character %s in number", p.describe(i))
	}
	p.pos = i
	text := s[start:i]
	if !float {
		digits := start
		if neg || s[start] == '+' {
			digits++
		}
		v.Kind = KindInt
		v.Int = p.makeInt(s[digits:i], 10, neg)
		return nil
	}
	if strings.IndexByte(text, '_') >= 0 {
		text = strings.ReplaceAll(text, "_", "")
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !isRangeError(err) {
		return p.fail(start, "invalid number %s", s[start:i])
	}
	v.Kind, v.Float = KindFloat, f
	return nil
}

func isRangeError(err error) bool {
	return errors.Is(err, strconv.ErrRange)
}

// digitValue returns the value of a digit in bases up to 16, or 99.
func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

// makeInt converts validated digits (with underscores) to a big.Int taken
// from the parser's slab.
func (p *parser) makeInt(digits string, base int, neg bool) *big.Int {
	var u uint64
	overflow := false
	b := uint64(base)
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c == '_' {
			continue
		}
		d := uint64(digitValue(c))
		if u > (math.MaxUint64-d)/b {
			overflow = true
			break
		}
		u = u*b + d
	}
	z := &p.intSlab.alloc(1)[0]
	switch {
	case overflow:
		z.SetString(strings.ReplaceAll(digits, "_", ""), base)
	case u == 0:
		// The zero big.Int is 0.
	case bits.UintSize == 64 || u <= math.MaxUint32:
		w := p.wordSlab.alloc(1)
		w[0] = big.Word(u)
		z.SetBits(w)
	default:
		z.SetUint64(u)
	}
	if neg {
		z.Neg(z)
	}
	return z
}
