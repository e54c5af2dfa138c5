package localrun

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

var unsafeID = regexp.MustCompile(`[^a-z0-9-]+`)

// newRunID names a local run: the pipeline, the time and a random suffix.
func newRunID(pipelineName string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := strings.Trim(unsafeID.ReplaceAllString(strings.ToLower(pipelineName), "-"), "-")
	if len(name) > 30 {
		name = name[:30]
	}
	return fmt.Sprintf("%s-%s-%s", name, time.Now().UTC().Format("20060102-150405"), hex.EncodeToString(b[:]))
}

// gitOutput runs git in dir and returns its trimmed output, or "" when dir
// is not a git checkout.
func gitOutput(dir string, args ...string) string {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Stderr = io.Discard
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
