package embedtemporal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sync"

	"go.temporal.io/sdk/worker"
)

var checksumOnce sync.Once

// setBinaryChecksum gives the Temporal SDK its process-wide "binary
// checksum" (the build ID of unversioned workers, shown by the Temporal UI
// and used by reset-by-binary) before the server's internal workers ask for
// it: by default the SDK computes it as a hash of the whole executable,
// which for a binary embedding the server (~220 MB) costs 0.3 s of CPU
// with a warm page cache and seconds with a cold one, on every process
// start. The stand-in hashes the executable's path, size and modification
// time instead, so it still changes whenever the binary does.
func setBinaryChecksum() {
	checksumOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			return // the SDK falls back to its own
		}
		fi, err := os.Stat(exe)
		if err != nil {
			return
		}
		sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", exe, fi.Size(), fi.ModTime().UnixNano()))
		worker.SetBinaryChecksum(hex.EncodeToString(sum[:16]))
	})
}
