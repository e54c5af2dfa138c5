// Package apiview holds the JSON shapes of BuildIt's REST API: the views
// the API answers with, the bodies clients send, the events of a followed
// log, and the reader of those server-sent events. The API (package api)
// fills them in; its client (package remote) decodes them. It imports no
// web framework, so that a client links none.
//
// The field names are the API's contract (api/openapi.json): a view's
// field may be added, never renamed.
package apiview

// List is the shape of every list answer: a page of items and the cursor
// of the next page (absent on the last).
type List[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}
