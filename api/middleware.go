package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// requestLog gives every request an ID (X-Request-ID) and a logger that
// carries it, and logs one line when the request ends: the route template,
// never the raw path or query (they can hold names a tenant considers
// private) and never headers or bodies (credentials).
func requestLog(base *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		began := time.Now()
		id := c.GetHeader("X-Request-ID")
		if id == "" || len(id) > 64 {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Header("X-Request-ID", id)
		l := base.With("request_id", id)
		c.Set(loggerKey, l)
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "(no route)"
		}
		level := slog.LevelInfo
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		l.Log(c.Request.Context(), level, "request", "method", c.Request.Method, "route", route,
			"status", c.Writer.Status(), "duration_ms", float64(time.Since(began).Microseconds())/1000,
			"ip", c.ClientIP(), "actor", actorOf(c))
	}
}

// recoverJSON turns a panic into a logged 500 with the usual error body,
// so that a bug never drops the connection.
func recoverJSON() gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		logger(c).Error("panic", "route", c.FullPath(), "panic", rec)
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": errorf(http.StatusInternalServerError, CodeInternal, "internal error; it has been logged")})
	})
}
