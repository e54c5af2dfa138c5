package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Blob keys. Everything of a tenant lives under "tenants/<tenant>/"; every
// string a person or a pipeline gives (run and step IDs, artifact names,
// pipeline and branch names, cache keys) enters a key only as a hex
// sha256, so that none can climb out of its prefix ("../", "/abs",
// "..%2f") or into another tenant's. The tenant, the one part kept as it
// is, must be an ID (CheckID); one that is not is hashed too.
//
//	tenants/<tenant>/artifacts/<sha(run)>/<sha(step NUL name)>.tar.zst
//	tenants/<tenant>/caches/<sha(pipeline)>/<sha(branch)>/<sha(key)>-<unique>.tar.zst
//	tenants/<tenant>/catalog/...   (the blob catalog's index, NewBlobCatalog)

// CheckID checks a tenant ID: letters, digits, '.', '_' and '-', not "."
// or "..", at most 128 characters.
func CheckID(id string) error {
	if id == "" || id == "." || id == ".." || len(id) > 128 {
		return fmt.Errorf("invalid tenant ID %q", id)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("invalid tenant ID %q", id)
		}
	}
	return nil
}

// hashed is the hex sha256 of parts joined by NUL bytes.
func hashed(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TenantPrefix is the prefix of every key of tenant, ending in "/".
func TenantPrefix(tenant string) string {
	if CheckID(tenant) != nil {
		tenant = "x-" + hashed(tenant)
	}
	return "tenants/" + tenant + "/"
}

// ArtifactKey is the blob key of the artifact name that step stepID of
// run runID kept. A retried attempt replaces its earlier one's.
func ArtifactKey(s Scope, runID, stepID, name string) string {
	return TenantPrefix(s.Tenant) + "artifacts/" + hashed(runID) + "/" + hashed(stepID, name) + ".tar.zst"
}

// RunArtifactsPrefix is the prefix of the blob keys of run runID's
// artifacts (to delete them all when the run expires).
func RunArtifactsPrefix(s Scope, runID string) string {
	return TenantPrefix(s.Tenant) + "artifacts/" + hashed(runID) + "/"
}

// CacheBlobKey is the blob key of one save of the cache key in s: unique
// (a random string the saver picks) makes each save's key its own, so
// that runs saving one key at once never write the same blob.
func CacheBlobKey(s CacheScope, key, unique string) string {
	return cachePrefix(s) + hashed(key) + "-" + hashed(unique)[:16] + ".tar.zst"
}

func cachePrefix(s CacheScope) string {
	return TenantPrefix(s.Tenant) + "caches/" + hashed(s.Pipeline) + "/" + hashed(s.Branch) + "/"
}
