package pipeline

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits bound what loading and planning a pipeline file may cost. In
// server mode a pipeline is written by any tenant, and a few hundred bytes
// can ask for billions of stage instances (matrix axes multiply), copy the
// same settings into thousands of stages (templates), or multiply text
// (${matrix.x} in a long run command): every size is therefore checked
// before the work it bounds, and a pipeline over a limit is refused with
// one diagnostic that names the limit.
//
// A zero field means its DefaultLimits value.
type Limits struct {
	// FileBytes bounds the size of the pipeline file.
	FileBytes int
	// Stages bounds the stage and deploy nodes a file declares.
	Stages int
	// Matrix bounds the instances of one stage: the product of the numbers
	// of values of its matrix axes.
	Matrix int
	// Instances bounds the steps of a plan: the instances of every stage
	// together, each stage counting once when it has no matrix.
	Instances int
	// TemplateDepth bounds how many templates a stage's settings go
	// through: a stage that extends a template that extends another is 2
	// deep.
	TemplateDepth int
	// PlanBytes bounds what expansion produces, as JSON encodes it: the
	// plan (a run's workflow input, which Temporal caps at 2 MB), and the
	// settings that templates copy into the stages that extend them.
	PlanBytes int
}

// DefaultLimits are the limits of `buildit validate`, `graph`, `run` and
// `pipelines push`, and of a server whose operator sets none. They are far
// above what a real pipeline needs: GitHub Actions allows 256 jobs per
// matrix. Treat the value as a constant.
var DefaultLimits = Limits{
	FileBytes:     1 << 20,
	Stages:        1000,
	Matrix:        256,
	Instances:     1000,
	TemplateDepth: 16,
	PlanBytes:     1 << 20,
}

// WithDefaults returns l with each zero field set to its DefaultLimits
// value.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.FileBytes, DefaultLimits.FileBytes)
	def(&l.Stages, DefaultLimits.Stages)
	def(&l.Matrix, DefaultLimits.Matrix)
	def(&l.Instances, DefaultLimits.Instances)
	def(&l.TemplateDepth, DefaultLimits.TemplateDepth)
	def(&l.PlanBytes, DefaultLimits.PlanBytes)
	return l
}

// instances returns how many instances a matrix makes: the product of its
// axes' lengths, or math.MaxInt when that does not fit in an int. It
// allocates nothing, so that a matrix is measured before it is expanded.
func instances(axes []MatrixAxis) int {
	n := 1
	for _, ax := range axes {
		k := len(ax.Values)
		if k == 0 {
			return 0
		}
		if n > math.MaxInt/k {
			return math.MaxInt
		}
		n *= k
	}
	return n
}

// describeMatrix renders the lengths of a matrix's axes for messages, as
// "20 axes: 5×5×5×5×5×5×…"; long lists are cut, since an attacker chooses
// them.
func describeMatrix(axes []MatrixAxis) string {
	const shown = 6
	parts := make([]string, 0, shown+1)
	for i, ax := range axes {
		if i == shown {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, strconv.Itoa(len(ax.Values)))
	}
	return fmt.Sprintf("%d %s: %s", len(axes), plural(len(axes), "axis", "axes"), strings.Join(parts, "×"))
}

// count renders an instance count, saying "more than" for one that
// overflowed.
func count(n int) string {
	if n == math.MaxInt {
		return "more than " + strconv.Itoa(math.MaxInt)
	}
	return strconv.Itoa(n)
}

// byteSize renders a limit in bytes, in MiB or KiB when it is a whole
// number of them.
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n) + " bytes"
}

// budget counts the bytes an expansion has produced against a limit.
type budget struct {
	used, limit int
}

// fits reports whether n more bytes stay within the limit, and counts them
// when they do.
func (b *budget) fits(n int) bool {
	if n > b.limit-b.used {
		return false
	}
	b.used += n
	return true
}

// encodedSize is the length of v encoded as JSON. It counts the bytes
// rather than keeping them, so that measuring a value that repeats a shared
// setting does not build the text it measures.
func encodedSize(v any) int {
	var n byteCounter
	if err := json.NewEncoder(&n).Encode(v); err != nil {
		// Plan values always encode; a failure would be a bug, and
		// counting it as too big refuses rather than risks.
		return math.MaxInt
	}
	return int(n) - 1 // Encode ends with a newline
}

type byteCounter int

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}
