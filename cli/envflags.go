package cli

import (
	"fmt"
	"strings"
)

// parseEnvFlags reads the K=V values of --env (buildit run, buildit
// trigger) into a map, nil when there are none. A value without "=" or
// with an empty name is a usage error.
func parseEnvFlags(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	env := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError(fmt.Errorf("--env %q: want K=V", kv))
		}
		env[k] = v
	}
	return env, nil
}
