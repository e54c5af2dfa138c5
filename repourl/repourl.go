// Package repourl is the one policy on the repositories a run may clone: a
// trigger's repository is checked against it by the API when the run is
// triggered (or rerun), and again by the worker before it runs git. It
// imports only the standard library, so both sides can use it.
//
// Git decides what a repository string means in this order (transport.c's
// transport_get, connect.c's parse_connect_url, url.c's is_url and
// url_is_local_not_ssh): a "transport::address" prefix runs the remote
// helper git-remote-<transport> (fd::0, ext::sh -c ...); a string with no
// colon, or with a slash before its first colon, is a local path; a
// "scheme://" string is a URL, handled by git itself for file, git and ssh
// and by git-remote-<scheme> otherwise; anything else with a colon
// ("host:path") is scp-style ssh. The policy accepts only what git can
// only read as https (http when allowed), ssh:// or user@host:path, so
// that nothing git would take as a local path or a helper passes.
package repourl

import (
	"errors"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the longest repository string accepted.
const MaxLen = 2048

// Policy says which repositories a run may clone. The zero value allows
// https://, ssh:// and user@host:path.
type Policy struct {
	// AllowHTTP allows plain http:// URLs too, for a mirror on the
	// operator's own network (buildit server/worker/dev
	// --allow-http-repositories).
	AllowHTTP bool
}

// Error is a repository the policy refuses; its message names the field
// and says why, and is safe to show to whoever sent it (it never repeats
// the value, which may hold a password).
type Error struct{ Reason string }

func (e *Error) Error() string { return "repository: " + e.Reason }

func refuse(reason string) error { return &Error{Reason: reason} }

const use = "use an https://, ssh:// or user@host:path URL"

var (
	// helperPrefix is git's "transport::address" form: is_urlschemechar
	// from the start, then "::".
	helperPrefix = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+.-]*::`)
	// scheme is what git's is_url takes as a URL's scheme.
	scheme = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9+.-]*)://`)
	// scpLike is user@host:path, the user and the host from a safe
	// alphabet that starts with neither '-' (an ssh option) nor anything
	// that makes git see a path or brackets.
	scpLike  = regexp.MustCompile(`^([A-Za-z0-9_][A-Za-z0-9._-]*)@([^:/@\[\]]*):(.*)$`)
	hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?)*\.?$`)
	userName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._~-]*$`)
)

// Check returns nil when the policy allows repo, else an *Error saying
// why not. The empty string (no repository: an empty workspace) passes.
func (p Policy) Check(repo string) error {
	if repo == "" {
		return nil
	}
	if len(repo) > MaxLen {
		return refuse("at most " + strconv.Itoa(MaxLen) + " characters")
	}
	if strings.HasPrefix(repo, "-") {
		return refuse("must not start with '-' (git would read it as an option)")
	}
	if err := plainText(repo); err != nil {
		return err
	}
	if helperPrefix.MatchString(repo) {
		return refuse("transport::address forms run one of git's remote helpers (such as fd:: or ext::) and are not allowed; " + use)
	}
	if m := scheme.FindStringSubmatch(repo); m != nil {
		return p.checkURL(repo, m[1])
	}
	colon, slash := strings.IndexByte(repo, ':'), strings.IndexByte(repo, '/')
	if colon < 0 || (slash >= 0 && slash < colon) {
		return refuse("local paths are not allowed: a run may not clone from the worker's disk; " + use)
	}
	return checkSCP(repo)
}

// plainText refuses what has no place in a URL and that tools could read
// differently: invalid UTF-8, control and format (bidi) characters,
// spaces and backslashes.
func plainText(s string) error {
	if !utf8.ValidString(s) {
		return refuse("must be valid UTF-8")
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			return refuse("must not contain control or formatting characters")
		case unicode.IsSpace(r):
			return refuse("must not contain spaces (percent-encode them as %20)")
		case r == '\\':
			return refuse("must not contain backslashes")
		}
	}
	return nil
}

func (p Policy) checkURL(repo, sch string) error {
	// git compares schemes case-sensitively: "HTTPS://" would run a
	// helper named git-remote-HTTPS, so only these exact spellings pass.
	switch sch {
	case "https", "ssh":
	case "http":
		if !p.AllowHTTP {
			return refuse("http:// is not allowed on this server (an operator can allow it for mirrors on a trusted network with --allow-http-repositories); use https://")
		}
	case "file":
		return refuse("file:// URLs are not allowed: a run may not clone from the worker's disk; " + use)
	case "git":
		return refuse("git:// is unauthenticated and unencrypted, so it is not allowed; use https:// or ssh://")
	default:
		return refuse(sch + ":// is not an allowed scheme; " + use)
	}
	if strings.Contains(authority(repo), "%") {
		// net/url would decode it, and so would git for ssh://: a
		// "%2d" there is a '-'. No host needs escapes; users and
		// passwords may have them.
		return refuse("the host must not be percent-encoded")
	}
	u, err := url.Parse(repo)
	if err != nil {
		return refuse("not a valid URL (" + urlReason(err) + ")")
	}
	if u.Fragment != "" || strings.Contains(repo, "#") {
		return refuse("must not have a #fragment")
	}
	if err := checkHost(u.Host); err != nil {
		return err
	}
	if u.User != nil {
		// git percent-decodes ssh:// URLs before it splits them, so the
		// user of "ssh://%2doProxyCommand=...@host" would be an option.
		if sch == "ssh" && !userName.MatchString(u.User.Username()) {
			return refuse("the user of an ssh:// URL must be letters, digits, '.', '_', '~' or '-', not starting with '-'")
		}
		pw, _ := u.User.Password()
		if hasControl(u.User.Username()) || hasControl(pw) {
			return refuse("must not contain encoded control characters")
		}
	}
	if strings.Trim(u.Path, "/") == "" {
		return refuse("the URL has no path to a repository")
	}
	if hasControl(u.Path) || hasControl(u.RawQuery) {
		return refuse("must not contain encoded control characters")
	}
	return nil
}

// authority is the host[:port] of a URL as written, after "scheme://"
// and any user info.
func authority(repo string) string {
	rest := repo[strings.Index(repo, "://")+3:]
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest
}

// urlReason is net/url's complaint without the URL it quotes, which may
// hold a password.
func urlReason(err error) string {
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "unparsable"
}

// checkHost checks a URL's host[:port]: a DNS name or an IP address (IPv6
// in brackets), and a port from 1 to 65535 when one is given.
func checkHost(hostport string) error {
	host := hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host = hostport[:i]
		if n, err := strconv.Atoi(hostport[i+1:]); err != nil || n < 1 || n > 65535 {
			return refuse("the port must be a number from 1 to 65535")
		}
	}
	switch {
	case host == "":
		return refuse("the URL has no host")
	case strings.HasPrefix(host, "["):
		if !strings.HasSuffix(host, "]") || !isIPv6(host[1:len(host)-1]) {
			return refuse("the host is not a host name or an IP address")
		}
	case !hostName.MatchString(host):
		return refuse("the host is not a host name or an IP address")
	}
	return nil
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}

// checkSCP checks scp-style user@host:path. git splits it at the first
// colon, runs ssh with user@host and asks the far side for path.
func checkSCP(repo string) error {
	m := scpLike.FindStringSubmatch(repo)
	if m == nil {
		return refuse("scp-style repositories must be user@host:path (for example git@github.com:acme/app.git); " + use)
	}
	host, path := m[2], m[3]
	if host == "" {
		return refuse("the repository has no host")
	}
	if !hostName.MatchString(host) {
		return refuse("the host of user@host:path must be a host name or an IPv4 address (use ssh://user@[address]/path for IPv6)")
	}
	if strings.Trim(path, "/") == "" {
		return refuse("the repository has no path after the host")
	}
	if strings.HasPrefix(path, "-") {
		return refuse("the path after the host must not start with '-'")
	}
	return nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0
}

// Redacted is repo with the password of its URL's user info, if any,
// replaced by "xxxxx", for showing a run's repository to its readers.
func Redacted(repo string) string {
	u, err := url.Parse(repo)
	if err != nil || u.User == nil {
		return repo
	}
	if _, ok := u.User.Password(); !ok {
		return repo
	}
	return u.Redacted()
}
