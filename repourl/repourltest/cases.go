// Package repourltest holds the repositories the policy of package repourl
// must refuse and those it must accept, for the tests of every layer that
// applies it (the policy itself, the API, the worker), so that they agree.
package repourltest

// Refused is a repository the default policy refuses, and a word its
// reason must contain.
type Refused struct {
	Repository string
	Because    string
}

// Refusals are the forms a trigger may not name: everything git would
// read as a local path, a remote helper or an option, the schemes that
// are unauthenticated or unknown, and malformed URLs.
var Refusals = []Refused{
	// Local paths: a run would clone the worker's disk (another tenant's
	// workspace, the data dir).
	{"/srv/buildit/workspaces/other-tenant", "local paths"},
	{"/", "local paths"},
	{"relative/dir", "local paths"},
	{"repo", "local paths"},
	{".", "local paths"},
	{"..", "local paths"},
	{"./a:b", "local paths"},
	{"../other:x", "local paths"},
	{"~/.ssh", "local paths"},
	{"file:///etc", "file://"},
	{"file://localhost/srv/repo.git", "file://"},
	// Remote helpers: fd::0 hung a run for 43 minutes; ext:: runs a
	// command.
	{"fd::0", "remote helper"},
	{"fd::0,1", "remote helper"},
	{"ext::sh -c touch% /tmp/pwned", "spaces"},
	{"ext::true", "remote helper"},
	{"https::example.com/x", "remote helper"},
	{"github.com::acme/app", "remote helper"},
	{"1::x", "remote helper"},
	{"foo.bar+baz::x", "remote helper"},
	// Unauthenticated or unknown schemes, and git's spellings it hands to
	// helpers.
	{"git://github.com/acme/app.git", "unauthenticated"},
	{"http://github.com/acme/app.git", "--allow-http-repositories"},
	{"HTTPS://github.com/acme/app.git", "not an allowed scheme"},
	{"SSH://git@github.com/acme/app.git", "not an allowed scheme"},
	{"git+ssh://git@github.com/acme/app.git", "not an allowed scheme"},
	{"ssh+git://git@github.com/acme/app.git", "not an allowed scheme"},
	{"ftp://example.com/repo.git", "not an allowed scheme"},
	{"rsync://example.com/repo.git", "not an allowed scheme"},
	{"testgit://example.com/repo", "not an allowed scheme"},
	{"https:example.com/x", "user@host:path"},
	// Options.
	{"--upload-pack=touch /tmp/pwned", "'-'"},
	{"-oProxyCommand=id", "'-'"},
	{"ssh://-oProxyCommand=id/x", "host"},
	{"ssh://%2doProxyCommand=id/x", "percent-encoded"},
	{"ssh://-oProxyCommand=id@host/x", "user"},
	{"ssh://%2doProxyCommand=id@host/x", "user"},
	{"git@-oProxyCommand=id:x", "host"},
	{"git@host:-x", "'-'"},
	{"-git@host:x", "'-'"},
	// scp-style whose host part is not a host.
	{"git@:acme/app.git", "no host"},
	{"git@host:", "no path"},
	{"git@[::1]:acme/app.git", "user@host:path"},
	{"github.com:acme/app.git", "user@host:path"},
	{"git@host/x:y", "local paths"},
	{"user@host@other:x", "user@host:path"},
	{"C:/Users/x/repo", "user@host:path"},
	// Malformed URLs.
	{"https://", "no host"},
	{"https:///acme/app.git", "no host"},
	{"https://github.com", "no path"},
	{"https://github.com/", "no path"},
	{"ssh://git@/x", "no host"},
	{"https://github.com:0/acme/app.git", "port"},
	{"https://github.com:99999/acme/app.git", "port"},
	{"https://github.com:/acme/app.git", "port"},
	{"https://github.com:-1/acme/app.git", "port"},
	{"https://-github.com/acme/app.git", "host"},
	{"https://git hub.com/acme/app.git", "spaces"},
	{"https://github.com/acme/app.git#main", "fragment"},
	{"https://[::1%25eth0]/x.git", "percent-encoded"},
	{"https://[zz]/x.git", "not a valid URL"},
	{"https://github.com\\@evil.test/x.git", "backslash"},
	// Control, formatting and invalid bytes.
	{"https://github.com/acme/app.git\n--upload-pack=x", "control"},
	{"https://github.com/acme/app.git\r", "control"},
	{"https://github.com/acme/\x00app.git", "control"},
	{"https://github.com/acme/app%0a.git", "encoded control"},
	{"ssh://git@github.com/acme/app%00.git", "encoded control"},
	{"https://github.com/acme/\u202eppa.git", "formatting"},
	{"https://github.com/acme/\xff.git", "UTF-8"},
	{"https://github.com/" + string(make([]byte, 2100)), "at most"},
}

// Accepted are forms every policy accepts.
var Accepted = []string{
	"https://github.com/acme/app.git",
	"https://github.com/acme/app",
	"https://gitlab.example.com:8443/group/sub/app.git",
	"https://x-access-token:ghp_secret@github.com/acme/app.git",
	"https://user:p%40ss@git.example.com/acme/app.git",
	"https://127.0.0.1:3000/acme/app.git",
	"https://[2001:db8::1]/acme/app.git",
	"https://git.example.com/acme/app.git?ref=x",
	"ssh://git@github.com/acme/app.git",
	"ssh://git@github.com:2222/acme/app.git",
	"ssh://github.com/~alice/app.git",
	"ssh://git@[2001:db8::1]:22/acme/app.git",
	"git@github.com:acme/app.git",
	"git@github.com:/srv/git/app.git",
	"deploy_bot@git.example.com:acme/app.git",
	"git@10.0.0.7:acme/app.git",
	"git@github.com:acme/ünïcode.git",
}

// AcceptedHTTP are accepted only with the policy's AllowHTTP.
var AcceptedHTTP = []string{
	"http://github.com/acme/app.git",
	"http://127.0.0.1:8080/mirror/app.git",
}
