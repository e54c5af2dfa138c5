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

// parseInputFlags reads -i/--input NAME=VALUE flags (an input's value may
// be empty or hold '=').
func parseInputFlags(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	inputs := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError(fmt.Errorf("--input %q: want NAME=VALUE", kv))
		}
		if _, dup := inputs[k]; dup {
			return nil, usageError(fmt.Errorf("--input %s is given twice", k))
		}
		inputs[k] = v
	}
	return inputs, nil
}
