package pipeline

import "path"

// MatchAny reports whether value matches one of patterns: path.Match
// globs ("release/*") or the exact text. It decides `when branch` and
// `when event`, and an environment's allowed branches.
func MatchAny(patterns []string, value string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, value); ok || p == value {
			return true
		}
	}
	return false
}
