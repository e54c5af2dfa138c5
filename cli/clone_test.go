package cli

import (
	"strings"
	"testing"
)

func TestByteSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"2GiB": 2 << 30, "2gib": 2 << 30, "500MB": 500e6, "1048576": 1 << 20, "1.5 GiB": 3 << 29, "64k": 64 << 10, "10B": 10,
	} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "lots", "0", "-1GiB", "GiB", "1e30", "NaN", "Inf", "0.0001"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("%q is a size: %d", in, b)
		}
	}
	if b := byteSize(2 << 30); b.String() != "2GiB" {
		t.Errorf("2 GiB prints as %s", b.String())
	}
}

// The clone flags are checked before a worker starts: a bad size or
// timeout, from a flag or the environment, is a usage error.
func TestCloneFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{args: []string{"worker", "--clone-max-size", "lots"}, want: `"lots" is not a size`},
		{args: []string{"worker", "--clone-timeout", "0s"}, want: "--clone-timeout must be above zero"},
		{args: []string{"dev", "--clone-timeout", "-1m"}, want: "--clone-timeout must be above zero"},
		{args: []string{"worker"}, env: "much", want: `BUILDIT_CLONE_MAX_SIZE: "much" is not a size`},
	} {
		t.Setenv("BUILDIT_CLONE_MAX_SIZE", c.env)
		code, _, stderr := run(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v (env %q): exit %d, %s; want 2 and %q", c.args, c.env, code, stderr, c.want)
		}
	}
	for _, cmd := range []string{"worker", "dev", "server"} {
		_, out, _ := run(t, cmd, "--help")
		if !strings.Contains(out, "--allow-http-repositories") {
			t.Errorf("buildit %s --help lacks --allow-http-repositories", cmd)
		}
		if cmd != "server" && (!strings.Contains(out, "--clone-timeout") || !strings.Contains(out, "--clone-max-size size") || !strings.Contains(out, `(default 2GiB)`)) {
			t.Errorf("buildit %s --help lacks the clone flags:\n%s", cmd, out)
		}
	}
}
