// A route's "any host" on the wire (spec/protocol.md §3): a bundle without a host is sent
// with `"host": null`, what the original Tron sent and the only "any host" the 2017
// frontend understands besides "*". Decoding null gives "", as encoding/json and the EDN
// decoder do for any string.

package protocol

import (
	"encoding/json"

	"olympos.io/encoding/edn"
)

// routeEntryWire is a RouteEntry with a host that can be null. Its Host, being shallower,
// hides the embedded one; the fields keep RouteEntry's order.
type routeEntryWire struct {
	Host *string `json:"host" edn:"host"`
	plainRouteEntry
}

// plainRouteEntry has RouteEntry's fields without its methods (no recursion).
type plainRouteEntry RouteEntry

func (e RouteEntry) wire() routeEntryWire {
	w := routeEntryWire{plainRouteEntry: plainRouteEntry(e)}
	if e.Host != "" {
		w.Host = &e.Host
	}
	return w
}

func (e RouteEntry) MarshalJSON() ([]byte, error) { return json.Marshal(e.wire()) }

func (e RouteEntry) MarshalEDN() ([]byte, error) { return edn.Marshal(e.wire()) }

// UnmarshalEDN reads a route whose host may be nil (the EDN decoder refuses nil for a
// string; encoding/json leaves the string empty by itself).
func (e *RouteEntry) UnmarshalEDN(b []byte) error {
	var w routeEntryWire
	if err := edn.Unmarshal(b, &w); err != nil {
		return err
	}
	*e = RouteEntry(w.plainRouteEntry)
	if w.Host != nil {
		e.Host = *w.Host
	}
	return nil
}
