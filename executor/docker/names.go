package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// The labels BuildIt puts on every container and network it creates, so that
// a restarted worker, Destroy and CleanupRun can find them again.
const (
	// LabelManaged is "true" on everything BuildIt created.
	LabelManaged = "buildit.managed"
	// LabelRun holds the run ID.
	LabelRun = "buildit.run"
	// LabelStage holds the stage ID (containers only).
	LabelStage = "buildit.stage"
	// LabelAttempt holds the attempt number (containers only).
	LabelAttempt = "buildit.attempt"
	// LabelService holds the service name on a service container.
	LabelService = "buildit.service"
)

// maxName bounds the names we give containers and networks: short enough for
// a hostname label, which is what Docker derives from a container name.
const maxName = 63

// hashLen is how many hex digits of the name's hash are kept when one is
// needed (40 bits).
const hashLen = 10

// ContainerName is the deterministic name of a stage attempt's container.
func ContainerName(runID, stageID string, attempt int) string {
	return objectName(runID, stageID, strconv.Itoa(attempt))
}

// NetworkName is the deterministic name of a run's network.
func NetworkName(runID string) string {
	return objectName(runID)
}

// serviceName is the deterministic name of a stage attempt's service
// container.
func serviceName(runID, stageID string, attempt int, service string) string {
	return objectName(runID, stageID, strconv.Itoa(attempt), "svc", service)
}

// objectName joins parts into "buildit-<part>-<part>..." following Docker's
// name rules ([a-zA-Z0-9][a-zA-Z0-9_.-]*). When a part had to be changed to
// fit those rules, or the result is too long, a hash of the original parts
// is appended, so that two stages whose IDs sanitize alike ("a b" and "a,b")
// still get different names.
func objectName(parts ...string) string {
	var b strings.Builder
	b.WriteString("buildit")
	lossy := false
	for _, p := range parts {
		s := sanitize(p)
		if s != p {
			lossy = true
		}
		b.WriteByte('-')
		b.WriteString(s)
	}
	name := b.String()
	if !lossy && len(name) <= maxName {
		return name
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	suffix := hex.EncodeToString(sum[:])[:hashLen]
	if keep := maxName - 1 - hashLen; len(name) > keep {
		name = name[:keep]
	}
	return strings.TrimRight(name, "-.") + "-" + suffix
}

// sanitize replaces every run of characters Docker does not allow in a name
// with one '-', and trims dashes at the ends.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' {
			b.WriteByte(c)
			dash = false
			continue
		}
		if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}
