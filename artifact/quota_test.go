package artifact

import (
	"errors"
	"fmt"
	"testing"
)

func TestQuotaErrorMessage(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("save artifact dist: %w", &QuotaError{Plan: "free", Limit: 1 << 30, Used: 1<<30 - 512<<20})
	var q *QuotaError
	if !errors.As(err, &q) {
		t.Fatal("errors.As does not find the QuotaError")
	}
	want := "save artifact dist: plan_limit: artifact storage of plan free is 1 GiB (used 512 MiB)"
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 17: "17 B", 1536: "1.5 KiB", 50 << 30: "50 GiB", 1 << 40: "1 TiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
