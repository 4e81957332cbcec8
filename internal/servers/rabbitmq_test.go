package servers

import "testing"

// TestRabbitMQRestart shows the node comes back on the same ports after a stop and a kill.
func TestRabbitMQRestart(t *testing.T) {
	r, err := NewRabbitMQ(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if !r.amqpReady() || !portOpen(r.STOMPPort) {
		t.Fatal("node not reachable after start")
	}
	if err := r.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	r.Kill()
	if r.amqpReady() {
		t.Fatal("node still answers after Kill")
	}
	if err := r.Start(); err != nil {
		t.Fatalf("start after kill: %v", err)
	}
}
