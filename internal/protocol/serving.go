// Decoding a service message to serve it: a runner reads some of a request's fields and
// never the others, and encoding/json allocates for every field it fills (the uri-args
// map most: a map, and a slice per argument). DecodeRequest leaves the unread ones out.

package protocol

import "encoding/json"

// ServingSkips are the service fields DecodeRequest leaves empty: the runner and its
// bundle kinds never read them (the query is `args`, the user agent a header, the request
// line is rebuilt from method and request-uri; the message's own msg-id, time, version and
// sender say nothing about the request).
var ServingSkips = []string{"msg-id", "at", "version", "from", "uri-args", "server-addr", "request", "http-referer", "http-user-agent"}

// servingService is a Service as DecodeRequest fills it: encoding/json gives each JSON
// name to the shallowest field that has it, so these fields of type unread shadow the
// Service's own (keep them in step with ServingSkips; TestServingSkips checks).
type servingService struct {
	*Service
	MsgID         unread `json:"msg-id"`
	At            unread `json:"at"`
	Version       unread `json:"version"`
	From          unread `json:"from"`
	URIArgs       unread `json:"uri-args"`
	ServerAddr    unread `json:"server-addr"`
	Request       unread `json:"request"`
	HTTPReferer   unread `json:"http-referer"`
	HTTPUserAgent unread `json:"http-user-agent"`
}

// unread takes any JSON value and keeps nothing (encoding/json has validated it already).
type unread struct{}

func (*unread) UnmarshalJSON([]byte) error { return nil }

// DecodeRequest is DecodeAs for a service message about to be served: the same checks and
// errors, with the fields of ServingSkips left empty. EDN messages are decoded whole.
func DecodeRequest(contentType string, body []byte, svc *Service) error {
	c, perr := codecFor(contentType, body)
	if perr != nil {
		return perr
	}
	if c != JSON {
		return DecodeAs(contentType, body, svc)
	}
	if perr = checkShape(c, body); perr != nil {
		perr.Action = ActionService
		return perr
	}
	if err := decodeServing(body, svc); err != nil {
		return err
	}
	if svc.Action != ActionService {
		return errorf(CodeWrongAction, svc.Action, nil, "want action %q, got %q", ActionService, svc.Action)
	}
	return nil
}

func decodeServing(body []byte, svc *Service) *Error {
	view := &servingService{Service: svc}
	if len(body) >= splitBodyMin && decodeServiceJSONInto(body, svc, view) {
		return nil
	}
	if err := json.Unmarshal(body, view); err != nil {
		return errorf(CodeMalformed, ActionService, err, "decoding %s %s message", ActionService, JSON)
	}
	return nil
}
