package apiview

import (
	"time"

	"github.com/buildit-ci/buildit"
)

// LogLine is one line of a stage's log.
type LogLine struct {
	Seq    int64     `json:"seq"`
	Stream string    `json:"stream"`
	Line   string    `json:"line"`
	At     time.Time `json:"at"`
	// Attempt is set on the lines of a followed log.
	Attempt int `json:"attempt,omitempty"`
}

// Logs is a page of a stage's stored log.
type Logs struct {
	Stage   string    `json:"stage"`
	Attempt int       `json:"attempt"`
	Lines   []LogLine `json:"lines"`
	// Next is the seq to pass as after for the lines that follow.
	Next int64 `json:"next"`
	// Ended reports that the attempt has ended: no line will follow.
	Ended bool `json:"ended"`
}

// The events of a followed log (GET .../logs?follow=1, text/event-stream).
// A line event's data is a LogLine; the others' are the structs below.
const (
	EventLine    = "line"
	EventAttempt = "attempt"
	EventEnd     = "end"
	EventIdle    = "idle"
	EventError   = "error"
)

// The structs below keep their fields in the order of their JSON names, the
// order the API has always written them in.

// FollowAttempt says that a new attempt of the stage began: its lines
// follow.
type FollowAttempt struct {
	Attempt int    `json:"attempt"`
	Stage   string `json:"stage"`
}

// FollowEnd says that the stage ended: nothing follows.
type FollowEnd struct {
	Attempt  int                 `json:"attempt"`
	Error    string              `json:"error"`
	ExitCode *int                `json:"exit_code"`
	Stage    string              `json:"stage"`
	Status   buildit.StageStatus `json:"status"`
}

// FollowIdle ends a followed log that had no new line for a while; the
// client follows again from the event's id.
type FollowIdle struct {
	Attempt int    `json:"attempt"`
	Message string `json:"message"`
	Next    int64  `json:"next"`
	Stage   string `json:"stage"`
}

// FollowError ends a followed log that the server could not read on.
type FollowError struct {
	Message string `json:"message"`
}
