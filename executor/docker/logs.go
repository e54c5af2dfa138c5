package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/buildit-ci/buildit/executor"
)

// maxLine bounds one log line; longer lines are split, so that a stage that
// prints without newlines streams in constant memory.
const maxLine = 64 * 1024

// Logs streams the container's stdout and stderr to sink, line by line, from
// the container's start until it ends or ctx is done. Both streams are
// demultiplexed in one goroutine, so lines reach sink in the order the
// engine received them, across the two streams too (output written to both
// within a millisecond may still come out swapped, as with `docker logs`).
//
// For a stage this process started, the output comes from the stream Start
// attached before the container started. After a re-attach it comes from the
// engine's log, followed: that follow mode can end without the last records
// (moby/moby#43860: seen here for a final line without a newline most of
// the time), so when it ends the tail is read once more and what was missed
// is sent. The log driver's rotation (max-size/max-file) can drop output a
// re-attached Logs had not read yet.
func (e *Executor) Logs(ctx context.Context, spec *executor.Spec, h executor.Handle, sink executor.LogSink) error {
	d := &demux{
		out: &lineWriter{sink: sink, stage: spec.StageID, stream: executor.Stdout},
		err: &lineWriter{sink: sink, stage: spec.StageID, stream: executor.Stderr},
	}
	if att := e.takeAttached(h.ID); att != nil {
		// Started here: the stream attached before the start has it all.
		err := d.copy(ctx, attachedStream{att})
		d.out.flush()
		d.err.flush()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return fmt.Errorf("read container output: %w", err)
		}
		return nil
	}
	d.stamped = true
	id := e.target(spec, h)
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true}
	rc, err := e.cli.ContainerLogs(ctx, id, opts)
	if isNotFound(err) && h.ID != "" {
		// The handle may be stale; the deterministic name is not.
		id = ContainerName(spec.RunID, spec.StageID, spec.Attempt)
		rc, err = e.cli.ContainerLogs(ctx, id, opts)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isNotFound(err) {
			return executor.ErrNotFound
		}
		return fmt.Errorf("container logs: %w", err)
	}
	err = d.copy(ctx, rc)
	if err == nil && ctx.Err() == nil {
		opts.Follow = false
		opts.Since = d.since()
		if d.n > 0 {
			// Without a tail the engine would decode the whole log to
			// filter it by time.
			opts.Tail = strconv.Itoa(catchUpTail)
		}
		d.catchUp = true
		if rc, cerr := e.cli.ContainerLogs(ctx, id, opts); cerr == nil {
			err = d.copy(ctx, rc)
		} else if !isNotFound(cerr) {
			err = cerr
		}
	}
	d.out.flush()
	d.err.flush()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("read container logs: %w", err)
	}
	return nil
}

// catchUpTail bounds how many records the tail is read again over: the
// engine misses only its last few.
const catchUpTail = 4 * ringSize

// ringSize is how many of the last records received are remembered, to tell
// them apart from missed ones when the tail is read again.
const ringSize = 256

// record identifies one log record: the engine sends each with its own
// timestamp.
type record struct {
	stream executor.Stream
	ts     int64
	size   int
}

// demux splits a multiplexed log stream whose records carry timestamps into
// two lineWriters, remembering the last records it saw.
type demux struct {
	out, err *lineWriter
	ring     [ringSize]record
	n        int
	// stamped says that each record starts with its timestamp (the log
	// API's), which is cut off and remembered; an attached stream has none.
	stamped bool
	// catchUp drops records already seen instead of remembering them.
	catchUp bool
}

func (d *demux) copy(ctx context.Context, rc io.ReadCloser) error {
	defer rc.Close()
	// Closing the body is what unblocks a read when ctx ends.
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	_, err := stdcopy.StdCopy(streamWriter{d, executor.Stdout}, streamWriter{d, executor.Stderr}, rc)
	return err
}

// since is where the tail is read again from: the oldest of the remembered
// records (the engine's filter includes records at that very time), or
// everything when nothing came.
func (d *demux) since() string {
	oldest := int64(0)
	for _, r := range d.ring[:min(d.n, ringSize)] {
		if oldest == 0 || r.ts < oldest {
			oldest = r.ts
		}
	}
	if oldest == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%09d", oldest/1e9, oldest%1e9)
}

// seen reports whether r was received already, forgetting it so that a
// record repeated with the same time and size is sent once more.
func (d *demux) seen(r record) bool {
	for i := range d.ring[:min(d.n, ringSize)] {
		if d.ring[i] == r {
			d.ring[i] = record{}
			return true
		}
	}
	return false
}

// attachedStream reads an attached connection and closes it.
type attachedStream struct{ h *types.HijackedResponse }

func (a attachedStream) Read(p []byte) (int, error) { return a.h.Reader.Read(p) }

func (a attachedStream) Close() error {
	a.h.Close()
	return nil
}

// streamWriter passes what StdCopy demultiplexed to the stream's
// lineWriter. From the log API it receives one record per Write (StdCopy
// writes each frame in one call, and the engine sends each record in one
// frame).
type streamWriter struct {
	d      *demux
	stream executor.Stream
}

func (w streamWriter) Write(p []byte) (int, error) {
	lw := w.d.out
	if w.stream == executor.Stderr {
		lw = w.d.err
	}
	if !w.d.stamped {
		return lw.Write(p)
	}
	stamp, body, ok := bytes.Cut(p, []byte{' '})
	ts, err := time.Parse(time.RFC3339Nano, string(stamp))
	if !ok || err != nil {
		// Not a timestamped record: pass it on whole.
		return lw.Write(p)
	}
	r := record{stream: w.stream, ts: ts.UnixNano(), size: len(body)}
	if w.d.catchUp {
		if w.d.seen(r) {
			return len(p), nil
		}
	} else {
		w.d.ring[w.d.n%ringSize] = r
		w.d.n++
	}
	if _, err := lw.Write(body); err != nil {
		return 0, err
	}
	return len(p), nil
}

// lineWriter cuts what is written to it into lines for a LogSink. Its buffer
// never grows past maxLine.
type lineWriter struct {
	sink   executor.LogSink
	stage  string
	stream executor.Stream
	buf    []byte
}

// Write implements io.Writer; it never fails.
func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i >= 0 && len(w.buf)+i <= maxLine {
			w.add(p[:i])
			w.emit()
			p = p[i+1:]
			continue
		}
		take := min(maxLine-len(w.buf), len(p))
		w.add(p[:take])
		p = p[take:]
		if len(w.buf) == maxLine {
			w.emit()
		}
	}
	return n, nil
}

// add appends p, growing the buffer at most to maxLine.
func (w *lineWriter) add(p []byte) {
	if need := len(w.buf) + len(p); need > cap(w.buf) {
		grown := make([]byte, len(w.buf), min(max(2*cap(w.buf), need, 512), maxLine))
		copy(grown, w.buf)
		w.buf = grown
	}
	w.buf = append(w.buf, p...)
}

// flush sends a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit()
	}
}

func (w *lineWriter) emit() {
	line := w.buf
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	w.sink.WriteLine(w.stage, w.stream, string(line))
	w.buf = w.buf[:0]
}
