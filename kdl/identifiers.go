package kdl

import "unicode/utf8"

// This file holds bare identifiers and the '#' keywords.

// identifier parses a bare identifier at p.pos.
func (p *parser) identifier() (string, error) {
	s := p.src
	start := p.pos
	if !p.v1 {
		i := start
		if s[i] == '+' || s[i] == '-' {
			i++
		}
		if p.at(i) == '.' && isDigit(p.at(i+1)) {
			tok := s[start:p.identEnd(i)]
			if _, ok := canonicalFloat(s[start:i] + "0" + s[i:len(tok)+start]); ok {
				return "", p.fail(start, "a number must start with a digit: write %s0%s (or quote \"%s\" for a string)", s[start:i], s[i:start+len(tok)], tok)
			}
			return "", p.fail(start, "identifier cannot start with '.' followed by a digit: quote \"%s\" to use it as a string", tok)
		}
	}
	i := p.identEnd(start)
	p.pos = i
	id := s[start:i]
	if !p.v1 {
		switch id {
		case "true", "false", "null", "inf", "-inf", "nan":
			return "", p.fail(start, "bare %s is not allowed in KDL 2.0: write #%s for the keyword, or \"%s\" for the string", id, id, id)
		}
	}
	return id, nil
}

// identEnd returns the end of the run of identifier characters at i.
func (p *parser) identEnd(i int) int {
	s := p.src
	if p.v1 {
		for i < len(s) && s[i] < utf8.RuneSelf && identASCII1[s[i]] {
			i++
		}
	} else {
		for i < len(s) && s[i] < utf8.RuneSelf && identASCII2[s[i]] {
			i++
		}
	}
	for {
		n := identLen(s, i, p.v1)
		if n == 0 {
			return i
		}
		i += n
	}
}

// hashValue parses a raw string or a keyword (#true, #inf, ...) at p.pos.
func (p *parser) hashValue(v *Value) error {
	s := p.src
	start := p.pos
	i := start
	for i < len(s) && s[i] == '#' {
		i++
	}
	if i < len(s) && s[i] == '"' {
		str, err := p.rawString(i - start)
		v.Kind, v.Str = KindString, str
		return err
	}
	if i-start > 1 {
		return p.fail(start, "expected '\"' after %s to start a raw string", s[start:i])
	}
	j := p.identEnd(i)
	switch s[i:j] {
	case "true", "false":
		v.Kind, v.Bool = KindBool, s[i:j] == "true"
	case "null":
		v.Kind = KindNull
	case "inf":
		v.Kind, v.Float = KindFloat, posInf
	case "-inf":
		v.Kind, v.Float = KindFloat, negInf
	case "nan":
		v.Kind, v.Float = KindFloat, nan
	case "":
		return p.fail(start, "expected a keyword (#true, #false, #null, #inf, #-inf, #nan) or a raw string after '#'")
	default:
		return p.fail(start, "unknown keyword #%s: the keywords are #true, #false, #null, #inf, #-inf and #nan", s[i:j])
	}
	p.pos = j
	return nil
}
