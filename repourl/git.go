package repourl

import (
	"os"
	"path/filepath"
	"strings"
)

// GitEnv is the whole environment git runs with, for a clone or fetch
// under the policy (a worker's checkout, the server's read of a
// repository's pipelines): nothing of the process's own (its
// DATABASE_URL, BUILDIT_SECRET_KEY, SSH agent, git configuration) but
// PATH, the proxy and CA settings the network may need, and what
// makes git fail instead of asking for anything.
func (p Policy) GitEnv(home string) []string {
	env := []string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + home,
		"LC_ALL=C",
		// No configuration but our own -c flags and the clone's.
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		// The clone runs in home: no repository above it is read.
		"GIT_CEILING_DIRECTORIES=" + filepath.Dir(home),
		// Never ask: no terminal prompt, no askpass program.
		"GIT_TERMINAL_PROMPT=0",
		"SSH_ASKPASS_REQUIRE=never",
		// Protocols a URL names are allowed; none that git reaches by
		// itself (a submodule's, a redirect's) unless listed.
		"GIT_PROTOCOL_FROM_USER=0",
		"GIT_ALLOW_PROTOCOL=" + strings.Join(p.protocols(), ":"),
		"GIT_SSH_COMMAND=ssh -o BatchMode=yes",
	}
	for _, name := range []string{"PATH", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// protocols are the transports git may use: those the policy allows.
func (p Policy) protocols() []string {
	protos := []string{"https", "ssh"}
	if p.AllowHTTP {
		protos = append(protos, "http")
	}
	return protos
}

// GitConfig is the -c configuration of every git command of a clone or
// fetch under the policy.
func (p Policy) GitConfig() []string {
	args := []string{"-c", "protocol.allow=never"}
	for _, proto := range p.protocols() {
		args = append(args, "-c", "protocol."+proto+".allow=always")
	}
	return append(args,
		// No hook runs: not from a hooks path, not from a template.
		"-c", "core.hooksPath=/dev/null",
		"-c", "core.fsmonitor=false",
		"-c", "submodule.recurse=false",
		"-c", "credential.helper=",
	)
}
