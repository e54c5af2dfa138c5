package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/workflows"
)

// consoleSink prints stage output to a terminal or a file, each line
// prefixed with its stage, aligned, and coloured on a terminal.
type consoleSink struct {
	mu     sync.Mutex
	w      io.Writer
	width  int
	color  bool
	colors map[string]string
	buf    []byte
}

var palette = []string{"\x1b[36m", "\x1b[33m", "\x1b[35m", "\x1b[32m", "\x1b[34m", "\x1b[96m", "\x1b[93m", "\x1b[95m"}

const (
	ansiReset = "\x1b[0m"
	ansiRed   = "\x1b[31m"
	ansiDim   = "\x1b[2m"
)

func newConsoleSink(w io.Writer, stageIDs []string) *consoleSink {
	s := &consoleSink{w: w, color: isTerminal(w), colors: map[string]string{}}
	for i, id := range stageIDs {
		s.width = max(s.width, len(id))
		s.colors[id] = palette[i%len(palette)]
	}
	s.width = min(s.width, 32)
	return s
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("NO_COLOR") == ""
}

// WriteLine implements executor.LogSink.
func (s *consoleSink) WriteLine(stage string, stream executor.Stream, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buf[:0]
	if s.color {
		b = append(b, s.colors[stage]...)
	}
	b = append(b, stage...)
	for i := len(stage); i < s.width; i++ {
		b = append(b, ' ')
	}
	if s.color {
		b = append(b, ansiReset...)
	}
	b = append(b, " | "...)
	if s.color && stream == executor.Stderr {
		b = append(b, ansiRed...)
		b = append(b, line...)
		b = append(b, ansiReset...)
	} else {
		b = append(b, line...)
	}
	b = append(b, '\n')
	_, _ = s.w.Write(b)
	if cap(b) <= 64*1024 {
		s.buf = b
	}
}

// writeSummary prints the table of stages at the end of a run.
func writeSummary(w io.Writer, st workflows.RunState, elapsed time.Duration) {
	width := len("STAGE")
	for _, s := range st.Stages {
		width = max(width, len(s.ID))
	}
	fmt.Fprintf(w, "\n%-*s  %-10s  %8s  %s\n", width, "STAGE", "STATUS", "DURATION", "NOTE")
	for _, s := range st.Stages {
		dur := ""
		if !s.StartedAt.IsZero() && !s.FinishedAt.IsZero() {
			dur = formatDuration(s.FinishedAt.Sub(s.StartedAt))
		}
		note := s.Error
		if s.Attempt > 1 {
			note = strings.TrimSpace(fmt.Sprintf("attempt %d %s", s.Attempt, note))
		}
		if s.DecidedBy != "" && s.Status == buildit.StageSucceeded {
			note = "approved by " + s.DecidedBy
		}
		fmt.Fprintf(w, "%-*s  %-10s  %8s  %s\n", width, s.ID, s.Status, dur, note)
	}
	fmt.Fprintf(w, "\nrun %s in %s\n", st.Status, formatDuration(elapsed))
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
