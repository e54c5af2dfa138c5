package pipeline

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// GraphFormats are the formats WriteGraph knows.
var GraphFormats = []string{"text", "dot", "mermaid"}

// WriteGraph writes the plan's stage DAG in the given format: "text" (the
// waves, one step a line with what it needs), "dot" (Graphviz) or "mermaid".
func (p *Plan) WriteGraph(w io.Writer, format string) error {
	var b strings.Builder
	switch format {
	case "text", "":
		p.graphText(&b)
	case "dot":
		p.graphDOT(&b)
	case "mermaid":
		p.graphMermaid(&b)
	default:
		return fmt.Errorf("unknown graph format %q: want one of %s", format, strings.Join(GraphFormats, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (p *Plan) graphText(b *strings.Builder) {
	fmt.Fprintf(b, "pipeline %s: %d %s in %d %s\n", strconv.Quote(p.Pipeline),
		len(p.Steps), plural(len(p.Steps), "stage", "stages"), len(p.Waves), plural(len(p.Waves), "wave", "waves"))
	for w, ids := range p.Waves {
		fmt.Fprintf(b, "wave %d\n", w+1)
		for _, id := range ids {
			st := p.Step(id)
			fmt.Fprintf(b, "  %s%s", id, stepNotes(st))
			if len(st.Needs) > 0 {
				fmt.Fprintf(b, "  <- %s", strings.Join(st.Needs, ", "))
			}
			b.WriteByte('\n')
		}
	}
}

// stepNotes describes what is special about a step, for the text graph.
func stepNotes(st *Step) string {
	var notes []string
	switch st.Kind {
	case KindApproval:
		notes = append(notes, "approval")
	case KindDeploy:
		notes = append(notes, "deploy to "+st.Deploy.Target)
	default:
		if st.Image != "" {
			notes = append(notes, st.Image)
		} else {
			notes = append(notes, "host")
		}
	}
	if st.AllowFailure {
		notes = append(notes, "allow-failure")
	}
	if st.When != nil && st.When.Status != "" && st.When.Status != StatusSuccess {
		notes = append(notes, "when "+st.When.Status)
	}
	return " (" + strings.Join(notes, ", ") + ")"
}

func (p *Plan) graphDOT(b *strings.Builder) {
	fmt.Fprintf(b, "digraph %s {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n", strconv.Quote(p.Pipeline))
	for _, st := range p.Steps {
		shape := ""
		switch st.Kind {
		case KindApproval:
			shape = ", shape=diamond"
		case KindDeploy:
			shape = ", shape=box3d"
		}
		fmt.Fprintf(b, "  %s [label=%s%s];\n", strconv.Quote(st.ID), strconv.Quote(st.ID), shape)
	}
	for _, st := range p.Steps {
		for _, need := range st.Needs {
			fmt.Fprintf(b, "  %s -> %s;\n", strconv.Quote(need), strconv.Quote(st.ID))
		}
	}
	b.WriteString("}\n")
}

func (p *Plan) graphMermaid(b *strings.Builder) {
	b.WriteString("flowchart LR\n")
	ids := map[string]string{}
	for i, st := range p.Steps {
		ids[st.ID] = "s" + strconv.Itoa(i)
		label := strings.ReplaceAll(st.ID, `"`, "#quot;")
		switch st.Kind {
		case KindApproval:
			fmt.Fprintf(b, "  %s{\"%s\"}\n", ids[st.ID], label)
		case KindDeploy:
			fmt.Fprintf(b, "  %s[/\"%s\"/]\n", ids[st.ID], label)
		default:
			fmt.Fprintf(b, "  %s[\"%s\"]\n", ids[st.ID], label)
		}
	}
	for _, st := range p.Steps {
		for _, need := range st.Needs {
			fmt.Fprintf(b, "  %s --> %s\n", ids[need], ids[st.ID])
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
