// Unpacking a bundle into a directory, safely and atomically.

package bundles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/funcatron/funcatron/internal/execfile"
)

// Unpack writes the bundle's files into dir, which must not exist yet.
//
//   - Atomic: everything is written to a fresh temporary directory beside
//     dir, named ".<base of dir>.unpack-*", and renamed to dir only when
//     complete and synced. A crash leaves at most such a hidden temporary
//     directory (safe to delete), never a half-written dir.
//   - Safe: every write goes through os.Root opened on the temporary
//     directory, so nothing is written outside it whatever the names say;
//     files are created with O_EXCL; symlinks (already checked by Open to
//     stay inside) are created last, so no file is written through one.
//   - Limited: the limits given to Open are enforced on the bytes actually
//     decompressed, not on what the headers claim.
//   - Modes: directories are 0755; files are 0755 if the archive marks any
//     executable bit, else 0644 (no setuid, no group or world write). The
//     exec command's file is always made executable, so bundles zipped on
//     systems without Unix modes still run.
//
// If dir exists (another Unpack won the race, or an earlier one finished),
// the error satisfies errors.Is(err, fs.ErrExist) and dir is left as it is.
func (b *Bundle) Unpack(dir string) (err error) {
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("unpacking bundle %.12s: %s: %w", b.SHA, dir, fs.ErrExist)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".unpack-")
	if err != nil {
		return fmt.Errorf("unpacking bundle %.12s: %w", b.SHA, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := b.extract(tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("unpacking bundle %.12s: %w", b.SHA, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("unpacking bundle %.12s: moving into place: %w", b.SHA, err)
	}
	return syncDir(filepath.Dir(dir))
}

// extract writes every entry under tmp: directories, then files, then links.
func (b *Bundle) extract(tmp string) error {
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return fmt.Errorf("unpacking bundle %.12s: %w", b.SHA, err)
	}
	defer root.Close()
	a := b.arch
	if err := makeDirs(root, a); err != nil {
		return fmt.Errorf("unpacking bundle %.12s: %w", b.SHA, err)
	}
	budget := a.lim.MaxUnpackedBytes
	for _, e := range a.files {
		if e.kind == kindFile {
			if err := b.writeFile(root, e, &budget); err != nil {
				return err
			}
		}
	}
	for _, e := range a.files {
		if e.kind == kindLink {
			if err := root.Symlink(e.target, e.name); err != nil {
				return fmt.Errorf("unpacking bundle %.12s: %w", b.SHA, err)
			}
		}
	}
	return nil
}

// makeDirs creates every directory, explicit or implied, parents first.
func makeDirs(root *os.Root, a *archive) error {
	var dirs []string
	for name, e := range a.entries {
		if e.kind == kindDir {
			dirs = append(dirs, name)
		}
	}
	sort.Strings(dirs) // "a" sorts before "a/b"
	for _, d := range dirs {
		if err := root.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := root.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes one file entry, synced, with its mode.
func (b *Bundle) writeFile(root *os.Root, e *entry, budget *int64) error {
	mode := fs.FileMode(0o644)
	if e.file.Mode()&0o111 != 0 || b.Exec != nil && b.Exec.file == e.name {
		mode = 0o755
	}
	// execfile: the runner may execute what it unpacks while it forks other processes.
	return execfile.Write(func() (*os.File, error) {
		f, err := root.OpenFile(e.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return nil, fmt.Errorf("unpacking bundle %.12s: %w", b.SHA, err)
		}
		return f, nil
	}, func(f *os.File) error {
		if err := b.arch.copyEntry(f, e.file, budget); err != nil {
			return err // an *InvalidError the caller reports as it is
		}
		if err := f.Chmod(mode); err != nil { // independent of the umask
			return err
		}
		return f.Sync()
	})
}

// syncDir flushes a directory, so a rename into it survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
