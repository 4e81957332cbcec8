// The route a bundle serves: host and base path, from Swagger 2 or OpenAPI 3.

package bundles

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// route works out (host, basePath) from the manifest. Swagger 2.0 gives them
// as host and basePath (default "/"). OpenAPI 3.x gives them in
// servers[0].url: "https://example.com/hello" is host example.com and base
// path /hello, a relative "/hello" is any host and /hello, no servers is any
// host and "/". Server variables take their defaults. The host is lower-cased
// (host names are case-insensitive); a trailing slash of the base path is
// dropped, so "/hello/" and "/hello" are the same route.
func (m *manifest) route() (host, basePath string, err error) {
	sw, isSwagger := m.doc["swagger"]
	oa, isOpenAPI := m.doc["openapi"]
	switch {
	case isSwagger && isOpenAPI:
		return "", "", m.errorf([]string{"openapi"}, "both swagger and openapi are set; a manifest is one or the other")
	case isSwagger:
		if !isSwagger2(sw) {
			return "", "", m.errorf([]string{"swagger"}, `swagger is %v; only "2.0" is supported`, sw)
		}
		return m.swaggerRoute()
	case isOpenAPI:
		if !isOpenAPI3(oa) {
			return "", "", m.errorf([]string{"openapi"}, "openapi is %v; only 3.x is supported", oa)
		}
		return m.openAPIRoute()
	}
	return "", "", &InvalidError{File: m.file, Msg: `not a Swagger 2.0 or OpenAPI 3.x document (no "swagger" or "openapi" key)`}
}

// isSwagger2 reports whether v is Swagger's version "2.0"; YAML reads an
// unquoted 2.0 as a number, which is accepted too.
func isSwagger2(v any) bool {
	switch v := v.(type) {
	case string:
		return v == "2.0"
	case int:
		return v == 2
	case float64:
		return v == 2
	}
	return false
}

// isOpenAPI3 reports whether v is an OpenAPI 3.x version, as a string
// ("3.0.3") or as a number (an unquoted 3.1).
func isOpenAPI3(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.HasPrefix(v, "3.")
	case int:
		return v == 3
	case float64:
		return v >= 3 && v < 4
	}
	return false
}

// swaggerRoute reads host and basePath of a Swagger 2.0 document.
func (m *manifest) swaggerRoute() (host, basePath string, err error) {
	if h, ok := m.doc["host"]; ok && h != nil {
		s, _ := h.(string)
		if host, err = checkHost(s); err != nil {
			return "", "", m.errorf([]string{"host"}, "host %v is not a host name (like example.com or example.com:8080)", h)
		}
	}
	basePath = "/"
	if p, ok := m.doc["basePath"]; ok && p != nil {
		s, ok := p.(string)
		if !ok {
			return "", "", m.errorf([]string{"basePath"}, "basePath %v is not a string", p)
		}
		if basePath, err = checkBasePath(s); err != nil {
			return "", "", m.errorf([]string{"basePath"}, "basePath %v", err)
		}
	}
	return host, basePath, nil
}

// openAPIRoute reads servers[0].url of an OpenAPI 3.x document.
func (m *manifest) openAPIRoute() (host, basePath string, err error) {
	at := []string{"servers"}
	raw, err := m.serverURL()
	if err != nil || raw == "" {
		return "", "/", err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", m.errorf(at, "servers[0].url %q does not parse: %v", raw, err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", m.errorf(at, "servers[0].url %q may hold only a scheme, host and path", raw)
	}
	if u.Host != "" {
		if host, err = checkHost(u.Host); err != nil {
			return "", "", m.errorf(at, "servers[0].url %q has a bad host", raw)
		}
	}
	basePath = "/"
	if u.Path != "" || u.Host == "" {
		if basePath, err = checkBasePath(u.Path); err != nil {
			return "", "", m.errorf(at, "servers[0].url %q: basePath %v", raw, err)
		}
	}
	return host, basePath, nil
}

// serverURL returns servers[0].url with its variables set to their
// defaults, or "" when there are no servers.
func (m *manifest) serverURL() (string, error) {
	at := []string{"servers"}
	servers, ok := m.doc["servers"].([]any)
	if !ok || len(servers) == 0 {
		if v := m.doc["servers"]; v != nil && !ok {
			return "", m.errorf(at, "servers is not a list")
		}
		return "", nil
	}
	server, ok := servers[0].(map[string]any)
	if !ok {
		return "", m.errorf(at, "servers[0] is not a mapping")
	}
	raw, ok := server["url"].(string)
	if !ok {
		return "", m.errorf(at, "servers[0].url is missing or not a string")
	}
	vars, _ := server["variables"].(map[string]any)
	out, err := expandServerVars(raw, vars)
	if err != nil {
		return "", m.errorf(at, "servers[0].url %q: %v", raw, err)
	}
	return out, nil
}

// expandServerVars replaces each {name} in an OpenAPI server URL with the
// default of that variable.
func expandServerVars(raw string, vars map[string]any) (string, error) {
	var b strings.Builder
	for {
		open := strings.IndexByte(raw, '{')
		if open < 0 {
			return b.String() + raw, nil
		}
		end := strings.IndexByte(raw[open:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed {")
		}
		name := raw[open+1 : open+end]
		v, _ := vars[name].(map[string]any)
		def, ok := v["default"].(string)
		if !ok {
			return "", fmt.Errorf("variable %q has no default", name)
		}
		b.WriteString(raw[:open])
		b.WriteString(def)
		raw = raw[open+end+1:]
	}
}

// checkHost checks and lower-cases a host name, with or without a port.
func checkHost(h string) (string, error) {
	if h == "" || strings.ContainsAny(h, "/\\@?# \t\r\n") {
		return "", fmt.Errorf("bad host %q", h)
	}
	return strings.ToLower(h), nil
}

// checkBasePath checks a base path and drops a trailing slash. Its errors
// complete the sentence "basePath ...".
func checkBasePath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%q does not start with /", p)
	}
	if strings.ContainsAny(p, "?#{} \t\r\n") {
		return "", fmt.Errorf("%q is not a plain path (no query, fragment, template or spaces)", p)
	}
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	if path.Clean(p) != p {
		return "", fmt.Errorf("%q is not a clean path (no //, . or ..)", p)
	}
	return p, nil
}
