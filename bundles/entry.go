// One entry of a bundle archive: its checked name and what it is.

package bundles

import (
	"archive/zip"
	"io/fs"
	"path"
	"strings"
)

// entryKind says what an archive entry becomes when unpacked.
type entryKind uint8

const (
	kindFile entryKind = iota
	kindDir
	kindLink
)

// Name limits, so that a name the OS would refuse fails at upload, not at unpack.
const (
	maxNameBytes    = 1024
	maxElementBytes = 255
	maxTargetBytes  = 1024
)

// entry is a checked archive entry, or a directory implied by another entry's
// name (file == nil).
type entry struct {
	name   string // clean, slash-separated, relative to the bundle root
	kind   entryKind
	file   *zip.File
	target string // for links: where the link points, as stored
}

// cleanName checks a raw entry name and returns it cleaned. Names are refused
// when absolute, when an element is "..", and when they hold a backslash or
// NUL: a backslash is a separator on Windows and a plain byte here, so such a
// name could mean two different files. "." elements, doubled and trailing
// slashes are harmless and cleaned away. The result may be "." (the root).
func cleanName(raw string) (string, error) {
	switch {
	case raw == "":
		return "", invalidf("an entry has an empty name")
	case strings.HasPrefix(raw, "/"):
		return "", invalidf("entry %q is an absolute path", raw)
	case strings.ContainsAny(raw, "\\\x00"):
		return "", invalidf("entry %q has a backslash or NUL in its name", raw)
	case len(raw) > maxNameBytes:
		return "", invalidf("entry %.40q... has a name longer than %d bytes", raw, maxNameBytes)
	}
	for _, el := range strings.Split(raw, "/") {
		if el == ".." {
			return "", invalidf("entry %q contains .. (it would leave the bundle)", raw)
		}
		if len(el) > maxElementBytes {
			return "", invalidf("entry %q has a name element longer than %d bytes", raw, maxElementBytes)
		}
	}
	return path.Clean(raw), nil
}

// kindOf says what f is, refusing devices, pipes, sockets and the like.
func kindOf(f *zip.File) (entryKind, error) {
	mode := f.Mode()
	switch {
	case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
		return kindDir, nil
	case mode&fs.ModeSymlink != 0:
		return kindLink, nil
	case mode.IsRegular():
		return kindFile, nil
	}
	return 0, invalidf("entry %q is a %s; only files, directories and symlinks are allowed", f.Name, modeName(mode))
}

// modeName names a special file type for an error message.
func modeName(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeDevice != 0:
		return "device"
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe"
	case mode&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// parents calls fn with each proper parent directory of a clean name, from
// the top: "a/b/c" gives "a", then "a/b".
func parents(name string, fn func(dir string) error) error {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			if err := fn(name[:i]); err != nil {
				return err
			}
		}
	}
	return nil
}
