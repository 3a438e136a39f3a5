package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/internal/agent"
	"github.com/chaosctl/chaosctl/lifecycle"
	"github.com/chaosctl/chaosctl/plugins"
)

// The agent's API, served only when [agent] enabled.

// tcpHandler is the API on the TCP listener. A node agent's token is in
// the hands of its controllers, on every node: it opens the agent's API
// (and the status and metrics) only, never runs or uploaded scenarios,
// which would run commands as the agent's user on the node. The unix
// socket, on the node itself, serves everything.
func (d *Daemon) tcpHandler(token []byte) http.Handler {
	h := d.Handler(token)
	if d.agent == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/v1/agent/") || p == "/v1/agent/faults" || p == "/v1/status" || p == "/metrics" {
			h.ServeHTTP(w, r)
			return
		}
		writeErr(w, http.StatusForbidden, errors.New("this daemon is a node agent: its TCP listener serves /v1/agent/, /v1/status and /metrics only"))
	})
}

func (d *Daemon) agentRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/agent/faults", d.handleAgentInject)
	mux.HandleFunc("GET /v1/agent/faults", func(w http.ResponseWriter, r *http.Request) {
		if d.agent == nil {
			writeAgentErr(w, errAgentDisabled)
			return
		}
		writeJSON(w, http.StatusOK, d.agent.list())
	})
	mux.HandleFunc("GET /v1/agent/faults/{id}", d.agentFault(func(r *http.Request, id string) (agent.Fault, error) { return d.agent.get(r.Context(), id) }))
	mux.HandleFunc("POST /v1/agent/faults/{id}/renew", d.agentFault(func(_ *http.Request, id string) (agent.Fault, error) { return d.agent.renew(id) }))
	mux.HandleFunc("DELETE /v1/agent/faults/{id}", d.agentFault(func(r *http.Request, id string) (agent.Fault, error) { return d.agent.revert(r.Context(), id) }))
}

func (d *Daemon) handleAgentInject(w http.ResponseWriter, r *http.Request) {
	if d.agent == nil {
		writeAgentErr(w, errAgentDisabled)
		return
	}
	body, code, err := d.readBody(w, r)
	if err != nil {
		writeErr(w, code, err)
		return
	}
	var req agent.InjectRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("malformed agent fault request: %w", err))
		return
	}
	f, err := d.agent.inject(r.Context(), req)
	if err != nil {
		writeAgentErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, f)
}

func (d *Daemon) agentFault(fn func(r *http.Request, id string) (agent.Fault, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.agent == nil {
			writeAgentErr(w, errAgentDisabled)
			return
		}
		f, err := fn(r, r.PathValue("id"))
		if err != nil {
			writeAgentErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, f)
	}
}

// writeAgentErr answers an agent error: refusals (the request, the
// plugin's validation, no such target) are 4xx with each field's message,
// so the controller reports the plugin's own words.
func writeAgentErr(w http.ResponseWriter, err error) {
	resp := agent.ErrorBody{Error: err.Error()}
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, errAgentDisabled):
		code = http.StatusNotFound
	case errors.Is(err, agent.ErrUnknownFault):
		code, resp.Code = http.StatusNotFound, agent.CodeUnknownFault
	case errors.Is(err, errAgentIDInUse), errors.Is(err, api.ErrHalted):
		code, resp.Code = http.StatusConflict, api.Code(err)
	case errors.Is(err, api.ErrShuttingDown):
		code, resp.Code = http.StatusServiceUnavailable, api.Code(err)
	case errors.Is(err, plugins.ErrInvalidParams), errors.Is(err, plugins.ErrNoTargets), errors.Is(err, plugins.ErrUnknownAction):
		code = http.StatusUnprocessableEntity
		resp.Error, resp.Errors = "invalid fault", leafErrors(err)
	case errors.Is(err, errInjectFailed) && !lifecycle.BrokenCall(err):
		// The plugin refused the injection (its own words).
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, resp)
}

// leafErrors flattens joined errors into their messages.
func leafErrors(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []string{err.Error()}
}
