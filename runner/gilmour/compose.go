// Compositions, run by the runner as the requesting library would (research §1.10).

package gilmour

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/funcatron/funcatron/bundles"
)

// requestFunc sends one request (publisher.request; a fake in the combinators' tests).
type requestFunc func(ctx context.Context, topic string, data json.RawMessage) (result, error)

// outcome is what a composition yields: its own result (the code the HTTP status comes
// from) and every executed step's message, in the order they finished.
type outcome struct {
	final    result
	messages []result
}

// ok is a step's success: a 2xx code (Go checks == 200; a node answering 201 succeeded).
func ok(code int) bool { return code >= 200 && code < 300 }

// compose runs c on input.
func compose(ctx context.Context, req requestFunc, c *bundles.Composition, input json.RawMessage) outcome {
	switch c.Combinator {
	case bundles.Step:
		r := step(ctx, req, c, input)
		return outcome{final: r, messages: []result{r}}
	case bundles.Pipe:
		return sequence(ctx, req, c.Steps, input, true, func(r result) bool { return !ok(r.Code) })
	case bundles.AndAnd:
		return sequence(ctx, req, c.Steps, input, false, func(r result) bool { return !ok(r.Code) })
	case bundles.OrOr:
		return sequence(ctx, req, c.Steps, input, false, func(r result) bool { return ok(r.Code) })
	case bundles.Batch:
		return sequence(ctx, req, c.Steps, input, false, func(result) bool { return false })
	case bundles.Parallel:
		return parallel(ctx, req, c.Steps, input)
	}
	r := result{Data: stringData("unknown combinator " + string(c.Combinator)), Code: 500}
	return outcome{final: r, messages: []result{r}}
}

// step sends one request with the step's message merged over its input. A request that
// could not be made becomes its message (503 nobody listens or the bus is down, 502 a bad
// reply).
func step(ctx context.Context, req requestFunc, c *bundles.Composition, input json.RawMessage) result {
	r, err := req(ctx, c.Topic, merge(input, c.Message))
	var re *requestError
	if errors.As(err, &re) {
		return re.msg
	} else if err != nil {
		return result{Data: stringData(err.Error()), Code: codeNoOne}
	}
	return r
}

// sequence runs steps one after the other: chain passes each result's data on as the next
// input (pipe), else every step gets input (andand, oror, batch, as in the Go library);
// stop ends the run after a result. The outcome's result is the last executed step's.
func sequence(ctx context.Context, req requestFunc, steps []*bundles.Composition, input json.RawMessage,
	chain bool, stop func(result) bool) outcome {
	var out outcome
	in := input
	for _, s := range steps {
		o := compose(ctx, req, s, in)
		out.messages = append(out.messages, o.messages...)
		out.final = o.final
		if stop(o.final) {
			break
		}
		if chain {
			in = o.final.Data
		}
	}
	return out
}

// parallel runs every step at once on input. Its result's data is the list of the steps'
// data in the order they finished, its code the highest of their codes.
func parallel(ctx context.Context, req requestFunc, steps []*bundles.Composition, input json.RawMessage) outcome {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out outcome
	var datas []json.RawMessage
	for _, s := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := compose(ctx, req, s, input)
			mu.Lock()
			defer mu.Unlock()
			out.messages = append(out.messages, o.messages...)
			datas = append(datas, o.final.Data)
			out.final.Code = max(out.final.Code, o.final.Code)
		}()
	}
	wg.Wait()
	out.final.Data, _ = json.Marshal(datas)
	return out
}

// merge is a step's input: its static message merged over the input when both are JSON
// objects (the message's keys win, one level deep, as the Go library merges maps); the
// message alone when the input is not an object; the input when the step has no message.
func merge(input json.RawMessage, message any) json.RawMessage {
	if message == nil {
		return input
	}
	extra, ok := message.(map[string]any)
	var base map[string]any
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber() // numbers of the input pass through unchanged
	if ok && dec.Decode(&base) == nil && base != nil {
		for k, v := range extra {
			base[k] = v
		}
		message = base
	}
	b, err := json.Marshal(message)
	if err != nil {
		return input
	}
	return b
}
