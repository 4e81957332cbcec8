// Bundle isolation at start-up: may this runner run bundles under their own uids, and
// what it does when it has no --bundle-uids (spec/bundles.md §4 "Isolation").

package runner

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// Capabilities (linux/capability.h) a runner that is not root needs for --bundle-uids:
// SETUID and SETGID to start processes as the bundle's uid and gid, KILL to kill them,
// CHOWN to give the bundle its HOME and socket dir, DAC_OVERRIDE to reach into them (to
// connect to a socket, to remove what the bundle wrote) and to keep leases in /run.
var neededCaps = []struct {
	bit  uint
	name string
}{{7, "CAP_SETUID"}, {6, "CAP_SETGID"}, {5, "CAP_KILL"}, {0, "CAP_CHOWN"}, {1, "CAP_DAC_OVERRIDE"}}

// errRootWithoutUIDs: the decision for a root runner without --bundle-uids.
var errRootWithoutUIDs = errors.New("the runner runs as root and has no --bundle-uids: bundles would run as root " +
	"and could read the runner's secrets and every other bundle's; give a range of uids no one else uses, " +
	"e.g. --bundle-uids 61000-61999 (FUNCATRON_BUNDLE_UIDS)")

// checkIsolation decides whether the runner can start:
//   - with --bundle-uids, it must be root or hold every capability of neededCaps, else it
//     refuses to start, naming what is missing;
//   - without, as root it refuses to start (errRootWithoutUIDs): a root bundle owns the
//     host. As another user it starts, and warns loudly that bundles run as that user and
//     can read its environment (the broker password), its memory and each other's props.
func checkIsolation(o *Options, log *slog.Logger) error {
	root := os.Geteuid() == 0
	if o.BundleUIDs.IsZero() {
		if root {
			return errRootWithoutUIDs
		}
		log.Warn("BUNDLE ISOLATION IS OFF: no --bundle-uids, so bundles run as the runner's own user "+
			"and can read its environment (the broker password) and each other's props; "+
			"run the runner as root (or with CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_CHOWN, CAP_DAC_OVERRIDE) "+
			"with --bundle-uids 61000-61999", "uid", os.Geteuid())
		return nil
	}
	if self := uint32(os.Geteuid()); o.BundleUIDs.Contains(self) {
		return fmt.Errorf("--bundle-uids %s holds the runner's own uid %d", o.BundleUIDs, self)
	}
	if root {
		return nil
	}
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("--bundle-uids %s: cannot read the runner's capabilities: %w", o.BundleUIDs, err)
	}
	var missing []string
	for _, c := range neededCaps {
		if eff&(1<<c.bit) == 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--bundle-uids %s needs the runner to be root or hold %s; it lacks %s",
			o.BundleUIDs, capNames(), strings.Join(missing, ", "))
	}
	return nil
}

func capNames() string {
	var n []string
	for _, c := range neededCaps {
		n = append(n, c.name)
	}
	return strings.Join(n, ", ")
}

// effectiveCaps reads CapEff of /proc/self/status.
func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff line")
}
