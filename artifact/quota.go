package artifact

import "fmt"

// QuotaError is a Catalog.AddArtifact refused because the artifact would
// put the tenant over its plan's artifact storage. Its message is safe to
// show (it names the plan, the quota and what the tenant keeps already);
// the caller fails the stage with it and deletes the blob it wrote.
type QuotaError struct {
	Plan  string
	Limit int64 // bytes
	Used  int64 // bytes kept before this artifact
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("plan_limit: artifact storage of plan %s is %s (used %s)", e.Plan, FormatBytes(e.Limit), FormatBytes(e.Used))
}

// FormatBytes writes n in the largest binary unit that keeps it readable:
// "1 GiB", "512 MiB", "1.5 KiB", "17 B".
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 || f == float64(int64(f)) {
		return fmt.Sprintf("%d %s", int64(f), units[i])
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
