// Package s3test starts a real S3-compatible server for tests: versitygw
// (github.com/versity/versitygw, POSIX backend) over a folder of the test's
// own, built once by scripts/versitygw.sh (make testdeps).
package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sys/unix"
)

// Version is the versitygw release scripts/versitygw.sh builds.
const Version = "v1.8.0"

// BinaryEnv names the versitygw binary; unset, the default cache path of
// scripts/versitygw.sh is tried.
const BinaryEnv = "BUILDIT_VERSITYGW"

// RequireEnv names the variable that, set to 1, fails a test that would
// skip for want of the binary (so does BUILDIT_REQUIRE_DOCKER=1, which CI
// sets).
const RequireEnv = "BUILDIT_REQUIRE_S3"

// Credentials and region of the server's root user.
const (
	AccessKey = "buildit-test"
	SecretKey = "buildit-test-secret"
	Region    = "us-east-1"
	Bucket    = "buildit-test"
)

// Binary answers with the versitygw binary's path, or "" when it is not
// there.
func Binary() string {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return ""
	}
	dir := os.Getenv("BUILDIT_TOOLS_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".cache", "buildit-tools")
	}
	p := filepath.Join(dir, "versitygw-"+Version, "versitygw")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Start starts versitygw on a free port of 127.0.0.1 over a fresh folder,
// makes a bucket, sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_REGION for the test (t.Setenv: not for parallel tests) and answers
// with the bucket's gocloud URL, for blobstore.Open. The server stops when
// the test ends. Without the binary the test is skipped, or fails when
// BUILDIT_REQUIRE_S3 or BUILDIT_REQUIRE_DOCKER is 1.
func Start(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "versitygw not built: run `make testdeps` (scripts/versitygw.sh builds it once, about 5 minutes) or set " + BinaryEnv
		if os.Getenv(RequireEnv) == "1" || os.Getenv("BUILDIT_REQUIRE_DOCKER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	data := filepath.Join(xattrDir(t), "s3data")
	if err := os.MkdirAll(filepath.Join(data, Bucket), 0o700); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logf, err := os.Create(filepath.Join(filepath.Dir(data), "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--port", addr, "--access", AccessKey, "--secret", SecretKey,
		"--region", Region, "--health", "/healthz", "--quiet", "posix", data)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error // set before exited is closed
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	endpoint := "http://" + addr
	if err := waitHealthy(endpoint, exited, &waitErr); err != nil {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("versitygw: %v\n%s", err, log)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	// The bucket folder made above is a bucket to versitygw's POSIX
	// backend already; HeadBucket proves the server and the credentials
	// work, CreateBucket covers a backend that wants it made.
	c := Client(endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(Bucket)}); err != nil {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(Bucket)}); err != nil {
			t.Fatalf("versitygw: make bucket: %v", err)
		}
	}
	return URL(endpoint, Bucket)
}

// URL answers with the gocloud URL of bucket on endpoint, path-style over
// plain HTTP.
func URL(endpoint, bucket string) string {
	return "s3://" + bucket + "?endpoint=" + endpoint + "&region=" + Region + "&use_path_style=true&disable_https=true"
}

// Endpoint answers with the endpoint in a URL made by Start.
func Endpoint(s3URL string) string {
	_, q, _ := strings.Cut(s3URL, "endpoint=")
	e, _, _ := strings.Cut(q, "&")
	return e
}

// Client answers with an S3 client on endpoint with the test credentials,
// for what a test does behind the blob store's back.
func Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		UsePathStyle: true,
	})
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitHealthy(endpoint string, exited <-chan struct{}, waitErr *error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited before it was ready: %w", *waitErr)
		default:
		}
		resp, err := http.Get(endpoint + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not ready after 30 s")
}

// xattrDir answers with a fresh folder on a file system that takes user.*
// extended attributes, where versitygw's POSIX backend keeps metadata:
// t.TempDir() when it does (ext4, xfs, btrfs, recent tmpfs), else a folder
// under the user's cache folder, removed when the test ends.
func xattrDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if xattrOK(dir) {
		return dir
	}
	cache, err := os.UserCacheDir()
	if err == nil {
		base := filepath.Join(cache, "buildit-s3test")
		if err = os.MkdirAll(base, 0o700); err == nil {
			var d string
			if d, err = os.MkdirTemp(base, "run-"); err == nil {
				t.Cleanup(func() { os.RemoveAll(d) })
				if xattrOK(d) {
					return d
				}
			}
		}
	}
	t.Fatalf("no folder with user.* extended attributes for versitygw (tried %s and the user cache folder: %v)", dir, err)
	return ""
}

func xattrOK(dir string) bool {
	p := filepath.Join(dir, ".xattr-probe")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		return false
	}
	defer os.Remove(p)
	return unix.Setxattr(p, "user.buildit-probe", []byte("1"), 0) == nil
}
