// The sandbox of one started bundle instance: its uid, its private directory (the
// bundle's files, HOME, sockets) and the accounting of everything it starts.

package exec

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/funcatron/funcatron/internal/execfile"
	"github.com/funcatron/funcatron/runner/kind"
)

// sandbox is what the processes of one instance share. With a uid (the runner has
// --bundle-uids) the layout is, under the system temp dir (reachable by every uid, unlike
// the runner's data dir or a test's t.TempDir(), which are 0700):
//
//	fnr-XXXXXX/   root:<gid> 0750  only root and the bundle's gid enter
//	  b/          root 0755        the bundle's files (hard links to the unpacked bundle,
//	                               copies across file systems): readable, not writable
//	  h/          <uid> 0700       HOME
//	  s/          <uid> 0700       the workers' sockets
//
// Without a uid the same directories belong to the runner's user and the processes run in
// the unpacked bundle itself.
type sandbox struct {
	lease   *uidLease // nil: no isolation
	uids    kind.UIDRange
	dir     string
	bundle  string // the processes' working directory
	home    string
	sockDir string
	path    string // PATH of the processes
	prog    string // cfg.Command[0], resolved
	out     *capture
}

// killWithin bounds the wait for a stopped bundle's processes to be gone.
const killWithin = 5 * time.Second

// newSandbox sets up the sandbox of s's bundle, whose unpacked files are in cfg.Dir.
func newSandbox(s *kind.Spec, cfg *execConfig) (_ *sandbox, err error) {
	sb := &sandbox{uids: s.UIDs}
	sink := s.Output
	if sink == nil {
		sink = kind.LogOutput(s.Log, nil)
	}
	sb.out = newCapture(sink, s.SHA, s.Queue)
	if !s.UIDs.IsZero() || os.Getpid() == 1 {
		startReaper()
	}
	defer func() {
		if err != nil {
			sb.close()
		}
	}()
	if !s.UIDs.IsZero() {
		if tmp := os.TempDir(); !othersCanReach(tmp) {
			return nil, fmt.Errorf("bundle uids cannot reach the temp dir %s (TMPDIR), where their private directories go", tmp)
		}
		if sb.lease, err = leaseUID(s.UIDs, s.Log); err != nil {
			return nil, err
		}
		watchRange(s.UIDs, 1)
	}
	if err = sb.makeDirs(cfg.Dir); err != nil {
		return nil, err
	}
	sb.path = processPath(cfg.Env["PATH"], sb.isolated())
	if sb.prog, err = resolveCommand(cfg.Command[0], sb.bundle, sb.path, sb.isolated()); err != nil {
		return nil, err
	}
	return sb, nil
}

func (sb *sandbox) isolated() bool { return sb.lease != nil }

// makeDirs creates the instance directory, the bundle's view, HOME and the socket dir.
func (sb *sandbox) makeDirs(unpacked string) error {
	dir, err := os.MkdirTemp("", "fnr-")
	if err != nil {
		return fmt.Errorf("creating the bundle's directory: %w", err)
	}
	sb.dir, sb.bundle = dir, unpacked
	sb.home, sb.sockDir = filepath.Join(dir, "h"), filepath.Join(dir, "s")
	for _, d := range []string{sb.home, sb.sockDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("creating the bundle's directory: %w", err)
		}
	}
	if !sb.isolated() {
		return nil
	}
	uid := int(sb.lease.uid)
	sb.bundle = filepath.Join(dir, "b")
	if err := mirror(unpacked, sb.bundle); err != nil {
		return fmt.Errorf("giving the bundle its files: %w", err)
	}
	for _, d := range []string{sb.home, sb.sockDir} {
		if err := os.Chown(d, uid, uid); err != nil {
			return fmt.Errorf("giving the bundle its HOME and sockets (the runner needs root or CAP_CHOWN): %w", err)
		}
	}
	if err := os.Chown(dir, -1, uid); err != nil {
		return fmt.Errorf("giving the bundle its directory: %w", err)
	}
	return os.Chmod(dir, 0o750)
}

// close kills every process of the sandbox's uid, gives the uid back and removes the
// directory. Safe on a half-made sandbox.
func (sb *sandbox) close() error {
	var err error
	if sb.lease != nil {
		err = killUID(sb.lease.uid, killWithin)
		if err == nil {
			// A uid whose processes could not be killed stays leased (until the runner
			// exits), so no other bundle gets it while they live.
			sb.lease.release()
		}
		watchRange(sb.uids, -1)
		sb.lease = nil
	}
	sb.out.flush()
	if sb.dir != "" {
		if rerr := os.RemoveAll(sb.dir); err == nil {
			err = rerr
		}
	}
	return err
}

// mirror recreates the tree src at dst: directories 0755, files hard-linked (copied when
// src is on another file system), symlinks as they are (package bundles checked they stay
// inside the bundle). Everything belongs to the runner, so the bundle cannot change it.
func mirror(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if err := os.Mkdir(to, 0o755); err != nil {
				return err
			}
			return os.Chmod(to, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.Type().IsRegular():
			if os.Link(p, to) == nil {
				return nil
			}
			return copyFile(p, to)
		}
		return nil // nothing else is unpacked
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	// execfile: the copy may be a program this runner executes while it forks others.
	return execfile.Write(func() (*os.File, error) {
		return os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, st.Mode().Perm()&0o755)
	}, func(out *os.File) error {
		_, err := io.Copy(out, in)
		return err
	})
}

// processPath is PATH for bundle processes: the manifest's, else the runner's (else
// defaultPath). Isolated, the runner's PATH keeps only directories every uid can reach
// (a runner's PATH may hold e.g. /root/.pyenv/shims, which the bundle's uid cannot use).
func processPath(manifest string, isolated bool) string {
	if manifest != "" {
		return manifest
	}
	path := os.Getenv("PATH")
	if path == "" {
		return defaultPath
	}
	if !isolated {
		return path
	}
	var keep []string
	for _, d := range filepath.SplitList(path) {
		if filepath.IsAbs(d) && othersCanReach(d) {
			keep = append(keep, d)
		}
	}
	if len(keep) == 0 {
		return defaultPath
	}
	return strings.Join(keep, string(filepath.ListSeparator))
}

// othersCanReach reports whether a uid that owns nothing on the way (a bundle's) can
// search directory dir: every directory from / to it, and to what it links to, has o+x.
func othersCanReach(dir string) bool {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	for _, p := range []string{filepath.Clean(dir), real} {
		for {
			st, err := os.Stat(p)
			if err != nil || !st.IsDir() || st.Mode().Perm()&0o001 == 0 {
				return false
			}
			if p == "/" {
				break
			}
			p = filepath.Dir(p)
		}
	}
	return true
}

// resolveCommand finds the program cmd0 names (spec/bundles.md §4 "The command"): a path
// with a / is a file of the bundle; a bare name is the bundle's file of that name if there
// is one, else a program on PATH (one the bundle's uid can run, when isolated). A program
// that is missing fails the enable with a message naming it.
func resolveCommand(cmd0, bundleDir, path string, isolated bool) (string, error) {
	inBundle := filepath.Join(bundleDir, filepath.FromSlash(cmd0))
	if st, err := os.Stat(inBundle); err == nil && st.Mode().IsRegular() {
		return inBundle, nil
	}
	if strings.Contains(cmd0, "/") {
		return "", fmt.Errorf("the exec command %s is not a file in the bundle", cmd0)
	}
	for _, d := range filepath.SplitList(path) {
		if !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, cmd0)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			if !isolated || othersCanRun(p) {
				return p, nil
			}
		}
	}
	who := ""
	if isolated {
		who = " usable by the bundle's uid"
	}
	return "", fmt.Errorf("the exec command %s is neither a file in the bundle nor a program on the runner's PATH%s", cmd0, who)
}

// othersCanRun reports whether a uid that owns nothing on the way can execute file p.
func othersCanRun(p string) bool {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false
	}
	st, err := os.Stat(real)
	return err == nil && st.Mode().Perm()&0o001 != 0 && othersCanReach(filepath.Dir(real)) && othersCanReach(filepath.Dir(p))
}
