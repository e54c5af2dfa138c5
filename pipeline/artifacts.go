package pipeline

import (
	"errors"
	"fmt"
	"strings"
)

// nameArtifacts gives every stage's unnamed artifacts their default names
// (the stage's, then "<stage>-2", ... by the node's place in the stage)
// and reports names used twice in the pipeline.
func (d *decoder) nameArtifacts(p *Pipeline) {
	seen := map[string]Position{}
	for _, s := range p.Stages {
		if len(s.Artifacts) == 0 {
			continue
		}
		// Templates share their slice with the stages that take it.
		s.Artifacts = append([]ArtifactSpec(nil), s.Artifacts...)
		for i := range s.Artifacts {
			a := &s.Artifacts[i]
			if !a.named {
				a.Name = s.Name
				if i > 0 {
					a.Name = fmt.Sprintf("%s-%d", s.Name, i+1)
				}
			}
			if first, dup := seen[a.Name]; dup {
				d.errorf(a.Pos, "artifacts name %q is used twice in the pipeline (first at %d:%d): give one name=\"...\"", a.Name, first.Line, first.Col)
				continue
			}
			seen[a.Name] = a.Pos
		}
	}
}

// CacheKey is a parsed cache key: text with ${NAME} (a variable of the
// stage's environment, "" when unset) and {{ hashFiles('glob', ...) }}
// (the hex sha256 over the paths and contents of the workspace files the
// globs match, in path order; "" when none match).
type CacheKey struct {
	parts []keyPart
}

type keyPart struct {
	text  string
	env   string
	globs []string
}

// ParseCacheKey parses a cache key or restore-keys prefix as written.
func ParseCacheKey(s string) (CacheKey, error) {
	var k CacheKey
	text := func(t string) {
		if t != "" {
			k.parts = append(k.parts, keyPart{text: t})
		}
	}
	for s != "" {
		i := strings.IndexAny(s, "${")
		if i < 0 {
			text(s)
			break
		}
		switch {
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return CacheKey{}, errors.New("${ is not closed with }")
			}
			name := s[i+2 : i+end]
			if !envName.MatchString(name) {
				return CacheKey{}, fmt.Errorf("${%s} is not a variable name", name)
			}
			text(s[:i])
			k.parts = append(k.parts, keyPart{env: name})
			s = s[i+end+1:]
		case strings.HasPrefix(s[i:], "{{"):
			end := strings.Index(s[i:], "}}")
			if end < 0 {
				return CacheKey{}, errors.New("{{ is not closed with }}")
			}
			globs, err := parseHashFiles(strings.TrimSpace(s[i+2 : i+end]))
			if err != nil {
				return CacheKey{}, err
			}
			text(s[:i])
			k.parts = append(k.parts, keyPart{globs: globs})
			s = s[i+end+2:]
		default:
			text(s[:i+1])
			s = s[i+1:]
		}
	}
	return k, nil
}

// parseHashFiles parses `hashFiles('a', "b")`.
func parseHashFiles(expr string) ([]string, error) {
	const fn = "hashFiles("
	if !strings.HasPrefix(expr, fn) || !strings.HasSuffix(expr, ")") {
		return nil, fmt.Errorf("{{ %s }}: the only expression is {{ hashFiles('glob', ...) }}", expr)
	}
	args := strings.TrimSpace(expr[len(fn) : len(expr)-1])
	var globs []string
	for args != "" {
		q := args[0]
		if q != '\'' && q != '"' {
			return nil, fmt.Errorf("{{ %s }}: hashFiles takes quoted globs, like hashFiles('go.sum')", expr)
		}
		end := strings.IndexByte(args[1:], q)
		if end < 0 {
			return nil, fmt.Errorf("{{ %s }}: a quote is not closed", expr)
		}
		g := args[1 : end+1]
		if msg := badPath(g, false); msg != "" {
			return nil, fmt.Errorf("hashFiles glob %q %s", g, msg)
		}
		globs = append(globs, g)
		args = strings.TrimSpace(args[end+2:])
		if args != "" {
			if args[0] != ',' {
				return nil, fmt.Errorf("{{ %s }}: separate hashFiles' globs with commas", expr)
			}
			args = strings.TrimSpace(args[1:])
		}
	}
	if len(globs) == 0 {
		return nil, fmt.Errorf("{{ %s }}: hashFiles needs at least one glob", expr)
	}
	return globs, nil
}

// Globs lists every glob the key's hashFiles name.
func (k CacheKey) Globs() []string {
	var out []string
	for _, p := range k.parts {
		out = append(out, p.globs...)
	}
	return out
}

// Expand makes the key's text: vars for ${NAME}, hash for each hashFiles.
func (k CacheKey) Expand(vars map[string]string, hash func(globs []string) (string, error)) (string, error) {
	var b strings.Builder
	for _, p := range k.parts {
		switch {
		case p.env != "":
			b.WriteString(vars[p.env])
		case p.globs != nil:
			h, err := hash(p.globs)
			if err != nil {
				return "", err
			}
			b.WriteString(h)
		default:
			b.WriteString(p.text)
		}
	}
	return b.String(), nil
}
