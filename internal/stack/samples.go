// This file deploys the sample bundles of `make run` without undoing what the user did with
// the Tron since an earlier run of the same directory.

package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// samplesFile records, under the Tron's directory, which samples an earlier run deployed
// (name → sha). It sits beside the Tron's data so removing .run/tron/ resets both.
const samplesFile = "samples-deployed.json"

// SampleResult says what DeploySamples did with one sample zip.
type SampleResult struct {
	Name     string // the zip's name without .zip
	SHA      string // "" when it was not uploaded
	Deployed bool   // uploaded and enabled by this call
	Note     string // why not, when not deployed
}

// DeploySamples deploys each bundle zip of dir with props, once per stack directory: a
// sample is deployed only when it was never deployed before (by an earlier run of the same
// directory) and its route is free. Everything else is the user's: a sample they disabled,
// replaced by a bundle of their own, or enabled again with other props is left as it is,
// and a second `make run` comes up whatever they did. A sample that fails to enable is a
// note, not an error: the rest of the system still comes up.
func (s *Stack) DeploySamples(dir string, props map[string]any) ([]SampleResult, error) {
	zips, err := filepath.Glob(filepath.Join(dir, "*.zip"))
	if err != nil {
		return nil, err
	}
	sort.Strings(zips)
	done, recorded, err := s.loadSamples()
	if err != nil {
		return nil, err
	}
	var out []SampleResult
	for _, z := range zips {
		r, err := s.deploySample(z, props, done, recorded)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, s.saveSamples(done)
}

// deploySample deploys one sample unless it was deployed before or its route is taken;
// done gets it when deployed. Without a record (a directory of a run from before the
// record existed), a sample whose bytes the Tron already holds counts as deployed before.
func (s *Stack) deploySample(zip string, props map[string]any, done map[string]string, recorded bool) (SampleResult, error) {
	r := SampleResult{Name: strings.TrimSuffix(filepath.Base(zip), ".zip")}
	if sha, ok := done[r.Name]; ok {
		r.SHA, r.Note = sha, "deployed by an earlier run; left as you left it"
		return r, nil
	}
	up, err := s.upload(zip)
	if err != nil {
		return r, err
	}
	r.SHA = up.SHA
	if !recorded && !up.New {
		done[r.Name] = up.SHA
		r.Note = "already in the Tron from an earlier run; left as you left it"
		return r, nil
	}
	status, msg, err := s.enable(up.SHA, props, false)
	switch {
	case err != nil:
		return r, err
	case status == http.StatusConflict:
		r.Note = "not deployed, its route is taken: " + msg
	case status != http.StatusOK:
		r.Note = fmt.Sprintf("not deployed, enable answered %d: %s", status, msg)
	default:
		r.Deployed, done[r.Name] = true, up.SHA
	}
	return r, nil
}

// loadSamples reads the record of deployed samples; recorded is false when there is none.
func (s *Stack) loadSamples() (done map[string]string, recorded bool, err error) {
	done = map[string]string{}
	b, err := os.ReadFile(s.samplesPath())
	if errors.Is(err, fs.ErrNotExist) {
		return done, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := json.Unmarshal(b, &done); err != nil {
		return nil, false, fmt.Errorf("%s: %w (remove it to deploy every sample again)", s.samplesPath(), err)
	}
	return done, true, nil
}

func (s *Stack) saveSamples(done map[string]string) error {
	b, _ := json.MarshalIndent(done, "", "  ")
	return os.WriteFile(s.samplesPath(), b, 0o644)
}

func (s *Stack) samplesPath() string { return filepath.Join(s.dir("tron"), samplesFile) }
