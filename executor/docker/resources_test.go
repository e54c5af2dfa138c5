package docker

import "testing"

func TestParseResources(t *testing.T) {
	// 0 wants an error.
	for _, tc := range []struct {
		in       string
		cpu, mem int64
	}{
		{"2", 2e9, 2},
		{"0.5", 5e8, 1},
		{"500m", 5e8, 0},
		{"4Gi", 0, 4 << 30},
		{"512Mi", 0, 512 << 20},
		{"64Ki", 0, 64 << 10},
		{"1G", 0, 1e9},
		{"1.5Gi", 0, 3 << 29},
		{"1048576", 1048576e9, 1 << 20},
		{"", 0, 0},
		{"-1", 0, 0},
		{"0", 0, 0},
		{"lots", 0, 0},
		{"512mb", 0, 0},
		{"1e3", 0, 0},
		{"NaN", 0, 0},
		{"Inf", 0, 0},
	} {
		cpu, cerr := parseCPU(tc.in)
		if (tc.cpu != 0) != (cerr == nil) || cpu != tc.cpu {
			t.Errorf("parseCPU(%q) = %d, %v; want %d", tc.in, cpu, cerr, tc.cpu)
		}
		mem, merr := parseMemory(tc.in)
		if (tc.mem != 0) != (merr == nil) || mem != tc.mem {
			t.Errorf("parseMemory(%q) = %d, %v; want %d", tc.in, mem, merr, tc.mem)
		}
	}
}
