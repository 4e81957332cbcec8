package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
)

// API calls the Tron's admin API with the stack's token and decodes a JSON answer into
// out (may be nil). It returns the status; a transport error is an error.
func (s *Stack) API(method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequest(method, s.TronURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %s: %w", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, nil
}

// NodeCount is how many live nodes of type ("runner", "frontend") the Tron knows.
func (s *Stack) NodeCount(typ string) (int, error) {
	var stats struct {
		Network map[string]struct {
			Type string `json:"type"`
		} `json:"network"`
	}
	if _, err := s.API("GET", "/api/v1/stats", nil, &stats); err != nil {
		return 0, err
	}
	n := 0
	for _, node := range stats.Network {
		if node.Type == typ {
			n++
		}
	}
	return n, nil
}

// uploaded is the part of add_func's answer the stack uses.
type uploaded struct {
	SHA   string `json:"sha"`
	New   bool   `json:"new"` // false: the Tron held these bytes already
	Error string `json:"error"`
}

// Upload uploads a bundle file and returns its sha.
func (s *Stack) Upload(path string) (string, error) {
	up, err := s.upload(path)
	return up.SHA, err
}

func (s *Stack) upload(path string) (uploaded, error) {
	var res uploaded
	data, err := os.ReadFile(path)
	if err != nil {
		return res, err
	}
	status, err := s.API("POST", "/api/v1/add_func", data, &res)
	if err != nil {
		return res, err
	}
	if status != http.StatusOK {
		return res, fmt.Errorf("uploading %s: %d %s", path, status, res.Error)
	}
	return res, nil
}

// Enable enables an uploaded bundle and waits for the Tron's answer (200 once a runner
// acked it, 202 when none did in time: that is an error here).
func (s *Stack) Enable(sha string, props map[string]any, replace bool) error {
	status, msg, err := s.enable(sha, props, replace)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("enabling %s: %d %s", sha, status, msg)
	}
	return err
}

// enable calls enable and returns its status and its error or warning.
func (s *Stack) enable(sha string, props map[string]any, replace bool) (int, string, error) {
	body, _ := json.Marshal(map[string]any{"sha": sha, "props": props, "replace": replace})
	var res struct {
		Error   string `json:"error"`
		Warning string `json:"warning"`
	}
	status, err := s.API("POST", "/api/v1/enable", body, &res)
	return status, res.Error + res.Warning, err
}

// Disable disables a bundle.
func (s *Stack) Disable(sha string) error {
	body, _ := json.Marshal(map[string]any{"sha": sha})
	status, err := s.API("POST", "/api/v1/disable", body, nil)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("disabling %s: %d", sha, status)
	}
	return err
}

// Deploy uploads and enables a bundle file.
func (s *Stack) Deploy(path string, props map[string]any) (string, error) {
	sha, err := s.Upload(path)
	if err != nil {
		return "", err
	}
	return sha, s.Enable(sha, props, false)
}
