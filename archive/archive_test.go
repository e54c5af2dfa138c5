package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/buildit-ci/buildit/archive"
)

func write(t *testing.T, dir, rel, body string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// tree answers with every path under dir (slash-separated, relative),
// folders with a trailing "/", links as "name -> target".
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, rel+" -> "+target)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func roundTrip(t *testing.T, src string, paths []string) []string {
	t.Helper()
	dst := t.TempDir()
	var buf bytes.Buffer
	if _, err := archive.Pack(context.Background(), &buf, []archive.Tree{{Dir: src, Paths: paths}}); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Unpack(context.Background(), &buf, []archive.Tree{{Dir: dst}}); err != nil {
		t.Fatal(err)
	}
	return tree(t, dst)
}

func TestRoundTrip(t *testing.T) {
	src := t.TempDir()
	write(t, src, "dist/app", "binary")
	write(t, src, "reports/a.xml", "<a/>")
	write(t, src, "reports/b.txt", "no")
	write(t, src, "reports/sub/c.xml", "<c/>")
	write(t, src, "deep/x/y/z.log", "log")
	write(t, src, "top.log", "top")
	write(t, src, "out/bin/tool", "tool")
	write(t, src, "out/lib/x.a", "lib")
	if err := os.Mkdir(filepath.Join(src, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		paths []string
		want  []string
	}{
		{"file", []string{"dist/app"}, []string{"dist/", "dist/app"}},
		{"star", []string{"reports/*.xml"}, []string{"reports/", "reports/a.xml"}},
		{"double star", []string{"**/*.log"}, []string{"deep/", "deep/x/", "deep/x/y/", "deep/x/y/z.log", "top.log"}},
		{"double star in the middle", []string{"reports/**/*.xml"}, []string{"reports/", "reports/a.xml", "reports/sub/", "reports/sub/c.xml"}},
		{"folder", []string{"out"}, []string{"out/", "out/bin/", "out/bin/tool", "out/lib/", "out/lib/x.a"}},
		{"folder with a slash and ./", []string{"./out/"}, []string{"out/", "out/bin/", "out/bin/tool", "out/lib/", "out/lib/x.a"}},
		{"empty folder", []string{"empty"}, []string{"empty/"}},
		{"overlapping", []string{"out", "out/bin/tool", "out/*/*"}, []string{"out/", "out/bin/", "out/bin/tool", "out/lib/", "out/lib/x.a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := roundTrip(t, src, tc.paths); !slices.Equal(got, tc.want) {
				t.Errorf("unpacked %q, want %q", got, tc.want)
			}
		})
	}
	dst := t.TempDir()
	var buf bytes.Buffer
	if _, err := archive.Pack(context.Background(), &buf, []archive.Tree{{Dir: src, Paths: []string{"dist/app"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Unpack(context.Background(), &buf, []archive.Tree{{Dir: dst}}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dst, "dist/app")); err != nil || string(got) != "binary" {
		t.Errorf("dist/app = %q, %v; want %q", got, err, "binary")
	}
}

func TestStats(t *testing.T) {
	src := t.TempDir()
	write(t, src, "a/1", "12345")
	write(t, src, "a/2", "678")
	symlink(t, "1", filepath.Join(src, "a/l"))
	var buf bytes.Buffer
	st, err := archive.Pack(context.Background(), &buf, []archive.Tree{{Dir: src, Paths: []string{"a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (archive.Stats{Files: 4, Bytes: 8}); st != want {
		t.Errorf("Pack: %+v, want %+v", st, want)
	}
	st, err = archive.Unpack(context.Background(), &buf, []archive.Tree{{Dir: t.TempDir()}})
	if want := (archive.Stats{Files: 4, Bytes: 8}); err != nil || st != want {
		t.Errorf("Unpack: %+v, %v; want %+v", st, err, want)
	}
}

func TestSymlinksKeptAsLinks(t *testing.T) {
	src := t.TempDir()
	write(t, src, "lib/real.so", "so")
	write(t, src, "data/f", "f")
	symlink(t, "real.so", filepath.Join(src, "lib/link.so"))
	symlink(t, "data", filepath.Join(src, "datalink"))      // a folder: not followed
	symlink(t, "/etc", filepath.Join(src, "outside"))       // kept as written
	symlink(t, "missing", filepath.Join(src, "lib/broken")) // dangling
	got := roundTrip(t, src, []string{"lib", "datalink", "outside"})
	want := []string{"datalink -> data", "lib/", "lib/broken -> missing", "lib/link.so -> real.so", "lib/real.so", "outside -> /etc"}
	if !slices.Equal(got, want) {
		t.Errorf("unpacked %q, want %q", got, want)
	}
}

func TestPrefixes(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write(t, a, "x", "from a")
	write(t, b, "x", "from b")
	var buf bytes.Buffer
	_, err := archive.Pack(context.Background(), &buf, []archive.Tree{
		{Prefix: "ws", Dir: a, Paths: []string{"x"}},
		{Prefix: "home", Dir: b, Paths: []string{"x"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	da, db := t.TempDir(), t.TempDir()
	// "home" is unpacked, "ws" names no tree and is skipped.
	if _, err := archive.Unpack(context.Background(), bytes.NewReader(buf.Bytes()), []archive.Tree{{Prefix: "home", Dir: db}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(db, "x")); string(got) != "from b" {
		t.Errorf("home/x = %q", got)
	}
	if got := tree(t, da); len(got) != 0 {
		t.Errorf("ws unpacked: %q", got)
	}
	for _, bad := range []string{"a/b", "..", ".", `a\b`} {
		if _, err := archive.Pack(context.Background(), &bytes.Buffer{}, []archive.Tree{{Prefix: bad, Dir: a, Paths: []string{"x"}}}); err == nil {
			t.Errorf("prefix %q taken", bad)
		}
	}
}

func TestMissing(t *testing.T) {
	src, other := t.TempDir(), t.TempDir()
	write(t, src, "here", "x")
	_, err := archive.Pack(context.Background(), &bytes.Buffer{}, []archive.Tree{
		{Dir: src, Paths: []string{"nope/app", "here", "*.xml"}},
		{Prefix: "o", Dir: other, Paths: []string{"gone"}},
		{Prefix: "opt", Dir: other, Paths: []string{"maybe"}, Optional: true},
	})
	var me *archive.MissingError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want a MissingError", err)
	}
	if want := []string{"nope/app", "*.xml", "gone"}; !slices.Equal(me.Paths, want) {
		t.Errorf("missing %q, want %q", me.Paths, want)
	}
	for _, p := range []string{"nope/app", "*.xml", "gone"} {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name %s", err, p)
		}
	}
	st, err := archive.Pack(context.Background(), &bytes.Buffer{}, []archive.Tree{{Dir: src, Paths: []string{"nope", "here"}, Optional: true}})
	if err != nil || st.Files != 1 {
		t.Errorf("optional: %+v, %v; want the one file", st, err)
	}
}

func TestUnpackOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	src, dst := t.TempDir(), t.TempDir()
	write(t, src, "d/f", "x")
	symlink(t, "f", filepath.Join(src, "d/l"))
	var buf bytes.Buffer
	if _, err := archive.Pack(context.Background(), &buf, []archive.Tree{{Dir: src, Paths: []string{"d"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Unpack(context.Background(), &buf, []archive.Tree{{Dir: dst, Owner: &archive.Owner{UID: 1234, GID: 5678}}}); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"d", "d/f", "d/l"} {
		uid, gid := owner(t, filepath.Join(dst, rel))
		if uid != 1234 || gid != 5678 {
			t.Errorf("%s owned by %d:%d, want 1234:5678", rel, uid, gid)
		}
	}
}

// --- hostile input -------------------------------------------------------

// entry is one tar entry of a hand-made archive.
type entry struct {
	name, link string
	typ        byte
	mode       int64
	body       string
}

func tarOf(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body[:hdr.Size])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encoder is shared: making one per call would dominate the fuzzer's time.
var encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))

func zstdOf(_ testing.TB, raw []byte) []byte { return encoder.EncodeAll(raw, nil) }

// unpackAlone unpacks data into a folder "dst" of a fresh folder and
// checks that nothing appeared beside dst; it answers with Unpack's error
// and dst.
func unpackAlone(t testing.TB, data []byte, prefix string) (string, error) {
	t.Helper()
	parent := t.TempDir()
	dst := filepath.Join(parent, "dst")
	_, err := archive.Unpack(context.Background(), bytes.NewReader(data), []archive.Tree{{Prefix: prefix, Dir: dst}})
	ents, rerr := os.ReadDir(parent)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if len(ents) != 1 || ents[0].Name() != "dst" || !ents[0].IsDir() {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("unpacking wrote beside its folder: %q", names)
	}
	return dst, err
}

func TestSecurityArchiveUnpackHostile(t *testing.T) {
	// A unique name, so that a write to / or to the parent is seen.
	evil := "buildit-evil-" + strings.ReplaceAll(t.Name(), "/", "-")
	for _, tc := range []struct {
		name    string
		entries []entry
		prefix  string
	}{
		{"climbs out", []entry{{name: "../" + evil, typ: tar.TypeReg, body: "x"}}, ""},
		{"climbs out after a folder", []entry{{name: "a/../../" + evil, typ: tar.TypeReg, body: "x"}}, ""},
		{"absolute", []entry{{name: "/tmp/" + evil, typ: tar.TypeReg, body: "x"}}, ""},
		{"folder climbs out", []entry{{name: "../" + evil + "/", typ: tar.TypeDir}}, ""},
		{"link to / then a file through it", []entry{
			{name: "link", link: "/", typ: tar.TypeSymlink},
			{name: "link/tmp/" + evil, typ: tar.TypeReg, body: "x"},
		}, ""},
		{"link to .. then a file through it", []entry{
			{name: "up", link: "..", typ: tar.TypeSymlink},
			{name: "up/" + evil, typ: tar.TypeReg, body: "x"},
		}, ""},
		{"link to .. then a folder through it", []entry{
			{name: "up", link: "..", typ: tar.TypeSymlink},
			{name: "up/" + evil + "/", typ: tar.TypeDir},
		}, ""},
		{"link to .. then a link through it", []entry{
			{name: "up", link: "..", typ: tar.TypeSymlink},
			{name: "up/" + evil, link: "/", typ: tar.TypeSymlink},
		}, ""},
		{"prefixed, climbs out", []entry{{name: "p/../../" + evil, typ: tar.TypeReg, body: "x"}}, "p"},
		{"prefixed, link then through it", []entry{
			{name: "p/link", link: "../..", typ: tar.TypeSymlink},
			{name: "p/link/" + evil, typ: tar.TypeReg, body: "x"},
		}, "p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := unpackAlone(t, zstdOf(t, tarOf(t, tc.entries)), tc.prefix)
			var ee *archive.EscapeError
			if !errors.As(err, &ee) {
				t.Errorf("err = %v, want an EscapeError", err)
			}
			for _, p := range []string{"/" + evil, "/tmp/" + evil} {
				if _, err := os.Lstat(p); err == nil {
					os.RemoveAll(p)
					t.Errorf("%s was written", p)
				}
			}
		})
	}
}

func TestSecurityArchiveUnpackFileWhereFolder(t *testing.T) {
	data := zstdOf(t, tarOf(t, []entry{
		{name: "a", typ: tar.TypeReg, body: "file"},
		{name: "a/b", typ: tar.TypeReg, body: "x"},
	}))
	dst, err := unpackAlone(t, data, "")
	if err == nil {
		t.Fatal("a file under a file was taken")
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "a")); string(got) != "file" {
		t.Errorf("a = %q", got)
	}
}

func TestSecurityArchiveUnpackDropsSetID(t *testing.T) {
	data := zstdOf(t, tarOf(t, []entry{
		{name: "suid", typ: tar.TypeReg, mode: 0o4755, body: "x"},
		{name: "sgid", typ: tar.TypeReg, mode: 0o2755, body: "x"},
		{name: "sticky/", typ: tar.TypeDir, mode: 0o1777},
		{name: "dev", typ: tar.TypeChar, mode: 0o666},
		{name: "hard", link: "/etc/passwd", typ: tar.TypeLink},
	}))
	dst, err := unpackAlone(t, data, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"suid", "sgid", "sticky"} {
		fi, err := os.Lstat(filepath.Join(dst, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			t.Errorf("%s kept %v", rel, fi.Mode())
		}
	}
	for _, rel := range []string{"dev", "hard"} {
		if _, err := os.Lstat(filepath.Join(dst, rel)); err == nil {
			t.Errorf("%s was made", rel)
		}
	}
}

func TestSecurityArchivePackEscapes(t *testing.T) {
	src := t.TempDir()
	write(t, src, "ok", "x")
	write(t, src, "d/f", "x")
	symlink(t, "/", filepath.Join(src, "rootlink"))
	symlink(t, "../..", filepath.Join(src, "d/up"))
	for _, p := range []string{
		"rootlink/etc/passwd", "rootlink/etc/*", "rootlink/**/passwd", "d/up/x",
		"../x", "a/../../x", "/etc", "/etc/passwd", "",
	} {
		t.Run(p, func(t *testing.T) {
			_, err := archive.Pack(context.Background(), &bytes.Buffer{}, []archive.Tree{{Dir: src, Paths: []string{"ok", p}, Optional: true}})
			var ee *archive.EscapeError
			if !errors.As(err, &ee) {
				t.Errorf("err = %v, want an EscapeError", err)
			}
		})
	}
	// The links themselves are kept, as links.
	got := roundTrip(t, src, []string{"rootlink", "d"})
	want := []string{"d/", "d/f", "d/up -> ../..", "rootlink -> /"}
	if !slices.Equal(got, want) {
		t.Errorf("unpacked %q, want %q", got, want)
	}
	// "**" does not walk through a link.
	_, err := archive.Pack(context.Background(), &bytes.Buffer{}, []archive.Tree{{Dir: src, Paths: []string{"**/passwd"}}})
	var me *archive.MissingError
	if !errors.As(err, &me) {
		t.Errorf("**/passwd: err = %v, want a MissingError", err)
	}
}

func FuzzUnpack(f *testing.F) {
	seeds := [][]entry{
		{{name: "a/b", typ: tar.TypeReg, body: "x"}, {name: "d/", typ: tar.TypeDir}},
		{{name: "../evil", typ: tar.TypeReg, body: "x"}},
		{{name: "link", link: "/", typ: tar.TypeSymlink}, {name: "link/evil", typ: tar.TypeReg, body: "x"}},
		{{name: "up", link: "..", typ: tar.TypeSymlink}, {name: "up/evil/", typ: tar.TypeDir}},
		{{name: "a", typ: tar.TypeReg, body: "x"}, {name: "a/b", typ: tar.TypeReg, body: "y"}},
	}
	for _, s := range seeds {
		f.Add(tarOf(f, s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		dst, _ := unpackAlone(t, zstdOf(t, raw), "")
		// Every path under dst is below it once its links are resolved
		// by os.Root, so only the links themselves can point out; the
		// test above checked that nothing was written beside dst.
		_ = tree(t, dst)
	})
}

func TestModeAndTimeKept(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, src, "bin/tool", "#!/bin/sh")
	write(t, src, "bin/secret", "s")
	if err := os.Chmod(filepath.Join(src, "bin/tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "bin/secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "bin/tool"), when, when); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := archive.Pack(context.Background(), &buf, []archive.Tree{{Dir: src, Paths: []string{"bin"}}}); err != nil {
		t.Fatal(err)
	}
	// Over an older copy: the files are replaced, not written into.
	write(t, dst, "bin/tool", "old contents, longer than the new")
	if _, err := archive.Unpack(context.Background(), &buf, []archive.Tree{{Dir: dst}}); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]fs.FileMode{"bin/tool": 0o755, "bin/secret": 0o600} {
		fi, err := os.Stat(filepath.Join(dst, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode().Perm(), want)
		}
	}
	fi, err := os.Stat(filepath.Join(dst, "bin/tool"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(when) {
		t.Errorf("bin/tool modified %v, want %v", fi.ModTime(), when)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "bin/tool")); string(got) != "#!/bin/sh" {
		t.Errorf("bin/tool = %q", got)
	}
}
