package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/repourl"
	"github.com/buildit-ci/buildit/runclient"
)

// Error is an answer that is not a success: an HTTP status, a stable code
// clients branch on, and a message safe to show. Details, when set, is
// JSON the client can use (the problems of an invalid pipeline).
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Codes of Error.
const (
	CodeBadRequest      = "bad_request"
	CodeInvalid         = "invalid"
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeConflict        = "conflict"
	CodeTooLarge        = "too_large"
	CodeRateLimited     = "rate_limited"
	CodePlanLimit       = "plan_limit"
	CodeInternal        = "internal"
	CodeUnsupported     = "unsupported_media_type"
	CodeUnavailable     = "unavailable"
	CodeCanceled        = "canceled"
)

// StatusClientClosed answers a request whose client left before it was
// done (nginx's 499): nobody reads it, but the log shows it.
const StatusClientClosed = 499

func errorf(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

func badRequest(msg string) *Error { return errorf(http.StatusBadRequest, CodeBadRequest, msg) }
func invalid(msg string) *Error    { return errorf(http.StatusUnprocessableEntity, CodeInvalid, msg) }
func notFound(what string) *Error {
	return errorf(http.StatusNotFound, CodeNotFound, what+" not found")
}
func forbidden(msg string) *Error { return errorf(http.StatusForbidden, CodeForbidden, msg) }
func conflict(msg string) *Error  { return errorf(http.StatusConflict, CodeConflict, msg) }

var errUnauthenticated = errorf(http.StatusUnauthorized, CodeUnauthenticated, "sign in or send an API key as Authorization: Bearer <key>")

// fail answers the request with err, translated here and nowhere else:
// an *Error as it is, the store's not-found and conflict as 404 and 409, a
// repository the policy refuses as a 422, anything else as a 500 whose
// detail goes to the log only.
func fail(c *gin.Context, err error) {
	e := errorOf(c, err)
	c.AbortWithStatusJSON(e.Status, gin.H{"error": e})
}

// errorOf translates err for fail and for the dashboard's error pages:
// one translation, so that a page answers with the status the API route
// it mirrors would.
func errorOf(c *gin.Context, err error) *Error {
	var e *Error
	var decision *runclient.DecisionError
	var hostStages *runclient.HostStagesError
	var repo *repourl.Error
	var input *pipeline.InputError
	switch {
	case errors.As(err, &e):
	case errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil:
		// The client left (planning a pipeline stops then): nobody
		// reads the answer, and it is no server error.
		logger(c).Info("request canceled by the client", "route", c.FullPath())
		e = errorf(StatusClientClosed, CodeCanceled, "the request was canceled")
	case errors.Is(err, db.ErrNotFound):
		e = notFound("resource")
	case errors.Is(err, db.ErrConflict):
		e = conflict("it exists already")
	case errors.Is(err, runclient.ErrDeployRunning):
		e = conflict("a deploy of this service to this environment is in progress; roll back when it has ended")
	case errors.Is(err, runclient.ErrEnded):
		e = conflict("the run has ended")
	case errors.As(err, &decision):
		e = conflict(decision.Msg)
	case errors.As(err, &hostStages):
		e = invalid(hostStages.Error())
	case errors.As(err, &repo):
		e = invalid(repo.Error())
	case errors.As(err, &input):
		e = invalid(input.Error())
		e.Details = gin.H{"input": input.Input}
	case errors.Is(err, runclient.ErrUnavailable):
		e = errorf(http.StatusServiceUnavailable, CodeUnavailable, "the workflow service is unavailable; try again shortly")
	case db.IsUnavailable(err):
		logger(c).Warn("database unavailable", "route", c.FullPath(), "error", err)
		e = errorf(http.StatusServiceUnavailable, CodeUnavailable, "the database is unavailable; try again shortly")
	case errors.Is(err, db.ErrInvalid):
		// The store's own words can name tables and constraints: log them.
		logger(c).Info("invalid value refused by the store", "route", c.FullPath(), "error", err)
		e = invalid("a value is out of range or refers to something that does not exist (a page cursor, an id)")
	default:
		logger(c).Error("request failed", "method", c.Request.Method, "route", c.FullPath(), "error", err)
		e = errorf(http.StatusInternalServerError, CodeInternal, "internal error; it has been logged")
	}
	return e
}

func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}

const loggerKey = "buildit.logger"
