// The bundle's zip archive: structure checks at Open, and counted reads.

package bundles

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// archive is a bundle's zip whose structure has been checked: every name is
// local and clean, no entry lies under a file or link, no header breaks the
// limits, and every link stays inside the bundle.
type archive struct {
	zr      *zip.Reader
	entries map[string]*entry // by clean name, implied directories included
	files   []*entry          // the archive's own entries, in archive order
	lim     Limits
}

// readArchive parses data as a zip and checks its structure and headers.
// Entry contents are not read here except link targets; see verify.
func readArchive(data []byte, lim Limits) (*archive, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// ErrInsecurePath comes with a usable reader; our own name checks
		// below refuse those names with a clearer message.
		return nil, &InvalidError{Msg: "not a zip archive: " + err.Error(), Err: err}
	}
	if n := len(zr.File); n > lim.MaxEntries {
		return nil, invalidf("the archive has %d entries, over the limit of %d", n, lim.MaxEntries)
	}
	a := &archive{zr: zr, entries: make(map[string]*entry, len(zr.File)), lim: lim}
	for _, check := range []func() error{a.addEntries, a.addParents, a.checkHeaders, a.readTargets, a.checkLinks} {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// addEntries indexes every entry by its clean name, refusing bad names,
// special files, encrypted entries and duplicates.
func (a *archive) addEntries() error {
	for _, f := range a.zr.File {
		name, err := cleanName(f.Name)
		if err != nil {
			return err
		}
		kind, err := kindOf(f)
		if err != nil {
			return err
		}
		if name == "." {
			if kind != kindDir {
				return invalidf("entry %q names the bundle root but is not a directory", f.Name)
			}
			continue
		}
		if f.Flags&0x1 != 0 {
			return invalidf("entry %q is encrypted", f.Name)
		}
		if _, dup := a.entries[name]; dup {
			return invalidf("entry %q appears more than once", name)
		}
		e := &entry{name: name, kind: kind, file: f}
		a.entries[name] = e
		a.files = append(a.files, e)
	}
	return nil
}

// addParents adds the directories that entry names imply, and refuses an
// entry that lies under a file or a link: unpacking it would write through
// the link or fail half way.
func (a *archive) addParents() error {
	for _, e := range a.files {
		err := parents(e.name, func(dir string) error {
			p, ok := a.entries[dir]
			if !ok {
				a.entries[dir] = &entry{name: dir, kind: kindDir}
				return nil
			}
			if p.kind == kindLink {
				return invalidf("entry %q lies under the symlink %q", e.name, dir)
			}
			if p.kind != kindDir {
				return invalidf("entry %q lies under %q, which is a file", e.name, dir)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// checkHeaders applies the size limits to what the headers claim. The same
// limits are applied again to the bytes actually decompressed (copyEntry),
// since headers can lie.
func (a *archive) checkHeaders() error {
	var total uint64
	max := uint64(a.lim.MaxUnpackedBytes)
	for _, e := range a.files {
		f := e.file
		if f.UncompressedSize64 > a.lim.ratioCap(f.CompressedSize64) {
			return a.ratioError(f)
		}
		if f.UncompressedSize64 > max-total {
			return a.sizeError()
		}
		total += f.UncompressedSize64
	}
	return nil
}

// ratioError is the error for an entry that decompresses too far.
func (a *archive) ratioError(f *zip.File) *InvalidError {
	return invalidf("entry %q has a compression ratio over %d:1 (a zip bomb?)", f.Name, a.lim.MaxRatio)
}

// sizeError is the error for an archive that unpacks to too much.
func (a *archive) sizeError() *InvalidError {
	msg := fmt.Sprintf("the archive unpacks to more than the limit of %d bytes", a.lim.MaxUnpackedBytes)
	return &InvalidError{Msg: msg, Err: errOverBudget}
}

// errOverBudget marks a size error, for callers that pass their own budget.
var errOverBudget = errors.New("over the unpacked size budget")

// readTargets reads every link's target, which zip stores as its content.
func (a *archive) readTargets() error {
	for _, e := range a.files {
		if e.kind != kindLink {
			continue
		}
		rc, err := e.file.Open()
		if err != nil {
			return a.readError(e.file, err)
		}
		// Reading to EOF (when short enough) also checks the CRC.
		target, err := io.ReadAll(io.LimitReader(rc, maxTargetBytes+1))
		rc.Close()
		if err != nil {
			return a.readError(e.file, err)
		}
		if len(target) > maxTargetBytes {
			return invalidf("symlink %q has a target longer than %d bytes", e.name, maxTargetBytes)
		}
		e.target = string(target)
	}
	return nil
}

// verify decompresses every file, so that a corrupt entry or one whose
// headers lie is refused at Open rather than discovered at Unpack.
func (a *archive) verify() error {
	budget := a.lim.MaxUnpackedBytes
	for _, e := range a.files {
		if e.kind != kindFile {
			continue
		}
		if err := a.copyEntry(io.Discard, e.file, &budget); err != nil {
			return err
		}
	}
	return nil
}

// copyEntry decompresses f into w. It counts the bytes really produced and
// stops, without writing past it, at the entry's ratio cap or at *budget,
// which it lowers by what it wrote. Problems with the archive are
// *InvalidError; a failing w gives its own error, wrapped.
func (a *archive) copyEntry(w io.Writer, f *zip.File, budget *int64) error {
	rc, err := f.Open()
	if err != nil {
		return a.readError(f, err)
	}
	defer rc.Close()
	r := &countedReader{r: rc, ratioCap: a.lim.ratioCap(f.CompressedSize64), budget: uint64(*budget)}
	n, err := io.Copy(w, r)
	*budget -= n
	switch {
	case r.over == overRatio:
		return a.ratioError(f)
	case r.over == overBudget:
		return a.sizeError()
	case r.err != nil:
		return a.readError(f, r.err)
	case err != nil:
		return fmt.Errorf("writing %s: %w", f.Name, err)
	}
	return nil
}

// readError is the error for an entry that cannot be decompressed.
func (a *archive) readError(f *zip.File, err error) *InvalidError {
	if errors.Is(err, zip.ErrAlgorithm) {
		return &InvalidError{Msg: fmt.Sprintf("entry %q uses an unsupported compression method (%d)", f.Name, f.Method), Err: err}
	}
	return &InvalidError{Msg: fmt.Sprintf("entry %q is corrupt: %v", f.Name, err), Err: err}
}

// Reasons a countedReader stopped early.
const (
	overNone = iota
	overRatio
	overBudget
)

// countedReader passes bytes through until more than ratioCap or budget
// bytes were read; it then returns only the bytes within the limit and an
// error, and records which limit was hit in over. Read errors of r are kept
// in err so copyEntry can tell them from write errors.
type countedReader struct {
	r        io.Reader
	n        uint64
	ratioCap uint64
	budget   uint64
	over     int
	err      error
}

var errOverLimit = errors.New("over a limit")

// Read reads from r, enforcing the limits.
func (c *countedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	if lim := min(c.ratioCap, c.budget); c.n > lim {
		c.over = overBudget
		if c.n > c.ratioCap {
			c.over = overRatio
		}
		return n - int(c.n-lim), errOverLimit
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
