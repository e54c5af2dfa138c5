package activities

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/buildit-ci/buildit/executor"
)

// minFormLen is the shortest derived form of a secret that is masked: an
// encoding, or one line of a multi-line secret. Shorter ones ("ab", a
// lone "}" line) would mask ordinary text everywhere and hide nothing
// worth hiding. The secret's exact value is masked whatever its length.
const minFormLen = 4

// base64Wraps are the line lengths at which common tools wrap base64: GNU
// coreutils' base64 (76) and openssl and PEM (64).
var base64Wraps = []int{76, 64}

// masker hides secret values in log lines and errors: each value as it is,
// and the forms a stage's commands commonly turn it into (see secretForms).
// It is built once per stage attempt and masks a line in one pass, however
// many secrets and forms there are. A nil masker masks nothing.
type masker struct {
	m *matcher
}

// newMasker returns the masker of the values of secrets, or nil when there
// is nothing to mask.
func newMasker(secrets map[string]string) *masker {
	var forms []string
	seen := map[string]bool{}
	for _, v := range secrets {
		for _, f := range secretForms(v) {
			if !seen[f] {
				seen[f] = true
				forms = append(forms, f)
			}
		}
	}
	if len(forms) == 0 {
		return nil
	}
	return &masker{m: newMatcher(forms)}
}

// mask replaces every run of text that belongs to an occurrence of a form
// with ***; overlapping and adjacent occurrences become one ***. A line
// with nothing to mask is returned as it is, without copying.
func (k *masker) mask(s string) string {
	if k == nil {
		return s
	}
	return k.m.replace(s, "***")
}

// maskError keeps secret values out of an error, which may enter workflow
// history or a log: it returns err itself when its text holds no secret
// (so that its type still reaches Temporal), else an error of the masked
// text.
func (k *masker) maskError(err error) error {
	if k == nil || err == nil {
		return err
	}
	msg := err.Error()
	if masked := k.mask(msg); masked != msg {
		return errors.New(masked)
	}
	return err
}

// secretForms returns what of the secret value v is masked: v itself, and
// each of these forms of it that is at least minFormLen bytes long:
//   - each line of a multi-line value, trimmed of surrounding white space
//     (printed line by line, a multi-line value never matches whole);
//   - base64, standard and URL alphabets, padded and not, and the part of
//     the encoding that v alone decides when v sits at any byte offset of a
//     longer encoded string (base64 of "user:"+v, of v+"\n"), and the lines
//     of the encoding wrapped as base64 and openssl print it;
//   - URL encoding (query and path escaping);
//   - hex, lower and upper case;
//   - the escaped contents of a JSON string.
func secretForms(v string) []string {
	if v == "" {
		return nil
	}
	forms := []string{v}
	add := func(f string) {
		if len(f) >= minFormLen && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	if strings.ContainsAny(v, "\r\n") {
		for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
			add(strings.TrimSpace(line))
		}
	}
	b := []byte(v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		full := enc.EncodeToString(b)
		add(full)
		raw := enc.WithPadding(base64.NoPadding)
		add(raw.EncodeToString(b))
		for offset := range 3 {
			add(base64Shifted(raw, b, offset))
		}
		if enc == base64.StdEncoding {
			for _, width := range base64Wraps {
				for i := 0; i < len(full); i += width {
					add(full[i:min(i+width, len(full))])
				}
			}
		}
	}
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	add(hex.EncodeToString(b))
	add(strings.ToUpper(hex.EncodeToString(b)))
	for _, html := range []bool{true, false} {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(html)
		if e.Encode(v) == nil {
			add(strings.TrimSuffix(strings.TrimSuffix(buf.String(), "\n"), `"`)[1:])
		}
	}
	return forms
}

// base64Shifted returns the part of the unpadded encoding of v, placed at
// byte offset (mod 3) of a longer string, that v alone decides: the
// characters that also hold bits of the bytes before or after v are cut.
func base64Shifted(enc *base64.Encoding, v []byte, offset int) string {
	s := enc.EncodeToString(append(make([]byte, offset), v...))
	// Before: offset 1 shares 2 characters with the byte before v, offset
	// 2 shares 3 (the first holds only earlier bits).
	skip := []int{0, 2, 3}[offset]
	// After: a last group of 1 or 2 bytes ends in a character that the
	// next byte's bits share.
	cut := 0
	if (offset+len(v))%3 != 0 {
		cut = 1
	}
	if len(s) < skip+cut {
		return ""
	}
	return s[skip : len(s)-cut]
}

// maskingSink masks secret values before lines reach the next sink.
type maskingSink struct {
	next executor.LogSink
	k    *masker
}

func newMaskingSink(next executor.LogSink, secrets map[string]string) *maskingSink {
	return &maskingSink{next: next, k: newMasker(secrets)}
}

func (m *maskingSink) WriteLine(stage string, stream executor.Stream, line string) {
	m.next.WriteLine(stage, stream, m.k.mask(line))
}
