package kdl

// This file holds the skipping of whitespace, comments and line
// continuations.

// skipWS skips unicode-space and block comments, and reports whether it
// skipped anything.
func (p *parser) skipWS() (bool, error) {
	s := p.src
	i := p.pos
	start := i
	for i < len(s) {
		c := s[i]
		if c == ' ' || c == '\t' {
			i++
			continue
		}
		if c == '/' && i+1 < len(s) && s[i+1] == '*' {
			end, err := p.blockComment(i)
			if err != nil {
				return false, err
			}
			i = end
			continue
		}
		if c >= 0x80 {
			if n := wsLen(s, i); n > 0 {
				i += n
				continue
			}
		}
		break
	}
	p.pos = i
	return i > start, nil
}

// blockComment skips the (nested) block comment that starts at i and returns
// the offset after it.
func (p *parser) blockComment(i int) (int, error) {
	s := p.src
	depth := 0
	for j := i; j < len(s); {
		switch s[j] {
		case '/':
			if j+1 < len(s) && s[j+1] == '*' {
				depth++
				j += 2
				continue
			}
		case '*':
			if j+1 < len(s) && s[j+1] == '/' {
				depth--
				j += 2
				if depth == 0 {
					return j, nil
				}
				continue
			}
		}
		j++
	}
	return 0, p.fail(i, "unterminated block comment: missing '*/'")
}

// skipLineComment skips a "//" comment at p.pos, with its newline.
func (p *parser) skipLineComment() {
	s := p.src
	for i := p.pos + 2; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r', '\v', '\f', 0xC2, 0xE2:
			if n := nlLen(s, i); n > 0 {
				p.pos = i + n
				return
			}
		}
	}
	p.pos = len(s)
}

// skipNodeSpace skips whitespace, block comments and line continuations
// ('\' followed by a newline or a "//" comment), and reports whether it
// skipped anything.
func (p *parser) skipNodeSpace() (bool, error) {
	skipped := false
	for {
		sp, err := p.skipWS()
		if err != nil {
			return false, err
		}
		skipped = skipped || sp
		if p.pos >= len(p.src) || p.src[p.pos] != '\\' {
			return skipped, nil
		}
		esc := p.pos
		p.pos++
		if _, err := p.skipWS(); err != nil {
			return false, err
		}
		skipped = true
		switch {
		case p.pos >= len(p.src):
			return true, nil
		case p.src[p.pos] == '/' && p.at(p.pos+1) == '/':
			p.skipLineComment()
		default:
			n := nlLen(p.src, p.pos)
			if n == 0 {
				return false, p.fail(esc, "unexpected '\\': a line continuation must be followed by a newline or a comment (found %s)", p.describe(p.pos))
			}
			p.pos += n
		}
	}
}

// skipLineSpace skips whitespace, comments, line continuations and newlines.
func (p *parser) skipLineSpace() error {
	for {
		if _, err := p.skipNodeSpace(); err != nil {
			return err
		}
		if p.pos >= len(p.src) {
			return nil
		}
		if n := nlLen(p.src, p.pos); n > 0 {
			p.pos += n
			continue
		}
		if p.src[p.pos] == '/' && p.at(p.pos+1) == '/' {
			p.skipLineComment()
			continue
		}
		return nil
	}
}
