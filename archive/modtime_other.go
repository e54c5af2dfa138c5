//go:build !unix

package archive

import (
	"errors"
	"os"
	"time"
)

// setModTime is not available here: Unpack sets times by path instead.
func setModTime(*os.File, time.Time) error { return errors.ErrUnsupported }
