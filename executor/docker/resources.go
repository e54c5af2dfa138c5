package docker

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"

	"github.com/buildit-ci/buildit/pipeline"
)

// resources turns a stage's limits into Docker's: cpu as a number of CPUs
// ("2", "0.5", or Kubernetes' millicores "500m") and memory as bytes or a
// Kubernetes quantity ("512Mi", "4Gi", "1G").
func resources(r *pipeline.Resources) (container.Resources, error) {
	var out container.Resources
	if r == nil {
		return out, nil
	}
	if r.CPU != "" {
		n, err := parseCPU(r.CPU)
		if err != nil {
			return out, err
		}
		out.NanoCPUs = n
	}
	if r.Memory != "" {
		n, err := parseMemory(r.Memory)
		if err != nil {
			return out, err
		}
		out.Memory = n
	}
	return out, nil
}

// parseCPU returns s as nano-CPUs.
func parseCPU(s string) (int64, error) {
	v := strings.TrimSpace(s)
	scale := 1e9
	if m, ok := strings.CutSuffix(v, "m"); ok {
		v, scale = m, 1e6
	}
	f, err := strconv.ParseFloat(v, 64)
	n := math.Round(f * scale)
	if err != nil || strings.ContainsAny(v, "eE+-") || !(n >= 1) || n > math.MaxInt64/2 {
		return 0, fmt.Errorf("cpu %q: want a positive number of CPUs like 2, 0.5 or 500m", s)
	}
	return int64(n), nil
}

// memoryUnits are Kubernetes' quantity suffixes: binary (Ki…Ei) and decimal
// (k…E). Longer suffixes come first so that "Mi" is not read as "M".
var memoryUnits = []struct {
	suffix string
	factor float64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50}, {"Ei", 1 << 60},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
}

// parseMemory returns s as bytes.
func parseMemory(s string) (int64, error) {
	v := strings.TrimSpace(s)
	factor := 1.0
	for _, u := range memoryUnits {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			v, factor = num, u.factor
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	// Kubernetes rounds a fraction of a byte up.
	n := math.Ceil(f * factor)
	if err != nil || strings.ContainsAny(v, "eE+-") || !(n >= 1) || n >= math.MaxInt64 {
		return 0, fmt.Errorf("memory %q: want bytes or a quantity like 512Mi or 4Gi", s)
	}
	return int64(n), nil
}
