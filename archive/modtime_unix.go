//go:build unix

package archive

import (
	"os"
	"syscall"
	"time"
)

// setModTime sets f's access and modification times through its
// descriptor (futimes), without walking its path again.
func setModTime(f *os.File, t time.Time) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	tv := syscall.NsecToTimeval(t.UnixNano())
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Futimes(int(fd), []syscall.Timeval{tv, tv}) }); err != nil {
		return err
	}
	return serr
}
