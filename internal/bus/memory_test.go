package bus

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

func TestMemorySendReplyReceipt(t *testing.T) {
	net := NewMemory()
	tron := net.Connect("for_tron", "v1")
	runner := net.Connect("RU-1", "v1")
	defer tron.Close()
	defer runner.Close()

	// The runner acks every enable it gets, in EDN.
	runner.OnType(protocol.ActionEnable, func(ctx context.Context, m Message) {
		if m.ReplyTo != "for_tron" || m.Codec != protocol.EDN {
			t.Errorf("enable arrived as %+v", m)
		}
		runner.Send(ctx, &protocol.Ack{AckID: m.UUID, Status: protocol.AckOK}, Destination{Queue: m.ReplyTo, Codec: protocol.EDN})
	})
	var acks atomic.Int32
	tron.OnType(protocol.ActionAck, func(ctx context.Context, m Message) { acks.Add(1) })

	r, err := tron.Send(context.Background(), &protocol.Enable{SHA: "ab"}, Destination{Queue: "RU-1", Codec: protocol.EDN})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got Message
	if err := r.WaitUntil(2*time.Second, func(m Message) bool { got = m; return true }); err != nil {
		t.Fatalf("WaitUntil: %v", err)
	}
	if got.ParentID != r.UUID() || got.Data.(*protocol.Ack).Status != protocol.AckOK {
		t.Errorf("reply = %+v", got)
	}
	testenv.WaitFor(t, 2*time.Second, "the ack handler", func() bool { return acks.Load() == 1 })
}

func TestMemoryReceiptTimeout(t *testing.T) {
	net := NewMemory()
	b := net.Connect("a", "v")
	defer b.Close()
	silent := net.Connect("silent", "v") // consumes, never answers
	defer silent.Close()
	if _, err := b.Send(context.Background(), &protocol.Enable{}, Destination{Queue: "nobody"}); !errors.Is(err, ErrUnroutable) {
		t.Errorf("Send to a queue nobody consumes = %v, want ErrUnroutable", err)
	}
	r, err := b.Send(context.Background(), &protocol.Enable{}, Destination{Queue: "silent", Codec: protocol.JSON}, Destination{Queue: "nobody"})
	if r == nil || !errors.Is(err, ErrUnroutable) {
		t.Fatalf("Send to one live and one missing queue = %v, %v; want a receipt and ErrUnroutable", r, err)
	}
	defer r.Close()
	if err := r.WaitUntil(20*time.Millisecond, func(Message) bool { return true }); !errors.Is(err, ErrTimeout) {
		t.Errorf("WaitUntil with no reply = %v, want ErrTimeout", err)
	}
}

func TestMemoryUndecodableAndDown(t *testing.T) {
	net := NewMemory()
	b := net.Connect("q", "v")
	defer b.Close()
	var bad atomic.Int32
	b.OnUndecodable(func(error) { bad.Add(1) })
	var ok atomic.Int32
	b.OnType(protocol.ActionResendAwake, func(context.Context, Message) { ok.Add(1) })
	net.Inject("q", protocol.ContentTypeJSON, []byte("{nope"))
	net.Inject("q", protocol.ContentTypeJSON, []byte(`{"action":"dance"}`))
	net.Inject("q", protocol.ContentTypeJSON, []byte(`{"action":"resend-awake"}`))
	testenv.WaitFor(t, 2*time.Second, "the good message after the bad ones", func() bool { return ok.Load() == 1 })
	if bad.Load() != 1 {
		t.Errorf("undecodable count = %d, want 1 (unknown actions are dropped, not counted)", bad.Load())
	}
	net.SetDown(true)
	if _, err := b.Send(context.Background(), &protocol.ResendAwake{}, Destination{Queue: "q"}); !errors.Is(err, ErrDown) {
		t.Errorf("Send while down = %v, want ErrDown", err)
	}
	if b.Connected() {
		t.Error("Connected() while down")
	}
}

func TestReplay(t *testing.T) {
	r := NewReplay[int](3)
	for i := 1; i <= 5; i++ {
		r.Add(i)
	}
	var got []int
	cancel := r.Subscribe(func(v int) { got = append(got, v) })
	r.Add(6)
	cancel()
	r.Add(7)
	want := []int{3, 4, 5, 6}
	if len(got) != len(want) {
		t.Fatalf("subscriber saw %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("subscriber saw %v, want %v", got, want)
		}
	}
	if rec := r.Recent(); len(rec) != 3 || rec[0] != 5 || rec[2] != 7 {
		t.Errorf("Recent() = %v, want [5 6 7]", rec)
	}
}
