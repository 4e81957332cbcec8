// Packing a directory into a bundle file, byte for byte reproducibly.

package bundles

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// packTime is the modification time of every packed entry: the earliest a
// zip (MS-DOS) timestamp can hold, so a rebuild gives the same sha.
var packTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Pack writes the tree under dir to w as a bundle zip. The same tree gives
// the same bytes (and sha) with the same Go release: entries in lexical
// order, one fixed timestamp, modes reduced to 0755 (any executable bit)
// or 0644, directories 0755, no owner or extra attributes. Files are
// deflated; symlinks are stored with their target. Other file types are an
// error. Pack does not check the result: Open does.
func Pack(w io.Writer, dir string) error {
	zw := zip.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return packEntry(zw, p, filepath.ToSlash(rel), d)
	})
	if err != nil {
		return fmt.Errorf("packing %s: %w", dir, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("packing %s: %w", dir, err)
	}
	return nil
}

// packEntry adds one file, directory or link to zw under name.
func packEntry(zw *zip.Writer, p, name string, d fs.DirEntry) error {
	h := &zip.FileHeader{Name: name, Modified: packTime}
	var body func(io.Writer) error
	switch t := d.Type(); {
	case t.IsDir():
		h.Name += "/"
		h.SetMode(fs.ModeDir | 0o755)
	case t&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		h.SetMode(fs.ModeSymlink | 0o777)
		body = func(w io.Writer) error { _, err := io.WriteString(w, target); return err }
	case t.IsRegular():
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.Method = zip.Deflate
		h.SetMode(0o644)
		if info.Mode()&0o111 != 0 {
			h.SetMode(0o755)
		}
		body = func(w io.Writer) error { return copyFile(w, p) }
	default:
		return fmt.Errorf("%s is a %s; only files, directories and symlinks can be packed", name, modeName(t))
	}
	w, err := zw.CreateHeader(h)
	if err != nil || body == nil {
		return err
	}
	return body(w)
}

// copyFile copies the file at p to w.
func copyFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
