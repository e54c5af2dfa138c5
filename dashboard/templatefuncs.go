package dashboard

import (
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"

	"github.com/buildit-ci/buildit"
)

// statusIcons pair each status with a glyph: with the status's word
// beside it, colour is never the only sign of a status.
var statusIcons = map[string]string{
	string(buildit.RunSucceeded): "✓", string(buildit.RunFailed): "✗", string(buildit.RunRunning): "▶",
	string(buildit.RunWaiting): "⏸", string(buildit.RunQueued): "○", string(buildit.RunCancelled): "⊘",
	string(buildit.StagePending): "○", string(buildit.StageSkipped): "↷",
}

func statusIcon(status any) string {
	if i, ok := statusIcons[fmt.Sprint(status)]; ok {
		return i
	}
	return "•"
}

// duration formats d as a person reads it: 850ms, 12.3s, 4m05s, 2h10m.
func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// span between two times, "" when it has not started; a running one until
// now.
func spanOf(start, end *time.Time, now time.Time) string {
	if start == nil {
		return ""
	}
	e := now
	if end != nil {
		e = *end
	}
	return duration(e.Sub(*start))
}

func shortCommit(c string) string {
	if len(c) > 10 {
		return c[:10]
	}
	return c
}

func stamp(t any) string {
	switch v := t.(type) {
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04:05 UTC")
	case *time.Time:
		if v == nil {
			return ""
		}
		return v.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return ""
}

func isoTime(t any) string {
	switch v := t.(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	case *time.Time:
		if v == nil {
			return ""
		}
		return v.UTC().Format(time.RFC3339)
	}
	return ""
}

// parsePages parses each page's template with the layout.
func parsePages(a *assets) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"asset":  a.url,
		"icon":   statusIcon,
		"short":  shortCommit,
		"stamp":  stamp,
		"iso":    isoTime,
		"spans":  ansiSpans,
		"join":   strings.Join,
		"add":    func(a, b int) int { return a + b },
		"lower":  strings.ToLower,
		"status": func(s any) string { return fmt.Sprint(s) },
		"deref": func(s *string) string {
			if s == nil {
				return ""
			}
			return *s
		},
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	// Files named shared_*.html hold parts several pages share; every page
	// is parsed with them.
	shared := []string{"templates/layout.html"}
	for _, n := range names {
		if strings.HasPrefix(n, "templates/shared_") {
			shared = append(shared, n)
		}
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "shared_") {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(files, append(shared, n)...)
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}
