// Package archive packs folders into the archives BuildIt keeps artifacts
// and caches in, and unpacks them again: a tar stream compressed with
// zstd, written and read in one streaming pass in constant memory.
//
// zstd rather than gzip: on this kind of machine it compresses several
// times faster at a ratio as good as gzip's default level, and it
// decompresses at several hundred MB/s, which is what makes a cache worth
// restoring; its frames carry a checksum of their own besides the sha256
// the blob store records.
//
// Both directions treat the archive and the folders as hostile: Pack
// refuses paths that leave their folder (as written or through a symbolic
// link) and stores links as links, without following them; Unpack refuses
// entries that are absolute or climb out ("../"), writes only through an
// os.Root on the target folder, so that no link, archived or planted,
// takes a write outside it, and keeps no set-id bits.
package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Tree is a folder of the host, packed under Prefix in the archive (""
// packs it at the archive's root) and unpacked from there.
type Tree struct {
	// Prefix names the tree in the archive: a single name without
	// slashes, or "".
	Prefix string
	// Dir is the folder, an absolute path.
	Dir string
	// Paths are what Pack takes from Dir: files, folders (with everything
	// in them) and globs ("reports/*.xml", "**/*.log"), relative to Dir.
	Paths []string
	// Optional lets Pack skip paths that match nothing; otherwise they
	// make a *MissingError.
	Optional bool
	// Owner, when set, owns what Unpack makes in Dir.
	Owner *Owner
}

// Owner is a numeric user and group.
type Owner struct{ UID, GID int }

// Stats counts what was packed or unpacked: regular files, links and
// folders, and the bytes of the regular files' contents.
type Stats struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// MissingError names the paths that matched nothing.
type MissingError struct {
	Paths []string
}

func (e *MissingError) Error() string {
	return "no such file or folder: " + strings.Join(e.Paths, ", ")
}

// EscapeError reports a path or an archive entry that would leave its
// folder.
type EscapeError struct {
	Path   string
	Reason string
}

func (e *EscapeError) Error() string { return fmt.Sprintf("%q %s", e.Path, e.Reason) }

// Encoder and decoder settings: one goroutine each way and a bounded
// window, so that memory stays flat whatever the archive's size.
const maxWindow = 8 << 20

// Pack writes an archive of trees to w. When it fails, what it wrote to w
// is not a whole archive.
func Pack(ctx context.Context, w io.Writer, trees []Tree) (Stats, error) {
	for _, t := range trees {
		if err := checkPrefix(t.Prefix); err != nil {
			return Stats{}, err
		}
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		return Stats{}, err
	}
	defer zw.Close() // a no-op after the Close below
	tw := tar.NewWriter(zw)
	p := &packer{ctx: ctx, tw: tw, seen: map[string]bool{}, buf: make([]byte, 256<<10)}
	var missing []string
	for _, t := range trees {
		m, err := p.tree(t)
		if err != nil {
			return p.st, err
		}
		if !t.Optional {
			missing = append(missing, m...)
		}
	}
	if len(missing) > 0 {
		return p.st, &MissingError{Paths: missing}
	}
	if err := tw.Close(); err != nil {
		return p.st, err
	}
	return p.st, zw.Close()
}

func checkPrefix(prefix string) error {
	if prefix != "" && (strings.ContainsAny(prefix, `/\`) || prefix == "." || prefix == "..") {
		return fmt.Errorf("archive: bad tree prefix %q", prefix)
	}
	return nil
}

type packer struct {
	ctx  context.Context
	tw   *tar.Writer
	st   Stats
	seen map[string]bool
	buf  []byte
}

// tree packs t's paths; it answers with those that matched nothing.
func (p *packer) tree(t Tree) (missing []string, err error) {
	root, err := os.OpenRoot(t.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	for _, raw := range t.Paths {
		rel, err := localPath(raw)
		if err != nil {
			return nil, err
		}
		var matches []string
		if hasMeta(rel) {
			matches, err = glob(root, rel)
			if err != nil {
				return nil, pathError(raw, err)
			}
		} else if _, err := root.Lstat(rel); err == nil {
			matches = []string{rel}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, pathError(raw, err)
		}
		if len(matches) == 0 {
			missing = append(missing, raw)
			continue
		}
		for _, m := range matches {
			if err := p.walk(root, t.Prefix, m); err != nil {
				return nil, pathError(raw, err)
			}
		}
	}
	return missing, nil
}

// pathError turns os.Root's refusal into an EscapeError naming the path.
func pathError(raw string, err error) error {
	if strings.Contains(err.Error(), "path escapes from parent") {
		return &EscapeError{Path: raw, Reason: "leaves its folder through a symbolic link"}
	}
	return err
}

// localPath cleans a path given relative to a tree's folder; "~/" and a
// leading "./" are the caller's business, "../" and "/" are refused.
func localPath(raw string) (string, error) {
	if raw == "" {
		return "", &EscapeError{Path: raw, Reason: "is empty"}
	}
	if filepath.IsAbs(raw) || strings.HasPrefix(raw, "/") {
		return "", &EscapeError{Path: raw, Reason: "is absolute: paths are relative to the workspace"}
	}
	rel := filepath.Clean(raw)
	if !filepath.IsLocal(rel) {
		return "", &EscapeError{Path: raw, Reason: "leaves the workspace"}
	}
	return rel, nil
}

// walk packs rel (as its own name, below prefix) and, for a folder,
// everything in it. Links are packed as links and not followed, rel
// included.
func (p *packer) walk(root *os.Root, prefix, rel string) error {
	fi, err := root.Lstat(rel)
	if err != nil {
		return err
	}
	name := filepath.ToSlash(rel)
	if !fi.IsDir() {
		return p.add(root, prefix, name, fs.FileInfoToDirEntry(fi))
	}
	return fs.WalkDir(root.FS(), name, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := p.ctx.Err(); err != nil {
			return err
		}
		return p.add(root, prefix, name, d)
	})
}

func (p *packer) add(root *os.Root, prefix, name string, d fs.DirEntry) error {
	entry := name
	switch {
	case name == "." && prefix == "":
		return nil // the archive's root
	case name == ".":
		entry = prefix
	case prefix != "":
		entry = prefix + "/" + name
	}
	if p.seen[entry] {
		return nil
	}
	p.seen[entry] = true
	fi, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = root.Readlink(name); err != nil {
			return err
		}
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
		return nil // sockets, pipes and devices are not kept
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = entry
	if fi.IsDir() {
		hdr.Name += "/"
	}
	// Who owned it here says nothing where it is unpacked.
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	hdr.Format = tar.FormatPAX
	hdr.AccessTime, hdr.ChangeTime = hdr.ModTime, hdr.ModTime
	if err := p.tw.WriteHeader(hdr); err != nil {
		return err
	}
	p.st.Files++
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyBuffer(p.tw, io.LimitReader(f, fi.Size()), p.buf)
	p.st.Bytes += n
	if err != nil {
		return err
	}
	if n != fi.Size() {
		return fmt.Errorf("%s: changed while it was archived", name)
	}
	return nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[`) }

// glob answers with the paths in root matching pattern, in which "**"
// stands for any number of folders (none included).
func glob(root *os.Root, pattern string) ([]string, error) {
	pattern = filepath.ToSlash(pattern)
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("bad pattern %q: %w", pattern, err)
	}
	// Walk from the longest leading part without wildcards.
	segs := strings.Split(pattern, "/")
	base := "."
	for i, s := range segs {
		if hasMeta(s) || i == len(segs)-1 {
			if i > 0 {
				base = strings.Join(segs[:i], "/")
			}
			break
		}
	}
	var out []string
	err := fs.WalkDir(root.FS(), base, func(name string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && name == base {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if name != "." && Match(pattern, name) {
			out = append(out, name)
			if d.IsDir() {
				return fs.SkipDir // packed whole
			}
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// Match reports whether name (slash-separated) matches pattern, where
// "**" is any number of path segments and the rest is path.Match's.
func Match(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchSegs(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// Unpack reads an archive from r into trees, by prefix; entries whose
// prefix names no tree are skipped. It reads r to its end, so that a
// reader that checks what it reads (the blob store's) gets to check it.
func Unpack(ctx context.Context, r io.Reader, trees []Tree) (Stats, error) {
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxWindow))
	if err != nil {
		return Stats{}, err
	}
	defer zr.Close()
	u := &unpacker{roots: map[string]*os.Root{}, owners: map[string]*Owner{}, buf: make([]byte, 256<<10)}
	defer u.close()
	for _, t := range trees {
		if err := checkPrefix(t.Prefix); err != nil {
			return u.st, err
		}
		if err := os.MkdirAll(t.Dir, 0o755); err != nil {
			return u.st, err
		}
		root, err := os.OpenRoot(t.Dir)
		if err != nil {
			return u.st, err
		}
		u.roots[t.Prefix] = root
		u.owners[t.Prefix] = t.Owner
	}
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return u.st, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return u.st, fmt.Errorf("archive: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return u.st, err
		}
	}
	// Drain what follows the tar's end, so that the whole stream is read
	// (and checked by whoever reads it).
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return u.st, fmt.Errorf("archive: %w", err)
	}
	return u.st, nil
}

type unpacker struct {
	roots  map[string]*os.Root
	owners map[string]*Owner
	st     Stats
	buf    []byte
}

func (u *unpacker) close() {
	for _, r := range u.roots {
		r.Close()
	}
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	name := strings.TrimSuffix(hdr.Name, "/")
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) {
		return &EscapeError{Path: hdr.Name, Reason: "is not a relative path"}
	}
	prefix, rel := "", name
	if _, ok := u.roots[""]; !ok {
		prefix, rel, _ = strings.Cut(name, "/")
		if rel == "" {
			rel = "."
		}
	}
	root, ok := u.roots[prefix]
	if !ok {
		return nil
	}
	rel = path.Clean(rel)
	if !filepath.IsLocal(rel) && rel != "." {
		return &EscapeError{Path: hdr.Name, Reason: "leaves the folder it is unpacked into"}
	}
	owner := u.owners[prefix]
	mode := fs.FileMode(hdr.Mode) & fs.ModePerm
	switch hdr.Typeflag {
	case tar.TypeDir:
		if rel != "." {
			if err := u.mkdirAll(root, rel, mode|0o700, owner); err != nil {
				return err
			}
		}
	case tar.TypeReg:
		if err := u.mkdirAll(root, path.Dir(rel), 0o755, owner); err != nil {
			return err
		}
		if err := removeExisting(root, rel); err != nil {
			return err
		}
		f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return escapeOr(hdr.Name, err)
		}
		n, err := io.CopyBuffer(f, r, u.buf)
		u.st.Bytes += n
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("archive: %s: %w", hdr.Name, err)
		}
		if err := root.Chmod(rel, mode); err != nil {
			return err
		}
		if owner != nil {
			if err := root.Lchown(rel, owner.UID, owner.GID); err != nil {
				return err
			}
		}
		_ = root.Chtimes(rel, hdr.ModTime, hdr.ModTime)
	case tar.TypeSymlink:
		if err := u.mkdirAll(root, path.Dir(rel), 0o755, owner); err != nil {
			return err
		}
		if err := removeExisting(root, rel); err != nil {
			return err
		}
		if err := root.Symlink(hdr.Linkname, rel); err != nil {
			return escapeOr(hdr.Name, err)
		}
		if owner != nil {
			if err := root.Lchown(rel, owner.UID, owner.GID); err != nil {
				return err
			}
		}
	default:
		return nil // hard links, devices and the like are not kept
	}
	u.st.Files++
	return nil
}

// mkdirAll makes dir and its parents in root; only what it makes is given
// to owner.
func (u *unpacker) mkdirAll(root *os.Root, dir string, perm fs.FileMode, owner *Owner) error {
	if dir == "." {
		return nil
	}
	if fi, err := root.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("archive: %s is not a folder", dir)
		}
		return nil
	}
	if err := u.mkdirAll(root, path.Dir(dir), 0o755, owner); err != nil {
		return err
	}
	if err := root.Mkdir(dir, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return escapeOr(dir, err)
	}
	if owner != nil {
		return root.Lchown(dir, owner.UID, owner.GID)
	}
	return nil
}

// removeExisting removes a file or link at rel, so that what the archive
// holds replaces it (and a link there is never written through).
func removeExisting(root *os.Root, rel string) error {
	fi, err := root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return escapeOr(rel, err)
	}
	if fi.IsDir() {
		return root.RemoveAll(rel)
	}
	return root.Remove(rel)
}

func escapeOr(name string, err error) error {
	if strings.Contains(err.Error(), "path escapes from parent") {
		return &EscapeError{Path: name, Reason: "leaves the folder it is unpacked into through a symbolic link"}
	}
	return fmt.Errorf("archive: %w", err)
}
