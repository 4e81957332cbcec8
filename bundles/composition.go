// Gilmour compositions: the JSON/YAML form of a composition spec.

package bundles

import (
	"fmt"
	"strconv"
	"strings"
)

// Combinator is how a composition runs its steps (research §1.10; the runtime is in
// runner/gilmour).
type Combinator string

const (
	// Step is a single request: Topic, with Message merged over its input.
	Step     Combinator = ""
	Pipe     Combinator = "pipe"     // sequential, each step's output is the next one's input
	AndAnd   Combinator = "andand"   // sequential on the same input, stops at the first failure
	OrOr     Combinator = "oror"     // sequential on the same input, stops at the first success
	Batch    Combinator = "batch"    // sequential on the same input, failures ignored
	Parallel Combinator = "parallel" // concurrent on the same input
)

// combinators are the keys of a composition that is not a step.
var combinators = map[string]Combinator{
	"pipe": Pipe, "andand": AndAnd, "oror": OrOr, "batch": Batch, "parallel": Parallel,
}

// Bounds of one composition, so a manifest or a node cannot make the runner recurse or fan
// out without end.
const (
	maxCompositionDepth = 16
	maxCompositionSteps = 256
)

// Composition is a composition spec: a step {topic, message?} or one combinator over a
// non-empty list of compositions, nested at most 16 deep and with at most 256 steps in all.
type Composition struct {
	Combinator Combinator
	Topic      string         // a step's topic
	Message    any            // a step's static message (nil: none)
	Steps      []*Composition // a combinator's steps
}

// ParseComposition reads a composition spec from decoded JSON or YAML. Its error says where
// in the spec the problem is ("pipe.1.andand: ...").
func ParseComposition(v any) (*Composition, error) {
	c, err := parseComposition(v)
	if err != nil {
		if len(err.at) == 0 {
			return nil, fmt.Errorf("%s", err.msg)
		}
		return nil, fmt.Errorf("%s: %s", strings.Join(err.at, "."), err.msg)
	}
	return c, nil
}

// compositionError is a problem at the key path at inside a composition spec.
type compositionError struct {
	at  []string
	msg string
}

func parseComposition(v any) (*Composition, *compositionError) {
	steps := 0
	return parseCompositionAt(v, 0, &steps)
}

func parseCompositionAt(v any, depth int, steps *int) (*Composition, *compositionError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &compositionError{msg: "a composition is a mapping: {topic, message} or one of pipe, andand, oror, batch, parallel"}
	}
	if _, isStep := m["topic"]; isStep {
		*steps++
		if *steps > maxCompositionSteps {
			return nil, &compositionError{msg: fmt.Sprintf("more than %d steps", maxCompositionSteps)}
		}
		return parseStep(m)
	}
	if len(m) != 1 {
		return nil, &compositionError{msg: "a composition has exactly one of pipe, andand, oror, batch, parallel (or is a step with a topic)"}
	}
	for key, list := range m {
		comb, ok := combinators[key]
		if !ok {
			return nil, &compositionError{msg: fmt.Sprintf("unknown combinator %q (want pipe, andand, oror, batch or parallel)", key)}
		}
		if depth >= maxCompositionDepth {
			return nil, &compositionError{at: []string{key}, msg: fmt.Sprintf("nested more than %d deep", maxCompositionDepth)}
		}
		return parseSteps(comb, key, list, depth, steps)
	}
	panic("unreachable")
}

// parseSteps reads a combinator's list of compositions.
func parseSteps(comb Combinator, key string, v any, depth int, steps *int) (*Composition, *compositionError) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, &compositionError{at: []string{key}, msg: key + " must be a non-empty list of compositions"}
	}
	c := &Composition{Combinator: comb}
	for i, x := range list {
		sub, err := parseCompositionAt(x, depth+1, steps)
		if err != nil {
			err.at = append([]string{key, strconv.Itoa(i)}, err.at...)
			return nil, err
		}
		c.Steps = append(c.Steps, sub)
	}
	return c, nil
}

// parseStep reads a step {topic, message?}.
func parseStep(m map[string]any) (*Composition, *compositionError) {
	for _, k := range sortedKeys(m) {
		if k != "topic" && k != "message" {
			return nil, &compositionError{at: []string{k}, msg: fmt.Sprintf("unknown key %q in a step (want topic and message)", k)}
		}
	}
	topic, _ := m["topic"].(string)
	if err := CheckTopic(topic, false); err != nil {
		return nil, &compositionError{at: []string{"topic"}, msg: err.Error()}
	}
	return &Composition{Topic: topic, Message: m["message"]}, nil
}

// maxTopicBytes bounds a Gilmour topic.
const maxTopicBytes = 256

// CheckTopic checks a Gilmour topic: non-empty, at most 256 bytes, no spaces or control
// characters, and no wildcard (*) unless wildcard (slots may have one; services and the
// topics requests go to may not: a request reaches services only).
func CheckTopic(topic string, wildcard bool) error {
	switch {
	case topic == "":
		return fmt.Errorf("the topic must be a non-empty string")
	case len(topic) > maxTopicBytes:
		return fmt.Errorf("the topic is longer than %d bytes", maxTopicBytes)
	case strings.ContainsFunc(topic, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("the topic %q holds a space or a control character", topic)
	case !wildcard && strings.Contains(topic, "*"):
		return fmt.Errorf("the topic %q has a wildcard (*), which only a slot's topic may have", topic)
	}
	return nil
}
