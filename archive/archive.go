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
	"sync"

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
// Small files are written by a few goroutines of its own (see writers),
// in the archive's order wherever order matters: before a folder, a link,
// a large file or a repeated name, the files before it are done. When
// Unpack fails, what it unpacked so far stays.
func Unpack(ctx context.Context, r io.Reader, trees []Tree) (Stats, error) {
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxWindow))
	if err != nil {
		return Stats{}, err
	}
	defer zr.Close()
	u := &unpacker{roots: map[string]*os.Root{}, owners: map[string]*Owner{}, dirs: map[string]bool{}, buf: make([]byte, 256<<10)}
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
	u.startWriters()
	err = u.run(ctx, tar.NewReader(zr))
	if werr := u.stopWriters(); err == nil {
		err = werr
	}
	if err != nil {
		return u.st, err
	}
	// Drain what follows the tar's end, so that the whole stream is read
	// (and checked by whoever reads it).
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return u.st, fmt.Errorf("archive: %w", err)
	}
	return u.st, nil
}

func (u *unpacker) run(ctx context.Context, tr *tar.Reader) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return err
		}
	}
}

// Small files are written by writers goroutines, which overlap the
// kernel's work of creating files (most of a restore's time, on a tree of
// many small files) with each other and with decompression. Each holds
// one file of at most smallFile bytes, so that memory stays bounded:
// (writers + queued) × smallFile.
const (
	writers   = 4
	queued    = 4
	smallFile = 256 << 10
)

// job is a small file for a writer: its contents read from the archive.
type job struct {
	root  *os.Root
	rel   string
	hdr   *tar.Header
	owner *Owner
	data  []byte
}

func (u *unpacker) startWriters() {
	jobs := make(chan job, queued)
	u.jobs = jobs
	u.free = make(chan []byte, writers+queued+1)
	for range writers + queued + 1 {
		u.free <- make([]byte, smallFile)
	}
	u.pending = map[*os.Root]map[string]bool{}
	for range writers {
		u.wg.Go(func() {
			for j := range jobs {
				err := u.writeSmall(j)
				u.mu.Lock()
				if err != nil && u.err == nil {
					u.err = err
				}
				u.mu.Unlock()
				u.free <- j.data[:cap(j.data)]
			}
		})
	}
}

// barrier waits until every file handed to the writers is written and
// answers with the first error, so that an entry that is not a small
// file (a folder, a link, a large file) sees the ones before it done.
func (u *unpacker) barrier() error {
	if len(u.free) != cap(u.free) {
		// Taking every buffer back means every job is done.
		bufs := make([][]byte, 0, cap(u.free))
		for range cap(u.free) {
			bufs = append(bufs, <-u.free)
		}
		for _, b := range bufs {
			u.free <- b
		}
	}
	clear(u.pending)
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// stopWriters waits for the writers to finish and stop; it answers with
// their first error. Later calls do nothing.
func (u *unpacker) stopWriters() error {
	if u.jobs == nil {
		return nil
	}
	close(u.jobs)
	u.jobs = nil
	u.wg.Wait()
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// queueSmall reads a small file's contents and hands it to a writer.
func (u *unpacker) queueSmall(root *os.Root, rel string, hdr *tar.Header, owner *Owner, r io.Reader) error {
	if u.pending[root][rel] {
		// The same name twice: the later one must win.
		if err := u.barrier(); err != nil {
			return err
		}
	}
	buf := <-u.free
	n, err := io.ReadFull(r, buf[:hdr.Size])
	if err != nil {
		u.free <- buf
		return fmt.Errorf("archive: %s: %w", hdr.Name, err)
	}
	u.mu.Lock()
	err = u.err
	u.mu.Unlock()
	if err != nil {
		u.free <- buf
		return err
	}
	if u.pending[root] == nil {
		u.pending[root] = map[string]bool{}
	}
	u.pending[root][rel] = true
	u.jobs <- job{root: root, rel: rel, hdr: hdr, owner: owner, data: buf[:n]}
	return nil
}

// writeSmall is a writer's work: one small file.
func (u *unpacker) writeSmall(j job) error {
	f, err := createFile(j.root, j.rel, j.hdr)
	if err != nil {
		return err
	}
	_, err = f.Write(j.data)
	return u.finishFile(j.root, f, j.rel, j.hdr, j.owner, int64(len(j.data)), err)
}

// createFile makes the regular file rel, replacing what is there.
func createFile(root *os.Root, rel string, hdr *tar.Header) (*os.File, error) {
	mode := fs.FileMode(hdr.Mode) & fs.ModePerm
	// Optimistically: most restores are into an empty folder, where
	// O_EXCL alone is enough (a link there is never written through).
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		if err := removeExisting(root, rel); err != nil {
			return nil, err
		}
		f, err = root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	}
	if err != nil {
		return nil, escapeOr(hdr.Name, err)
	}
	return f, nil
}

type unpacker struct {
	roots   map[string]*os.Root
	owners  map[string]*Owner
	dirs    map[string]bool // prefix NUL folder: known to be a folder
	jobs    chan job        // small files for the writers
	free    chan []byte     // the writers' buffers not in use
	pending map[*os.Root]map[string]bool
	wg      sync.WaitGroup
	mu      sync.Mutex // guards st and err
	err     error      // the writers' first error
	st      Stats
	buf     []byte
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
		if err := u.barrier(); err != nil {
			return err
		}
		if rel != "." {
			if err := u.mkdirAll(root, prefix, rel, mode|0o700, owner); err != nil {
				return err
			}
		}
	case tar.TypeReg:
		if err := u.mkdirAll(root, prefix, path.Dir(rel), 0o755, owner); err != nil {
			return err
		}
		u.replacing(prefix, rel)
		if hdr.Size <= smallFile {
			return u.queueSmall(root, rel, hdr, owner, r)
		}
		if err := u.barrier(); err != nil {
			return err
		}
		f, err := createFile(root, rel, hdr)
		if err != nil {
			return err
		}
		// Not io.CopyBuffer(f, ...): *os.File's ReadFrom would take over
		// and allocate a buffer of its own.
		n, err := io.CopyBuffer(writerOnly{f}, r, u.buf)
		return u.finishFile(root, f, rel, hdr, owner, n, err)
	case tar.TypeSymlink:
		if err := u.barrier(); err != nil {
			return err
		}
		if err := u.mkdirAll(root, prefix, path.Dir(rel), 0o755, owner); err != nil {
			return err
		}
		u.replacing(prefix, rel)
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
	u.mu.Lock()
	u.st.Files++
	u.mu.Unlock()
	return nil
}

// finishFile sets a written file's mode, owner and time through the open
// file, without walking its path again, and closes it; writeErr is the
// error of writing its n bytes.
func (u *unpacker) finishFile(root *os.Root, f *os.File, rel string, hdr *tar.Header, owner *Owner, n int64, writeErr error) error {
	err := writeErr
	if err == nil {
		err = f.Chmod(fs.FileMode(hdr.Mode) & fs.ModePerm)
	}
	if err == nil && owner != nil {
		err = f.Chown(owner.UID, owner.GID)
	}
	timed := false
	if err == nil {
		timed = setModTime(f, hdr.ModTime) == nil
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("archive: %s: %w", hdr.Name, err)
	}
	if !timed {
		_ = root.Chtimes(rel, hdr.ModTime, hdr.ModTime)
	}
	u.mu.Lock()
	u.st.Files++
	u.st.Bytes += n
	u.mu.Unlock()
	return nil
}

type writerOnly struct{ io.Writer }

// mkdirAll makes dir and its parents in root; only what it makes is given
// to owner. The folders it made or found are remembered (until an entry
// replaces one of them), so that a restore of many files in few folders
// does not look each folder up again for every file.
func (u *unpacker) mkdirAll(root *os.Root, prefix, dir string, perm fs.FileMode, owner *Owner) error {
	if dir == "." || u.dirs[prefix+"\x00"+dir] {
		return nil
	}
	// A file the writers have yet to make may be in the way: let them
	// finish first (once per new folder).
	if err := u.barrier(); err != nil {
		return err
	}
	if err := u.mkdirAllSlow(root, dir, perm, owner); err != nil {
		return err
	}
	u.dirs[prefix+"\x00"+dir] = true
	return nil
}

// replacing forgets the folders known when an entry is about to replace
// rel, which may be one of them.
func (u *unpacker) replacing(prefix, rel string) {
	if u.dirs[prefix+"\x00"+rel] {
		clear(u.dirs)
	}
}

func (u *unpacker) mkdirAllSlow(root *os.Root, dir string, perm fs.FileMode, owner *Owner) error {
	if dir == "." {
		return nil
	}
	if fi, err := root.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("archive: %s is not a folder", dir)
		}
		return nil
	}
	if err := u.mkdirAllSlow(root, path.Dir(dir), 0o755, owner); err != nil {
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
