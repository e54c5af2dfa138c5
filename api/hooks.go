package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/triggers"
)

// HookStarter starts the work of a verified webhook in Temporal (the
// RepositoryEvent workflow of triggers, one per delivery): the webhook
// route does nothing else. triggers.Starter is the real one.
type HookStarter interface {
	// StartEvent starts the event's workflow and returns its ID; a
	// workflow of the same delivery that started before is no error. An
	// error means it could not start: the route answers 503 and the
	// forge retries.
	StartEvent(ctx context.Context, in triggers.EventInput) (workflowID string, err error)
}

// deliveryRE is a delivery ID the route takes as it is (it becomes part
// of a workflow ID): the forges send UUIDs.
var deliveryRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,100}$`)

// hook is POST /api/v1/hooks/{forge}/{repository-id}: a forge's webhook.
// Nobody signs in: the repository's webhook secret authenticates it,
// checked before anything of the body is parsed. It answers as soon as
// the event's workflow has started (or the event is ignored).
func (s *Server) hook(c *gin.Context) {
	kind, err := forge.ParseKind(c.Param("forge"))
	if err != nil {
		fail(c, notFound("repository"))
		return
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		fail(c, notFound("repository"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, forge.MaxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(c, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the webhook's body is over 25 MiB"))
			return
		}
		fail(c, badRequest("the body could not be read"))
		return
	}
	repo, err := s.store.Repositories().ForHook(c, id)
	if err != nil {
		fail(c, repositoryError(err))
		return
	}
	if repo.Forge != string(kind) {
		fail(c, notFound("repository"))
		return
	}
	h := c.Request.Header
	delivery := forge.Delivery(kind, h)
	if delivery == "" {
		sum := sha256.Sum256(body)
		delivery = "sha256-" + hex.EncodeToString(sum[:])
	}
	log := logger(c).With("repository", repo.ID, "delivery", delivery)
	if err := forge.Verify(kind, repo.Secret, h, body); err != nil {
		log.Warn("webhook refused: its signature is missing or wrong")
		fail(c, errorf(http.StatusUnauthorized, CodeUnauthenticated, "the webhook's signature is missing or wrong"))
		return
	}
	if !deliveryRE.MatchString(delivery) {
		fail(c, badRequest("the delivery ID header is not an ID"))
		return
	}
	ev, err := forge.Parse(kind, h, body)
	if err != nil {
		log.Info("webhook refused: its body is not the event's JSON", "error", err)
		fail(c, badRequest("the body is not the event's JSON"))
		return
	}
	ev.Delivery = delivery
	switch {
	case ev.Kind == forge.EventPing:
		ok(c, gin.H{"status": "pong"})
		return
	case ev.Kind == "":
		c.JSON(http.StatusAccepted, gin.H{"status": "ignored", "reason": ev.Ignored})
		return
	case ev.Kind != forge.EventTag && pipeline.SkipCI(ev.Message):
		c.JSON(http.StatusAccepted, gin.H{"status": "skipped"})
		return
	}
	if s.cfg.Hooks == nil {
		fail(c, errorf(http.StatusServiceUnavailable, CodeUnavailable, "this server runs without Temporal: webhooks cannot start runs"))
		return
	}
	taken, err := s.store.Repositories().TakeDelivery(c, repo.ID, delivery)
	if err != nil {
		fail(c, err)
		return
	}
	if !taken {
		c.JSON(http.StatusAccepted, gin.H{"status": "duplicate"})
		return
	}
	if len(ev.Changed) > triggers.MaxChanged {
		ev.Changed = nil
	}
	wid, err := s.cfg.Hooks.StartEvent(c, triggers.EventInput{
		OrgID: repo.OrgID.String(), TenantID: repo.TenantID.String(), RepositoryID: repo.ID.String(), Event: ev,
	})
	if err != nil {
		log.Error("starting a webhook's workflow failed", "error", err)
		// Forget the delivery, so that the forge's retry is taken.
		if err := s.store.Repositories().ReleaseDelivery(context.WithoutCancel(c), repo.ID, delivery); err != nil {
			log.Error("forgetting a delivery failed", "error", err)
		}
		fail(c, errorf(http.StatusServiceUnavailable, CodeUnavailable, "the workflow service is unavailable; deliver it again shortly"))
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "accepted", "workflow_id": wid})
}
