package blobstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/internal/s3test"
)

// backend is a store under test and a way behind its back: raw writes an
// object's bytes as they are, without the store knowing.
type backend struct {
	store *blobstore.Store
	raw   func(t *testing.T, key string, data []byte)
	// leftovers lists what a failed write left behind (temporary files,
	// unfinished multipart uploads).
	leftovers func(t *testing.T) []string
}

var backends = []struct {
	name string
	open func(t testing.TB) backend
}{
	{"file", openFile},
	{"s3", openS3},
}

func openFile(t testing.TB) backend {
	dir := t.TempDir()
	st, err := blobstore.Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return backend{
		store: st,
		raw: func(t *testing.T, key string, data []byte) {
			if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(key)), data, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		leftovers: func(t *testing.T) []string {
			var out []string
			_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					out = append(out, p)
				}
				return err
			})
			return out
		},
	}
}

func openS3(t testing.TB) backend {
	u := s3test.Start(t)
	st, err := blobstore.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := s3test.Client(s3test.Endpoint(u))
	return backend{
		store: st,
		raw: func(t *testing.T, key string, data []byte) {
			_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
			if err != nil {
				t.Fatal(err)
			}
		},
		leftovers: func(t *testing.T) []string {
			out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(s3test.Bucket)})
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, u := range out.Uploads {
				keys = append(keys, "multipart upload of "+aws.ToString(u.Key))
			}
			l, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(s3test.Bucket)})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range l.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
			return keys
		},
	}
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

func digestOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func put(t *testing.T, st *blobstore.Store, key string, data []byte) blobstore.Object {
	t.Helper()
	o, err := st.Put(context.Background(), key, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func get(t *testing.T, st *blobstore.Store, key string, want blobstore.Object) ([]byte, error) {
	t.Helper()
	r, err := st.Get(context.Background(), key, want)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestStore(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.open(t)
			st := b.store
			ctx := context.Background()

			// Bigger than a part: S3 takes it as a multipart upload.
			big := randomBytes(1, blobstore.PartSize*2+12345)
			o := put(t, st, "runs/1/big", big)
			if want := (blobstore.Object{Key: "runs/1/big", Size: int64(len(big)), Digest: digestOf(big)}); o != want {
				t.Errorf("Put = %+v, want %+v", o, want)
			}
			got, err := get(t, st, "runs/1/big", o)
			if err != nil || !bytes.Equal(got, big) {
				t.Errorf("Get: %d bytes, %v; want the %d put", len(got), err, len(big))
			}
			if s, err := st.Stat(ctx, "runs/1/big"); err != nil || s.Size != o.Size {
				t.Errorf("Stat = %+v, %v", s, err)
			}

			// Empty objects and overwrites.
			e := put(t, st, "runs/1/empty", nil)
			if got, err := get(t, st, "runs/1/empty", e); err != nil || len(got) != 0 || e.Digest != digestOf(nil) {
				t.Errorf("empty: %q, %v, %+v", got, err, e)
			}
			put(t, st, "runs/1/small", []byte("first"))
			o2 := put(t, st, "runs/1/small", []byte("second"))
			if got, err := get(t, st, "runs/1/small", o2); err != nil || string(got) != "second" {
				t.Errorf("overwritten: %q, %v", got, err)
			}

			// List by prefix, in key order, and stopping early.
			for _, k := range []string{"p/2", "p/1", "q/1", "p2/x", "p/sub/3"} {
				put(t, st, k, []byte(k))
			}
			var keys []string
			err = st.List(ctx, "p/", func(o blobstore.Object) (bool, error) {
				keys = append(keys, o.Key)
				if o.Size != int64(len(o.Key)) {
					t.Errorf("listed %+v, size %d", o, len(o.Key))
				}
				return true, nil
			})
			if want := []string{"p/1", "p/2", "p/sub/3"}; err != nil || !slices.Equal(keys, want) {
				t.Errorf("List(p/) = %q, %v; want %q", keys, err, want)
			}
			n := 0
			if err := st.List(ctx, "p", func(blobstore.Object) (bool, error) { n++; return false, nil }); err != nil || n != 1 {
				t.Errorf("List stopped after %d, %v", n, err)
			}
			stop := errors.New("stop")
			if err := st.List(ctx, "p", func(blobstore.Object) (bool, error) { return true, stop }); !errors.Is(err, stop) {
				t.Errorf("List = %v, want fn's error", err)
			}

			// Delete, missing included; then not found everywhere.
			if err := st.Delete(ctx, "runs/1/small"); err != nil {
				t.Fatal(err)
			}
			if err := st.Delete(ctx, "runs/1/small"); err != nil {
				t.Errorf("second Delete: %v", err)
			}
			if _, err := get(t, st, "runs/1/small", blobstore.Object{}); !errors.Is(err, blobstore.ErrNotFound) {
				t.Errorf("Get after Delete: %v, want ErrNotFound", err)
			}
			if _, err := st.Stat(ctx, "never"); !errors.Is(err, blobstore.ErrNotFound) {
				t.Errorf("Stat: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestCorrupt(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.open(t)
			data := randomBytes(2, 100_000)
			flipped := bytes.Clone(data)
			flipped[5000] ^= 1
			for _, tc := range []struct {
				name string
				raw  []byte
				want blobstore.Object // zero: what Put answered
			}{
				{"truncated", data[:len(data)-1], blobstore.Object{}},
				{"a byte flipped", flipped, blobstore.Object{}},
				{"longer", append(bytes.Clone(data), 0), blobstore.Object{}},
				{"digest only recorded", flipped, blobstore.Object{Digest: digestOf(data)}},
				{"size only recorded", data[:10], blobstore.Object{Size: int64(len(data))}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					key := "c/" + strings.ReplaceAll(tc.name, " ", "-")
					o := put(t, b.store, key, data)
					if got, err := get(t, b.store, key, o); err != nil || !bytes.Equal(got, data) {
						t.Fatalf("intact object: %v", err)
					}
					b.raw(t, key, tc.raw)
					want := o
					if tc.want != (blobstore.Object{}) {
						want = tc.want
					}
					if _, err := get(t, b.store, key, want); !errors.Is(err, blobstore.ErrCorrupt) {
						t.Errorf("Get = %v, want ErrCorrupt", err)
					}
				})
			}
		})
	}
}

// failing yields n random bytes, then an error.
type failing struct {
	r io.Reader
}

var errReader = errors.New("reader broke")

func (f *failing) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errReader
	}
	return n, err
}

func TestFailedPutLeavesNothing(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.open(t)
			for _, size := range []int{1000, blobstore.PartSize*2 + 1} { // one part, then several
				_, err := b.store.Put(context.Background(), "f/obj", &failing{r: bytes.NewReader(randomBytes(3, size))})
				if !errors.Is(err, errReader) {
					t.Errorf("Put of %d bytes = %v, want the reader's error", size, err)
				}
				if _, err := b.store.Stat(context.Background(), "f/obj"); !errors.Is(err, blobstore.ErrNotFound) {
					t.Errorf("after a failed Put of %d bytes: Stat = %v, want ErrNotFound", size, err)
				}
				if left := b.leftovers(t); len(left) > 0 {
					t.Errorf("a failed Put of %d bytes left %q", size, left)
				}
			}
			// A failed overwrite keeps the object that was there.
			o := put(t, b.store, "f/kept", []byte("kept"))
			if _, err := b.store.Put(context.Background(), "f/kept", &failing{r: strings.NewReader("new")}); !errors.Is(err, errReader) {
				t.Errorf("Put = %v", err)
			}
			if got, err := get(t, b.store, "f/kept", o); err != nil || string(got) != "kept" {
				t.Errorf("after a failed overwrite: %q, %v", got, err)
			}
		})
	}
}

func TestSecurityBlobKeys(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.open(t)
			ctx := context.Background()
			for _, key := range []string{"", "..", "../x", "a/../../x", "a/..", "/abs", "a//b", "a/", "./a", `a\..\b`, "a\x00b", "a\nb", strings.Repeat("k", 1025), "\xff"} {
				if _, err := b.store.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, blobstore.ErrBadKey) {
					t.Errorf("Put(%q) = %v, want ErrBadKey", key, err)
				}
				if _, err := b.store.Get(ctx, key, blobstore.Object{}); !errors.Is(err, blobstore.ErrBadKey) {
					t.Errorf("Get(%q) = %v, want ErrBadKey", key, err)
				}
				if _, err := b.store.Stat(ctx, key); !errors.Is(err, blobstore.ErrBadKey) {
					t.Errorf("Stat(%q) = %v, want ErrBadKey", key, err)
				}
				if err := b.store.Delete(ctx, key); !errors.Is(err, blobstore.ErrBadKey) {
					t.Errorf("Delete(%q) = %v, want ErrBadKey", key, err)
				}
			}
			if left := b.leftovers(t); len(left) > 0 {
				t.Errorf("bad keys wrote %q", left)
			}
			for _, key := range []string{"a", "tenants/t1/runs/7/dist.tar.zst", "caches/x/cargo-1.2.3+abc=", "a b/ü"} {
				if err := blobstore.CheckKey(key); err != nil {
					t.Errorf("CheckKey(%q) = %v", key, err)
				}
			}
		})
	}
}

func TestSecurityBlobFolderStaysInside(t *testing.T) {
	// fileblob maps keys to paths with filepath.Join: without the key
	// check, Delete("a/..") removes the (empty) store folder itself and
	// Put("..") writes a temporary file beside it.
	parent := t.TempDir()
	dir := filepath.Join(parent, "store")
	st, err := blobstore.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, key := range []string{"a/..", "x/../..", ".."} {
		_ = st.Delete(context.Background(), key)
		_, _ = st.Put(context.Background(), key, strings.NewReader("x"))
	}
	ents, _ := os.ReadDir(parent)
	if len(ents) != 1 || ents[0].Name() != "store" || !ents[0].IsDir() {
		t.Errorf("the store's parent holds %v, want the store folder alone", ents)
	}
}

func TestFolderListSkipsTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	st, err := blobstore.Open(context.Background(), dir) // a plain path
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put(t, st, "k/obj", []byte("x"))
	// What fileblob writes before its rename, left by a process that died.
	if err := os.WriteFile(filepath.Join(dir, "k", "obj.18b2f0c1d2e3a4b5.tmp"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := st.List(context.Background(), "", func(o blobstore.Object) (bool, error) { keys = append(keys, o.Key); return true, nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"k/obj"}) {
		t.Errorf("listed %q", keys)
	}
}

func TestSecurityBlobRedact(t *testing.T) {
	for _, tc := range []struct{ url, secret string }{
		{"s3://b?endpoint=http://h:9000&region=r&secret_access_key=S3CR3T", "S3CR3T"},
		{"s3://user:P4SSW0RD@b?region=r", "P4SSW0RD"},
		{"azblob://c?sas_token=sv%3D2020%26sig%3DS1GNATURE", "S1GNATURE"},
		{"azblob://c?sig=S1GNATURE", "S1GNATURE"},
		{"gs://b?access_token=T0K3N", "T0K3N"},
	} {
		got := blobstore.Redact(tc.url)
		if strings.Contains(got, tc.secret) {
			t.Errorf("Redact(%q) = %q", tc.url, got)
		}
		// Open's errors (an unknown parameter, an unknown scheme) quote
		// the URL: without the secret.
		for _, u := range []string{tc.url + "&bogus=1", strings.Replace(tc.url, "://", "x://", 1)} {
			_, err := blobstore.Open(context.Background(), u)
			if err == nil {
				t.Errorf("Open(%q) worked", u)
			} else if strings.Contains(err.Error(), tc.secret) {
				t.Errorf("Open's error shows the secret: %v", err)
			}
		}
	}
	if got := blobstore.Redact("s3://b?endpoint=http://h:9000&region=us-east-1"); !strings.Contains(got, "endpoint=") || !strings.Contains(got, "us-east-1") {
		t.Errorf("Redact removed what is not secret: %q", got)
	}
}
