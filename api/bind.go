package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// bind decodes the request's JSON body into v strictly: a body over MaxBody
// is a 413; malformed JSON, a wrong type, an unknown field or trailing data
// is a 400 that says where; so is a string (a value or a key, at any depth)
// that holds a NUL character or is not valid Unicode.
func bind(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" && !isJSONType(ct) {
		return errorf(http.StatusUnsupportedMediaType, CodeUnsupported, "send the body as application/json")
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBody))
	if err != nil {
		return decodeError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err)
		}
		return badRequest("the body holds more than one JSON value")
	}
	return checkJSONText(raw)
}

// isJSONType reports whether a Content-Type names JSON: application/json
// or a type with the +json suffix, with any parameters.
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// checkJSONText returns a 400 naming the first string of the JSON document
// raw, a value or a key, that holds a NUL character or is not valid
// Unicode. encoding/json would let the first through (and Postgres refuses
// NUL in text and \u0000 in jsonb) and silently turn the second into
// U+FFFD, changing what the client sent (a password, a secret) without a
// word: both are refused instead.
func checkJSONText(raw []byte) error {
	if utf8.Valid(raw) && !bytes.Contains(raw, []byte(`\u0000`)) && !bytes.Contains(raw, []byte(`\ud`)) && !bytes.Contains(raw, []byte(`\uD`)) {
		return nil // the usual case, without a second pass
	}
	w := textWalker{dec: json.NewDecoder(bytes.NewReader(raw)), raw: raw}
	w.dec.UseNumber()
	err := w.value("")
	if errors.Is(err, errWalkEnded) {
		return nil // bind's decoder has accepted the document
	}
	return err
}

var errWalkEnded = errors.New("end of the JSON tokens")

// textWalker reads a JSON document token by token, keeping the raw bytes
// of each, to name the field of a bad string.
type textWalker struct {
	dec *json.Decoder
	raw []byte
	off int64
}

// next returns the next token and the raw bytes since the previous one.
func (w *textWalker) next() (json.Token, []byte, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, nil, errWalkEnded
	}
	end := min(w.dec.InputOffset(), int64(len(w.raw)))
	seg := w.raw[w.off:end]
	w.off = end
	return tok, seg, nil
}

// value walks one value at path ("" for the document, else "a.b[2]").
func (w *textWalker) value(path string) error {
	tok, seg, err := w.next()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case string:
		if fault := stringFault(t, seg); fault != "" {
			if path == "" {
				return badRequest("the body " + fault)
			}
			return badRequest("field " + path + " " + fault)
		}
	case json.Delim:
		switch t {
		case '{':
			for w.dec.More() {
				k, seg, err := w.next()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				if fault := stringFault(key, seg); fault != "" {
					where := "the body"
					if path != "" {
						where = "field " + path
					}
					return badRequest("a key in " + where + " " + fault)
				}
				sub := key
				if path != "" {
					sub = path + "." + key
				}
				if err := w.value(sub); err != nil {
					return err
				}
			}
		case '[':
			for i := 0; w.dec.More(); i++ {
				if err := w.value(path + "[" + strconv.Itoa(i) + "]"); err != nil {
					return err
				}
			}
		}
		if _, _, err := w.next(); err != nil { // the closing ] or }
			return err
		}
	}
	return nil
}

// stringFault says what is wrong with the decoded JSON string s whose raw
// form is in seg (with whatever separators precede it), or "".
func stringFault(s string, seg []byte) string {
	switch {
	case !utf8.Valid(seg):
		return "is not valid UTF-8"
	case strings.ContainsRune(s, 0):
		return "contains a NUL character (U+0000)"
	case strings.Count(s, "\uFFFD") > bytes.Count(seg, []byte("\uFFFD"))+countFold(seg, `\ufffd`):
		// More U+FFFD than the client wrote, literally or escaped: the
		// decoder replaced a lone surrogate escape (\ud800).
		return "holds an escape of a lone UTF-16 surrogate, which is not a character"
	}
	return ""
}

// countFold counts the occurrences of the ASCII string sub in b in any
// letter case.
func countFold(b []byte, sub string) int {
	return bytes.Count(bytes.ToLower(b), []byte(sub))
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body is over %d bytes", MaxBody))
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the body ends in the middle of a JSON value")
	case errors.As(err, &syntax):
		return badRequest(fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, syntax.Error()))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest(fmt.Sprintf("the body must be a JSON object, not %s", typ.Value))
		}
		return badRequest(fmt.Sprintf("field %q: want %s, got %s", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return badRequest("unreadable body: " + err.Error())
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	case "ptr":
		return "a value"
	}
	return "a number"
}

// bindOptional is bind for a body that may be left out: a request without
// one leaves v as it is. A body that is there must be valid.
func bindOptional(c *gin.Context, v any) error {
	if c.Request.ContentLength == 0 {
		return nil
	}
	return bind(c, v)
}
