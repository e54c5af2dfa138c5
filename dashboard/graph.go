package dashboard

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/pipeline"
)

// The graph's geometry, in SVG user units (pixels at 100 %).
const (
	nodeW, nodeH   = 220, 44
	colGap, rowGap = 56, 12
	pad            = 16
	headH          = 22 // the wave titles above the columns
	groupHead      = 20 // a matrix group's title
	groupPad       = 6
	labelMax       = 26 // characters of a stage's name that fit a node
)

// graph is a run's stage DAG laid out for the run page's SVG: waves as
// columns, each stage's matrix instances together in a titled group, an
// edge per need.
type graph struct {
	Width, Height int
	Waves         []graphLabel
	Groups        []graphGroup
	Nodes         []graphNode
	Edges         []string // SVG path data, one subpath per need
}

type graphLabel struct {
	X, Y int
	Text string
}

type graphGroup struct {
	X, Y, W, H int
	Label      string
}

type graphNode struct {
	ID, Label, Href string
	X, Y            int
	Status          buildit.StageStatus
	Duration        string
	Attempt         int
}

// stageState is what the graph shows of a stage instance.
type stageState struct {
	Status   buildit.StageStatus
	Attempt  int
	Duration string
}

// layoutGraph lays out plan's steps; states give each step's status
// (pending when missing), logHref a node's link.
func layoutGraph(plan pipeline.Plan, states map[string]stageState, logHref func(id string) string) graph {
	var g graph
	pos := map[string][2]int{}
	byID := make(map[string]*pipeline.Step, len(plan.Steps))
	for i := range plan.Steps {
		byID[plan.Steps[i].ID] = &plan.Steps[i]
	}
	x := pad
	for w, ids := range plan.Waves {
		g.Waves = append(g.Waves, graphLabel{X: x, Y: pad + 14, Text: "Wave " + strconv.Itoa(w+1)})
		y := pad + headH
		// Instances of one stage together, stages in the wave's order.
		var order []string
		members := map[string][]string{}
		for _, id := range ids {
			name := id
			if st := byID[id]; st != nil && len(st.Matrix) > 0 {
				name = st.Stage
			}
			if _, ok := members[name]; !ok {
				order = append(order, name)
			}
			members[name] = append(members[name], id)
		}
		for _, name := range order {
			ms := members[name]
			grouped := len(ms) > 1 || (byID[ms[0]] != nil && len(byID[ms[0]].Matrix) > 0)
			nx := x
			if grouped {
				gy := y
				y += groupHead
				nx += groupPad
				for _, id := range ms {
					g.addNode(id, nx, y, states, logHref, pos)
					y += nodeH + rowGap
				}
				g.Groups = append(g.Groups, graphGroup{X: x, Y: gy, W: nodeW + 2*groupPad, H: y - gy - rowGap + groupPad, Label: clip(name+" ("+strconv.Itoa(len(ms))+")", labelMax)})
				y += groupPad + rowGap
				continue
			}
			g.addNode(ms[0], nx, y, states, logHref, pos)
			y += nodeH + rowGap
		}
		g.Height = max(g.Height, y)
		x += nodeW + 2*groupPad + colGap
	}
	g.Width = max(x-colGap+pad, 2*pad+nodeW)
	g.Height = max(g.Height+pad, pad*2+headH)
	for _, st := range plan.Steps {
		to, ok := pos[st.ID]
		if !ok {
			continue
		}
		for _, n := range st.Needs {
			from, ok := pos[n]
			if !ok {
				continue
			}
			x1, y1 := from[0]+nodeW, from[1]+nodeH/2
			x2, y2 := to[0], to[1]+nodeH/2
			g.Edges = append(g.Edges, fmt.Sprintf("M%d %dC%d %d,%d %d,%d %d", x1, y1, x1+colGap/2, y1, x2-colGap/2, y2, x2, y2))
		}
	}
	return g
}

func (g *graph) addNode(id string, x, y int, states map[string]stageState, logHref func(string) string, pos map[string][2]int) {
	s, ok := states[id]
	if !ok {
		s = stageState{Status: buildit.StagePending}
	}
	pos[id] = [2]int{x, y}
	g.Nodes = append(g.Nodes, graphNode{ID: id, Label: clip(id, labelMax), Href: logHref(id), X: x, Y: y,
		Status: s.Status, Duration: s.Duration, Attempt: s.Attempt})
}

// clip shortens s to n characters, with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// logQuery is the query of a stage's log page.
func logQuery(stage string) string { return "stage=" + url.QueryEscape(stage) }
