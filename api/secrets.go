package api

import (
	"errors"
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"

	"github.com/buildit-ci/buildit/db"
)

var secretNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// MaxSecretValue bounds a secret's value.
const MaxSecretValue = 64 << 10

var errNoSecretKey = errorf(http.StatusServiceUnavailable, "secrets_unavailable", "this server has no secret encryption key configured (BUILDIT_SECRET_KEY)")

func secretError(err error) error {
	switch {
	case errors.Is(err, db.ErrNotFound):
		return notFound("secret")
	case errors.Is(err, db.ErrNoSecretKey):
		return errNoSecretKey
	}
	return err
}

func (s *Server) listSecrets(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Tenants().ListSecrets(c, tenantOf(c).ID, after, limit)
	if err != nil {
		fail(c, secretError(err))
		return
	}
	ok(c, listOf(page, viewSecret))
}

// getSecret answers a secret's metadata: values are write-only.
func (s *Server) getSecret(c *gin.Context) {
	m, err := s.store.Tenants().GetSecret(c, tenantOf(c).ID, c.Param("name"))
	if err != nil {
		fail(c, secretError(err))
		return
	}
	ok(c, viewSecret(m))
}

func (s *Server) putSecret(c *gin.Context) {
	name := c.Param("name")
	if !secretNameRE.MatchString(name) {
		fail(c, invalid("a secret's name is an environment variable name: letters, digits and '_', not starting with a digit, up to 128"))
		return
	}
	var req struct {
		Value *string `json:"value"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Value == nil {
		fail(c, invalid("value is required"))
		return
	}
	if len(*req.Value) > MaxSecretValue {
		fail(c, invalid("value is over 64 KiB"))
		return
	}
	org, t := orgOf(c), tenantOf(c)
	var m db.SecretMeta
	existed := false
	err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		_, gerr := tx.Tenants().GetSecret(c, t.ID, name)
		existed = gerr == nil
		var err error
		m, err = tx.Tenants().PutSecret(c, t.ID, name, *req.Value)
		return auditEntry(c, org.ID, &t.ID, "secret.put", "secret", name, nil), err
	})
	if err != nil {
		fail(c, secretError(err))
		return
	}
	if existed {
		ok(c, viewSecret(m))
		return
	}
	created(c, viewSecret(m))
}

func (s *Server) deleteSecret(c *gin.Context) {
	name := c.Param("name")
	org, t := orgOf(c), tenantOf(c)
	err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		return auditEntry(c, org.ID, &t.ID, "secret.delete", "secret", name, nil), tx.Tenants().DeleteSecret(c, t.ID, name)
	})
	if err != nil {
		fail(c, secretError(err))
		return
	}
	noContent(c)
}
