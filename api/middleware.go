package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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
		if !validRequestID(id) {
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

// validRequestID reports whether a client's X-Request-ID can be kept: 1 to
// 64 printable ASCII characters without spaces, so that it can go into a
// log line and back into a header as it is.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// refuseBadBytes answers 400, naming the part at fault, a request whose
// path, query (parameter names and values, decoded) or any header value
// holds a NUL character or bytes that are not UTF-8. Such bytes are never
// a name or an ID the API knows, and Postgres refuses them in text: they
// must not reach a handler. (net/http itself refuses a NUL, CR or LF in a
// header, before this runs.)
func refuseBadBytes() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := checkRequestText(c.Request); err != nil {
			fail(c, err)
		}
	}
}

func checkRequestText(r *http.Request) error {
	if fault := textFault(r.URL.Path); fault != "" {
		return badRequest("the path " + fault)
	}
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return badRequest("the query string is not valid URL encoding")
		}
		for _, k := range slices.Sorted(maps.Keys(q)) {
			if fault := textFault(k); fault != "" {
				return badRequest("a query parameter name " + fault)
			}
			for _, v := range q[k] {
				if fault := textFault(v); fault != "" {
					return badRequest("query parameter " + k + " " + fault)
				}
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Header)) {
		for _, v := range r.Header[k] {
			if fault := textFault(v); fault != "" {
				return badRequest("header " + k + " " + fault)
			}
		}
	}
	return nil
}

// textFault says what is wrong with s for the API, or "".
func textFault(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "contains a NUL character (U+0000)"
	}
	return ""
}

// recoverJSON turns a panic into a logged 500 with the usual error body,
// so that a bug never drops the connection.
func recoverJSON() gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		logger(c).Error("panic", "route", c.FullPath(), "panic", rec)
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": errorf(http.StatusInternalServerError, CodeInternal, "internal error; it has been logged")})
	})
}
