package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/chaosctl/chaosctl/daemon/api"
	"github.com/chaosctl/chaosctl/daemon/store"
)

// Faults lists the unreverted faults.
func (d *Daemon) Faults() ([]api.UnrevertedFault, error) {
	es, err := d.store.Unreverted()
	if err != nil {
		return nil, err
	}
	out := make([]api.UnrevertedFault, 0, len(es))
	for _, e := range es {
		out = append(out, api.UnrevertedFault{RunID: e.RunID, State: string(e.State), Updated: e.Updated, Fault: e.Fault})
	}
	return out, nil
}

// RetryFaults wakes the retry loop at once, and waits for one pass.
func (d *Daemon) RetryFaults(ctx context.Context) ([]api.UnrevertedFault, error) {
	d.retryFailed(ctx)
	return d.Faults()
}

// ForgetFault clears a fault an operator has dealt with by hand: it is no
// longer retried, its target is freed, and its run's journal says who
// cleared it.
func (d *Daemon) ForgetFault(ctx context.Context, ref api.FaultRef) (api.UnrevertedFault, error) {
	note := fmt.Sprintf("%s: forgotten by an operator (chaosctl faults forget): no longer reverted by chaosctl", time.Now().Format(time.RFC3339))
	e, err := d.store.Forget(ctx, ref.RunID, ref.FaultID, note)
	if err != nil {
		return api.UnrevertedFault{}, err
	}
	d.locks.unquarantine(ref.RunID, e.Fault.Target)
	if j, err := d.store.Run(ref.RunID); err == nil {
		for i := range j.Faults {
			if j.Faults[i].ID == ref.FaultID {
				j.Faults[i].Notes = append(j.Faults[i].Notes, note)
			}
		}
		if err := d.store.PutRun(j); err != nil {
			return api.UnrevertedFault{}, err
		}
	}
	d.log.Warn().Str("run_id", ref.RunID).Str("fault", ref.FaultID).Str("target", e.Fault.Target.String()).Msg("unreverted fault forgotten by an operator")
	return api.UnrevertedFault{RunID: e.RunID, State: string(e.State), Updated: e.Updated, Fault: e.Fault}, nil
}

func (d *Daemon) handleFaults(w http.ResponseWriter, _ *http.Request) {
	fs, err := d.Faults()
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, api.FaultsResponse{Faults: fs})
}

func (d *Daemon) handleRetryFaults(w http.ResponseWriter, r *http.Request) {
	fs, err := d.RetryFaults(r.Context())
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, api.FaultsResponse{Faults: fs})
}

func (d *Daemon) handleForgetFault(w http.ResponseWriter, r *http.Request) {
	body, code, err := d.readBody(w, r)
	if err != nil {
		writeErr(w, code, err)
		return
	}
	var ref api.FaultRef
	if err := json.Unmarshal(body, &ref); err != nil || ref.RunID == "" || ref.FaultID == "" {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("want {\"run_id\": ..., \"fault_id\": ...}: %v", err))
		return
	}
	f, err := d.ForgetFault(r.Context(), ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeErr(w, http.StatusNotFound, err)
	case errors.Is(err, store.ErrNotUnreverted):
		writeErr(w, http.StatusConflict, err)
	case err != nil:
		writeErr(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, f)
	}
}
