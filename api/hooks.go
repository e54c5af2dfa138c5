package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/triggers"
)

// HookQueue takes the verified, recorded deliveries of webhooks whose
// work (the RepositoryEvent workflow of triggers, one per delivery) starts
// out of the route's way: triggers.Dispatcher is the real one. The route
// records each delivery with its workflow input first, so a delivery the
// queue does not take is still started (by the dispatcher's sweeper).
type HookQueue interface {
	// Accept hands in to the starters without blocking.
	Accept(in triggers.EventInput) bool
}

// deliveryRE is a delivery ID the route takes as it is (it becomes part
// of a workflow ID): the forges send UUIDs.
var deliveryRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,100}$`)

// hook is POST /api/v1/hooks/{forge}/{repository-id}: a forge's webhook.
// Nobody signs in: the repository's webhook secret authenticates it,
// checked before anything of the body is parsed. It answers 202 as soon
// as the delivery is recorded (or the event is ignored); its workflow
// starts after, from the HookQueue.
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
	found, err := s.hookRepos.do(c, id)
	if err == nil {
		err = found.Err
	}
	if err != nil {
		fail(c, repositoryError(err))
		return
	}
	repo := found.HookRepository
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
	in := triggers.EventInput{OrgID: repo.OrgID.String(), TenantID: repo.TenantID.String(), RepositoryID: repo.ID.String(), Event: ev}
	input, err := triggers.EncodeEventInput(&in)
	if errors.Is(err, triggers.ErrEventTooLarge) {
		log.Info("webhook refused: its event is too large even cut")
		err = errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, err.Error())
	}
	if err != nil {
		fail(c, err)
		return
	}
	taken, err := s.deliveries.do(c, db.NewDelivery{RepositoryID: repo.ID, Delivery: delivery, Input: input})
	if err != nil {
		fail(c, err)
		return
	}
	if !taken {
		c.JSON(http.StatusAccepted, gin.H{"status": "duplicate"})
		return
	}
	s.cfg.Hooks.Accept(in)
	c.JSON(http.StatusAccepted, gin.H{"status": "accepted", "workflow_id": triggers.WorkflowID(repo.ID, delivery)})
}
