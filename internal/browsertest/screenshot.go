package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// Screenshot writes a PNG of the whole page of tab (beyond the window,
// down to the end of the document) to path, making its folder if need
// be. It fails the test when the browser or the file system refuses.
func Screenshot(t testing.TB, tab context.Context, path string) {
	t.Helper()
	// chromedp.FullScreenshot answers PNG only at quality 100; below
	// that it is JPEG.
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browsertest: screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("browsertest: screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("browsertest: screenshot: %v", err)
	}
}
