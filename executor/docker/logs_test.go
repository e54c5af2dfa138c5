package docker

import (
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/executor"
)

type lines []string

func (l *lines) WriteLine(_ string, _ executor.Stream, s string) { *l = append(*l, s) }

func TestLineWriter(t *testing.T) {
	big := strings.Repeat("a", maxLine)
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string
	}{
		{"lines", []string{"a\nb\n"}, []string{"a", "b"}},
		{"split writes", []string{"he", "llo\nwor", "ld\n"}, []string{"hello", "world"}},
		{"no final newline", []string{"a\nb"}, []string{"a", "b"}},
		{"empty lines", []string{"\n\n"}, []string{"", ""}},
		{"crlf", []string{"a\r\n"}, []string{"a"}},
		{"exactly max", []string{big + "\nz\n"}, []string{big, "z"}},
		{"max plus one", []string{big + "b\n"}, []string{big, "b"}},
		{"long in pieces", []string{big[:1000], big[1000:], "cd", "\n"}, []string{big, "cd"}},
		{"two max", []string{big + big}, []string{big, big}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got lines
			w := &lineWriter{sink: &got}
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				if cap(w.buf) > maxLine {
					t.Fatalf("buffer grew to %d", cap(w.buf))
				}
			}
			w.flush()
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("got %d lines %.40q, want %d", len(got), got, len(tc.want))
			}
		})
	}
}
