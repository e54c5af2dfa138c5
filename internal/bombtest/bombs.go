package bombtest

import (
	"fmt"
	"strings"
)

// Matrix is a pipeline with one stage whose matrix has axes axes of
// values values each: 534 bytes for 5 values × 20 axes, which asked for
// 95 trillion stage instances. The matrix node is at 4:5.
func Matrix(axes, values int) string {
	var b strings.Builder
	b.WriteString("pipeline \"bomb\"\nstage \"boom\" {\n    run \"echo ${matrix.a0}\"\n    matrix {\n")
	for i := range axes {
		fmt.Fprintf(&b, "        a%d", i)
		for v := range values {
			fmt.Fprintf(&b, " %d", v)
		}
		b.WriteString("\n")
	}
	b.WriteString("    }\n}\n")
	return b.String()
}

// TemplateChain is a pipeline of depth templates, "t1" extending "t2" and
// so on, each adding a variable (applying the chain copies a growing
// environment at every link), and a stage extending "t1". "t1" is at 2:1.
func TemplateChain(depth int) string {
	var b strings.Builder
	b.WriteString("pipeline \"chain\"\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "template \"t%d\"", i)
		if i < depth {
			fmt.Fprintf(&b, " extends=\"t%d\"", i+1)
		}
		fmt.Fprintf(&b, " { env K%d=\"%d\"; }\n", i, i)
	}
	b.WriteString("stage \"s\" extends=\"t1\" { run \"env\"; }\n")
	return b.String()
}

// Stages is a pipeline of n stages, stage i on line i+1.
func Stages(n int) string {
	var b strings.Builder
	b.WriteString("pipeline \"wide\"\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "stage \"s%d\" { run \"x\"; }\n", i)
	}
	return b.String()
}
