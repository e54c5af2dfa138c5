// Package blobstore is BuildIt's blob store: where artifacts and caches are
// kept, as archives, behind one small type over gocloud.dev/blob. A URL
// chooses the backend: file:// (a folder), s3:// (any S3-compatible store),
// gs:// or azblob://.
//
// Objects are written in one streaming pass; Put answers with the object's
// size and sha256 digest, which the caller records, and Get checks both as
// the object is read back, so that a corrupt or truncated object is an
// error (ErrCorrupt) at the end of the stream, never silently taken.
package blobstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob://
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob" // gs://
	_ "gocloud.dev/blob/s3blob"  // s3://
	"gocloud.dev/gcerrors"
)

// ErrNotFound reports that no object has the key.
var ErrNotFound = errors.New("blob not found")

// ErrCorrupt reports that an object read back is not what was written: its
// size or its digest differ from those recorded.
var ErrCorrupt = errors.New("blob is corrupt")

// ErrBadKey reports a key the store refuses: empty, absolute, with an
// empty, "." or ".." segment, a backslash or a control character, or
// longer than MaxKeyLen. Such keys would name different objects on
// different backends (or, in a folder, a file outside it).
var ErrBadKey = errors.New("bad blob key")

// MaxKeyLen is the longest key the store takes (S3's limit).
const MaxKeyLen = 1024

// PartSize and PartConcurrency bound what an upload to S3 holds in memory:
// a stream of unknown size goes up in parts of PartSize (S3's smallest),
// at most PartConcurrency of them in flight, from a pool of
// PartConcurrency+1 buffers (15 MiB). With S3's 10,000 parts, one object
// can reach 48 GiB.
const (
	PartSize        = 5 << 20
	PartConcurrency = 2
)

// Store is an open blob store.
type Store struct {
	bucket *blob.Bucket
	url    string
	dir    bool // a folder (file://)
	// uploadAborts: the driver's upload reads the stream itself and, when
	// a read fails, aborts the upload (s3blob and azureblob: the
	// multipart upload is aborted, which needs a live context).
	uploadAborts bool
}

// tempName matches the names fileblob gives the files it writes before
// renaming them into place ("<key>.<hex nanoseconds>.tmp").
var tempName = regexp.MustCompile(`\.[0-9a-f]+\.tmp$`)

// CheckKey reports whether the store takes key, with an error wrapping
// ErrBadKey when it does not.
func CheckKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrBadKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	case strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }):
		return bad("a control character or a backslash")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad(`an empty, "." or ".." segment (or a leading or trailing "/")`)
		}
	}
	return nil
}

// Object is a stored object: its key, size and digest ("sha256:<hex>").
type Object struct {
	Key     string    `json:"key"`
	Size    int64     `json:"size"`
	Digest  string    `json:"digest"`
	ModTime time.Time `json:"mod_time,omitzero"`
}

// Open opens the store at rawURL. A plain path or a file:// URL is a
// folder, made when missing; s3:// takes gocloud's query parameters
// (endpoint, region, use_path_style, ...) and the standard AWS_*
// credentials from the environment.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	if rawURL == "" {
		return nil, errors.New("blob store: no URL")
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		// A plain path.
		u = &url.URL{Scheme: "file", Path: rawURL}
	}
	if u.Scheme == "file" {
		return openDir(u)
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, redactErr(rawURL, err)
	}
	return &Store{bucket: b, url: Redact(rawURL), uploadAborts: u.Scheme == "s3" || u.Scheme == "azblob"}, nil
}

// openDir opens a folder: made when missing (0700), with temporary files
// written next to their objects so that the final rename never crosses
// file systems, and without gocloud's metadata side files (BuildIt records
// what it needs itself).
func openDir(u *url.URL) (*Store, error) {
	dir := u.Path
	if u.Host != "" && u.Host != "localhost" {
		dir = filepath.Join(u.Host, dir)
	}
	if dir == "" {
		return nil, errors.New("blob store: file:// URL names no folder")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	b, err := fileblob.OpenBucket(abs, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", abs, err)
	}
	return &Store{bucket: b, url: "file://" + abs, dir: true}, nil
}

// Redact returns rawURL without a password or secret-bearing query
// parameters, for logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	for k := range q {
		if secretParam(k) {
			q.Set(k, "REDACTED")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// secretParam reports whether a query parameter may carry a secret.
func secretParam(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"secret", "key", "token", "password", "sig", "credential", "sas"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// secrets answers with the secret values in rawURL, to scrub them from
// error text that quotes the URL.
func secrets(rawURL string) []string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return []string{rawURL}
	}
	var out []string
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
	}
	for k, vs := range u.Query() {
		if secretParam(k) {
			for _, v := range vs {
				if v != "" {
					out = append(out, v, url.QueryEscape(v))
				}
			}
		}
	}
	return out
}

// redactedError is an error whose text is scrubbed of a URL's secrets
// (gocloud quotes the URL in some of its errors).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactErr(rawURL string, err error) error {
	msg := err.Error()
	for _, s := range secrets(rawURL) {
		msg = strings.ReplaceAll(msg, s, "REDACTED")
	}
	return &redactedError{msg: fmt.Sprintf("blob store %s: %s", Redact(rawURL), msg), err: err}
}

// String names the store (its URL, without secrets).
func (s *Store) String() string { return s.url }

// Close closes the store.
func (s *Store) Close() error { return s.bucket.Close() }

// Put streams r into the object key, replacing any object there, and
// answers with its size and digest. Nothing is visible under key unless
// the whole stream was written: a failed Put leaves no object (nor, on S3,
// an unfinished multipart upload), and a failed overwrite leaves the
// object that was there.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (Object, error) {
	if err := CheckKey(key); err != nil {
		return Object{}, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hr := &hashingReader{r: r, h: sha256.New()}
	if !s.uploadAborts {
		// The driver would commit what it has when r fails: a canceled
		// write is its only way back.
		hr.onErr = cancel
	}
	err := s.bucket.Upload(wctx, key, hr, &blob.WriterOptions{
		ContentType:    "application/octet-stream",
		BufferSize:     PartSize,
		MaxConcurrency: PartConcurrency,
	})
	if hr.err != nil {
		return Object{}, fmt.Errorf("put %s: %w", key, hr.err)
	}
	if err != nil {
		return Object{}, s.err("put", key, err)
	}
	return Object{Key: key, Size: hr.n, Digest: digest(hr.h)}, nil
}

// hashingReader hashes and counts what is read through it and keeps the
// first error other than io.EOF.
type hashingReader struct {
	r     io.Reader
	h     hash.Hash
	n     int64
	err   error
	onErr func()
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && r.err == nil {
		r.err = err
		if r.onErr != nil {
			r.onErr()
		}
	}
	return n, err
}

// Get opens the object key for reading. When want has a size or a digest,
// the reader checks them: its last Read returns an error wrapping
// ErrCorrupt instead of io.EOF when they differ.
func (s *Store) Get(ctx context.Context, key string, want Object) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	r, err := s.bucket.NewReader(ctx, key, &blob.ReaderOptions{BeforeRead: quietS3})
	if err != nil {
		return nil, s.err("get", key, err)
	}
	if want.Size == 0 && want.Digest == "" {
		return r, nil
	}
	return &checked{r: r, key: key, want: want, h: sha256.New()}, nil
}

// Stat answers with the object's size and time; its digest is not stored
// with it.
func (s *Store) Stat(ctx context.Context, key string) (Object, error) {
	if err := CheckKey(key); err != nil {
		return Object{}, err
	}
	a, err := s.bucket.Attributes(ctx, key)
	if err != nil {
		return Object{}, s.err("stat", key, err)
	}
	return Object{Key: key, Size: a.Size, ModTime: a.ModTime}, nil
}

// Delete removes the object key; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	err := s.bucket.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.err("delete", key, err)
	}
	return nil
}

// List calls fn for every object whose key starts with prefix, in key
// order, until fn returns false or an error. In a folder, the temporary
// files of writes under way (or of a process that died writing) are not
// listed.
func (s *Store) List(ctx context.Context, prefix string, fn func(Object) (bool, error)) error {
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.err("list", prefix, err)
		}
		if o.IsDir || (s.dir && tempName.MatchString(o.Key)) {
			continue
		}
		more, err := fn(Object{Key: o.Key, Size: o.Size, ModTime: o.ModTime})
		if err != nil || !more {
			return err
		}
	}
}

func (s *Store) err(op, key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%s %s: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("%s %s in %s: %w", op, key, s.url, err)
}

// quietS3 turns off the S3 client's warning, on every read of an object
// uploaded in parts, that it did not check the parts' checksums: the
// blob store checks the whole object's sha256 itself.
func quietS3(as func(any) bool) error {
	var opts *[]func(*s3.Options)
	if as(&opts) {
		*opts = append(*opts, func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	}
	return nil
}

func digest(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// checked is a reader that checks an object's size and digest as it is
// read.
type checked struct {
	r    io.ReadCloser
	key  string
	want Object
	h    hash.Hash
	n    int64
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if c.want.Size > 0 && c.n > c.want.Size {
		return n, fmt.Errorf("%s: %w: more than the %d bytes recorded", c.key, ErrCorrupt, c.want.Size)
	}
	if errors.Is(err, io.EOF) {
		if c.want.Size > 0 && c.n != c.want.Size {
			return n, fmt.Errorf("%s: %w: %d bytes of the %d recorded (truncated)", c.key, ErrCorrupt, c.n, c.want.Size)
		}
		if got := digest(c.h); c.want.Digest != "" && got != c.want.Digest {
			return n, fmt.Errorf("%s: %w: digest %s, recorded %s", c.key, ErrCorrupt, got, c.want.Digest)
		}
	}
	return n, err
}

func (c *checked) Close() error { return c.r.Close() }
