package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"
)

// ensureImage makes ref available locally, pulling it when missing.
func (e *Executor) ensureImage(ctx context.Context, ref string) error {
	_, err := e.cli.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("inspect image %q: %w", ref, err)
	}
	e.log.InfoContext(ctx, "pulling image", "image", ref)
	if err := e.pull(ctx, ref); err != nil {
		return fmt.Errorf("image %q is not available locally and could not be pulled: %w", ref, err)
	}
	return nil
}

// pull pulls ref and reads the progress stream to its end: a pull that fails
// half-way reports it there, not as the request's error.
func (e *Executor) pull(ctx context.Context, ref string) error {
	rc, err := e.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	return jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
}
