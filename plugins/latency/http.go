package latency

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/plugins"
	"github.com/chaosctl/chaosctl/plugins/latency/tcpproxy"
)

// The HTTP actions (http_abort, http_delay, http_header) are L7 toxics on
// a chaosctl proxy: proxy mode only.

func isHTTPAction(action string) bool { return tcpproxy.IsHTTP(action) }

// httpMatchParams are the parameters every HTTP action shares: which
// requests it acts on.
func httpMatchParams() []plugins.Param {
	return []plugins.Param{
		{Name: "mode", Type: plugins.TypeString, Default: ModeProxy, Enum: []string{ModeAuto, ModeProxy}, Doc: "proxy (the only mode: the proxy parses HTTP/1.1 on its route while the fault holds)"},
		{Name: "percent", Type: plugins.TypeFloat, Default: 100.0, Max: new(100.0), Doc: "percent of the matching requests acted on, in (0, 100]"},
		{Name: "method", Type: plugins.TypeString, Doc: "only requests with this method, e.g. \"GET\""},
		{Name: "path_prefix", Type: plugins.TypeString, Doc: "only requests whose URL path starts with this, e.g. \"/pay\""},
		{Name: "path_regex", Type: plugins.TypeString, Doc: "only requests whose URL path matches this RE2 regex"},
		{Name: "header", Type: plugins.TypeString, Doc: "only requests with this header value, \"Name=value\""},
	}
}

func httpActions() []plugins.Action {
	with := func(extra ...plugins.Param) []plugins.Param { return append(httpMatchParams(), extra...) }
	return []plugins.Action{
		{
			Name: tcpproxy.KindHTTPAbort, Reversible: true, Selector: selector(),
			Doc: "proxy only, HTTP/1.1: answer a percent of the matching requests with status and body, without forwarding them",
			Params: with(
				plugins.Param{Name: "status", Type: plugins.TypeInt, Default: int64(503), Min: new(100.0), Max: new(599.0), Doc: "status of the answer, 100-599"},
				plugins.Param{Name: "body", Type: plugins.TypeString, Doc: "body of the answer (text/plain)"},
			),
		},
		{
			Name: tcpproxy.KindHTTPDelay, Reversible: true, Selector: selector(),
			Doc: "proxy only, HTTP/1.1: hold a percent of the matching requests for delay before forwarding them",
			Params: with(
				plugins.Param{Name: "delay", Type: plugins.TypeDuration, Required: true, Doc: "how long each chosen request is held"},
			),
		},
		{
			Name: tcpproxy.KindHTTPHeader, Reversible: true, Selector: selector(),
			Doc: "proxy only, HTTP/1.1: set or remove headers of the responses to a percent of the matching requests",
			Params: with(
				plugins.Param{Name: "set_headers", Type: plugins.TypeTable, Doc: "response headers to set, e.g. { Cache-Control = \"no-store\" }"},
				plugins.Param{Name: "remove_headers", Type: plugins.TypeStrings, Doc: "response headers to remove, e.g. [\"ETag\"]"},
			),
		},
	}
}

func number(params plugins.Params, k string, def float64) (float64, bool) {
	v, ok := params[k]
	if !ok {
		return def, true
	}
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// httpToxic turns an HTTP action and its parameters into a toxic; every
// error names its field.
func httpToxic(action string, params plugins.Params, id string) (tcpproxy.Toxic, []error) {
	var errs []error
	t := tcpproxy.Toxic{ID: id, Kind: action}
	m := tcpproxy.HTTPMatch{
		Method:     strings.ToUpper(str(params, "method", "")),
		PathPrefix: str(params, "path_prefix", ""),
		PathRegex:  str(params, "path_regex", ""),
		Header:     str(params, "header", ""),
	}
	pct, ok := number(params, "percent", 100)
	if !ok {
		errs = append(errs, fieldError("params.percent", "want a number"))
	}
	m.Percent = pct
	if err := tcpproxy.CheckMatch(m); err != nil {
		field := "params.percent"
		switch {
		case errors.Is(err, tcpproxy.ErrMethod):
			field = "params.method"
		case errors.Is(err, tcpproxy.ErrPathRegex):
			field = "params.path_regex"
		case errors.Is(err, tcpproxy.ErrHeader):
			field = "params.header"
		}
		if ok || field != "params.percent" {
			errs = append(errs, fieldError(field, err.Error()))
		}
	}
	if m.PathPrefix != "" && !strings.HasPrefix(m.PathPrefix, "/") {
		errs = append(errs, fieldError("params.path_prefix", fmt.Sprintf("a URL path starts with /, got %q", m.PathPrefix)))
	}
	t.Match = &m
	switch action {
	case tcpproxy.KindHTTPAbort:
		status, ok := number(params, "status", 503)
		if !ok || status != float64(int(status)) || status < 100 || status > 599 {
			errs = append(errs, fieldError("params.status", fmt.Sprintf("want an HTTP status in 100-599, got %v", params["status"])))
		}
		t.Status, t.Body = int(status), str(params, "body", "")
	case tcpproxy.KindHTTPDelay:
		s, _ := params["delay"].(string)
		d, err := time.ParseDuration(s)
		switch {
		case s == "":
			errs = append(errs, fieldError("params.delay", "http_delay needs a delay, e.g. \"300ms\""))
		case err != nil:
			errs = append(errs, fieldError("params.delay", fmt.Sprintf("not a duration: %q", s)))
		case d <= 0:
			errs = append(errs, fieldError("params.delay", "must be more than 0, got "+d.String()))
		}
		t.Delay = d
	case tcpproxy.KindHTTPHeader:
		if v, ok := params["set_headers"]; ok {
			tbl, ok := v.(map[string]any)
			if !ok {
				errs = append(errs, fieldError("params.set_headers", "want a table of header = \"value\""))
			}
			t.SetHeaders = map[string]string{}
			for k, hv := range tbl {
				s, ok := hv.(string)
				if !ok || strings.ContainsAny(s, "\r\n") || !validHeaderName(k) {
					errs = append(errs, fieldError("params.set_headers", fmt.Sprintf("%q: want a header name and a one-line string value", k)))
					continue
				}
				t.SetHeaders[k] = s
			}
		}
		if v, ok := params["remove_headers"]; ok {
			list, ok := v.([]any)
			if !ok {
				errs = append(errs, fieldError("params.remove_headers", "want a list of header names"))
			}
			for _, e := range list {
				s, ok := e.(string)
				if !ok || !validHeaderName(s) {
					errs = append(errs, fieldError("params.remove_headers", fmt.Sprintf("%v is not a header name", e)))
					continue
				}
				t.RemoveHeaders = append(t.RemoveHeaders, s)
			}
		}
		if len(t.SetHeaders)+len(t.RemoveHeaders) == 0 && len(errs) == 0 {
			errs = append(errs, fieldError("params.set_headers", "http_header needs set_headers or remove_headers"))
		}
	}
	if len(errs) == 0 {
		if err := t.Check(); err != nil {
			errs = append(errs, fieldError("params", err.Error()))
		}
	}
	return t, errs
}

func validHeaderName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n\"(),/:;<=>?@[\\]{}")
}

// describeHTTP is an HTTP toxic as Status reports it: "abort 50% of GET
// /pay* with 503".
func describeHTTP(t tcpproxy.Toxic) string {
	m := tcpproxy.HTTPMatch{}
	if t.Match != nil {
		m = *t.Match
	}
	switch t.Kind {
	case tcpproxy.KindHTTPAbort:
		return fmt.Sprintf("abort %s with %d", m, t.Status)
	case tcpproxy.KindHTTPDelay:
		return fmt.Sprintf("delay %s by %s", m, t.Delay)
	}
	var what []string
	keys := make([]string, 0, len(t.SetHeaders))
	for k := range t.SetHeaders {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		what = append(what, "set "+k)
	}
	for _, k := range t.RemoveHeaders {
		what = append(what, "remove "+k)
	}
	return fmt.Sprintf("%s on responses to %s", strings.Join(what, ", "), m)
}
