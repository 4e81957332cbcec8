// Publishing: a request (and waiting for its response) and a signal, as a Gilmour
// requester does (research §1.3-1.4).

package gilmour

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Codes of the messages the runner makes up itself.
const (
	codeOK       = 200
	codeTimeout  = 499 // Gilmour's "Execution timed out"
	codeBadReply = 502
	codeNoOne    = 503
)

// timedOut is the message of a request whose time ran out, as Gilmour writes it.
var timedOut = result{Data: stringData("Execution timed out"), Code: codeTimeout}

// requestError is a request that could not be made, with the message that stands for it
// inside a composition.
type requestError struct {
	msg  result
	why  string
	busy bool // the bus is unreachable (not: nobody listens)
}

func (e *requestError) Error() string { return e.why }

func noListeners(topic string) *requestError {
	why := "no active listeners for " + topic
	return &requestError{msg: result{Data: stringData(why), Code: codeNoOne}, why: why}
}

func busDown(err error) *requestError {
	why := "the Gilmour bus is unreachable"
	if errors.Is(err, errTooManyWaiters) {
		why = err.Error()
	}
	return &requestError{msg: result{Data: stringData(why), Code: codeNoOne}, why: why, busy: true}
}

func badReply(why string) *requestError {
	return &requestError{msg: result{Data: stringData(why), Code: codeBadReply}, why: why}
}

// publisher publishes requests and signals on one Redis.
type publisher struct {
	rdb  *redis.Client
	resp *responses
}

// request sends data to topic with a fresh sender and returns the first response, or
// timedOut when ctx ends first. Nobody subscribed is a *requestError at once (PUBSUB
// NUMSUB), as is a lost Redis or a response that is not a JSON envelope.
func (p *publisher) request(ctx context.Context, topic string, data json.RawMessage) (result, error) {
	channel := requestChannel(topic)
	if ctx.Err() != nil {
		return timedOut, nil
	}
	n, err := p.rdb.PubSubNumSub(ctx, channel).Result()
	if err != nil {
		return p.failed(ctx, err)
	}
	if n[channel] == 0 {
		return result{}, noListeners(topic)
	}
	sender := uuid.NewString()
	w, err := p.resp.subscribe(ctx, sender)
	if err != nil {
		return p.failed(ctx, err)
	}
	defer p.resp.release(w)
	got, err := p.rdb.Publish(ctx, channel, envelope{Data: data, Code: codeOK, Sender: sender}.encode()).Result()
	if err != nil {
		return p.failed(ctx, err)
	}
	if got == 0 {
		return result{}, noListeners(topic)
	}
	select {
	case payload := <-w.got:
		return decodeResponse(payload)
	case <-ctx.Done():
		return timedOut, nil
	}
}

// failed is the outcome of a Redis error: a timeout when ctx ended, else the bus is down.
func (p *publisher) failed(ctx context.Context, err error) (result, error) {
	if ctx.Err() != nil {
		return timedOut, nil
	}
	return result{}, busDown(err)
}

// decodeResponse reads a response payload: only data and code matter (Ruby responses carry
// a random sender). One that is too large or not a JSON envelope is a bad reply.
func decodeResponse(payload string) (result, error) {
	if len(payload) > maxMessageBytes {
		return result{}, badReply(fmt.Sprintf("the response is larger than %d bytes", maxMessageBytes))
	}
	env, ok := parseEnvelope(payload)
	if !ok {
		return result{}, badReply("the response is not a Gilmour message (JSON {data, code, sender})")
	}
	return result{Data: env.Data, Code: env.Code}, nil
}

// signal publishes data to the slots of topic with a fresh sender and returns how many
// subscribers Redis delivered it to.
func (p *publisher) signal(ctx context.Context, topic string, data json.RawMessage) (int64, error) {
	env := envelope{Data: data, Code: codeOK, Sender: uuid.NewString()}
	n, err := p.rdb.Publish(ctx, slotChannel(topic), env.encode()).Result()
	if err != nil {
		return 0, busDown(err)
	}
	return n, nil
}
