package runner

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
)

// TestAckErrorsNameNoAddress: the Tron shows an enable's ack error to admin API clients, so
// it says what failed but names neither the download address nor the runner's files.
func TestAckErrorsNameNoAddress(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	dataDir := t.TempDir()
	r := startRunner(t, tr, func(o *Options) { o.DataDir = dataDir })
	host := uniq(t) + ".example"

	ports, err := servers.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("ef", 32)
	unreachable := "127.0.0.1:" + strconv.Itoa(ports[0])
	id := tr.send(r.Inbox(), &protocol.Enable{
		TronHost: protocol.HostPort{Host: "127.0.0.1", Port: protocol.Port(ports[0])}, SHA: sha, Host: host, Path: "/down",
		URL: "http://" + unreachable + "/bundle/" + sha + "?sig=ok",
	})
	ack := tr.ack(id, 20*time.Second)
	if ack.Status != protocol.AckError || !strings.Contains(ack.Error, "connection refused") {
		t.Errorf("download from a closed port: ack %s %q, want an error saying connection refused", ack.Status, ack.Error)
	}
	if strings.Contains(ack.Error, unreachable) || strings.Contains(ack.Error, "127.0.0.1") {
		t.Errorf("download from a closed port: the ack names the address: %q", ack.Error)
	}

	// Unpacking fails when unpacked/ is a file: the error is about a path in the data dir.
	unpacked := filepath.Join(dataDir, "unpacked")
	if err := os.RemoveAll(unpacked); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unpacked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ack = tr.ack(tr.enable(r.Inbox(), tr.upload(fnBundle(t, host, "/unpack")), host, "/unpack", nil), 20*time.Second)
	if ack.Status != protocol.AckError || !strings.Contains(ack.Error, "unpacking") {
		t.Errorf("unpacking into a file: ack %s %q, want an unpacking error", ack.Status, ack.Error)
	}
	if strings.Contains(ack.Error, dataDir) {
		t.Errorf("unpacking into a file: the ack names the data dir: %q", ack.Error)
	}
}
