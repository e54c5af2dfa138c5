package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// streamWriter writes an answer that is sent while it is made (a log page,
// a followed log) with a deadline on every write: a client that takes
// nothing for timeout, or has not taken the whole answer by the end, is cut
// off, and the handler returns instead of holding its goroutine, its
// buffers and its place among the tenant's followers for ever. The server
// has no WriteTimeout of its own, as a followed log lasts as long as its
// stage; this is that timeout for the answers that stream.
//
// After the first failed write every write fails: the connection is dead
// and the handler only has to return. net/http clears the deadline when
// the handler returns, before the connection serves another request.
type streamWriter struct {
	w       gin.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	end     time.Time // zero: none
	err     error
}

// stream returns the writer of c's answer, each write within timeout and
// all of them before end (zero for no end).
func stream(c *gin.Context, timeout time.Duration, end time.Time) *streamWriter {
	var inner http.ResponseWriter = c.Writer
	if u, ok := c.Writer.(interface{ Unwrap() http.ResponseWriter }); ok {
		// net/http's own writer: its Flush reports errors, gin's does not.
		inner = u.Unwrap()
	}
	return &streamWriter{w: c.Writer, rc: http.NewResponseController(inner), timeout: timeout, end: end}
}

func (s *streamWriter) arm() {
	d := time.Now().Add(s.timeout)
	if !s.end.IsZero() && s.end.Before(d) {
		d = s.end
	}
	_ = s.rc.SetWriteDeadline(d)
}

// Write writes p (through net/http's buffer, which writes to the
// connection when full), within the deadline.
func (s *streamWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.arm()
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// Flush sends what is buffered to the client, within the deadline.
func (s *streamWriter) Flush() error {
	if s.err != nil {
		return s.err
	}
	s.w.WriteHeaderNow()
	s.arm()
	s.err = s.rc.Flush()
	return s.err
}

// Abort drops the connection, for an answer that cannot be finished (the
// database failed half-way): the client sees the body cut short, not an
// answer that looks complete.
func (s *streamWriter) Abort(c *gin.Context) {
	s.err = http.ErrAbortHandler
	if conn, _, err := s.rc.Hijack(); err == nil {
		_ = conn.Close()
	}
	c.Abort()
}
