package notify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaosctl/chaosctl/journal"
)

// annotation is the body of Grafana's POST /api/annotations (and, with
// only tags, of PATCH /api/annotations/:id). Times are epoch milliseconds.
type annotation struct {
	DashboardUID string   `json:"dashboardUID,omitempty"`
	Time         int64    `json:"time,omitempty"`
	TimeEnd      int64    `json:"timeEnd,omitempty"`
	Tags         []string `json:"tags"`
	Text         string   `json:"text,omitempty"`
}

// region is a fault's annotation as Grafana stored it.
type region struct {
	id   int64
	tags []string
}

// posted is Grafana's answer to a POST: {"id": 1, "message": "Annotation added"}.
type posted struct {
	ID int64 `json:"id"`
}

func (r *Run) grafanaTags(extra ...string) []string {
	return append([]string{"chaosctl", "scenario:" + r.scenario, "run:" + r.runID}, extra...)
}

func (r *Run) annotationsURL(id string) string {
	u := strings.TrimRight(r.cfg.Grafana.URL, "/") + "/api/annotations"
	if id != "" {
		u += "/" + id
	}
	return u
}

// grafanaRegion posts a region from the fault's injection to its revert,
// once it is reverted: a region needs its end, and posting it whole keeps
// Grafana's view right even when the verdict's update never arrives.
func (r *Run) grafanaRegion(f journal.Fault) {
	if r.cfg.Grafana.URL == "" || f.InjectedAt == nil || f.RevertedAt == nil {
		return
	}
	text := fmt.Sprintf("chaosctl: fault %s (%s %s) on %s", f.Name, f.Plugin, f.Action, f.Target)
	if f.Effect != "" {
		text += ", effect " + f.Effect
	}
	if f.RevertError != "" {
		text += ", revert failed: " + f.RevertError
	}
	a := annotation{
		DashboardUID: r.cfg.Grafana.DashboardUID,
		Time:         f.InjectedAt.UnixMilli(), TimeEnd: f.RevertedAt.UnixMilli(),
		Tags: r.grafanaTags("fault:" + f.Name), Text: text,
	}
	body, tok := mustJSON(a), r.token
	r.enqueue(r.grafanaLane, item{sink: "grafana", event: EventFault, reqs: func() []request {
		return []request{{method: http.MethodPost, url: r.annotationsURL(""), body: body, bearer: tok, onOK: func(b []byte) {
			var p posted
			if json.Unmarshal(b, &p) == nil && p.ID != 0 {
				r.regions = append(r.regions, region{id: p.ID, tags: a.Tags})
			}
		}}}
	}})
}

// grafanaPoint posts, at the verdict, the annotation of a fault that was
// injected and not reverted: an instantaneous fault such as a kill has no
// end, so it is a point at its injection, tagged with the verdict.
func (r *Run) grafanaPoint(f journal.Fault, verdict string) {
	if r.cfg.Grafana.URL == "" || f.InjectedAt == nil {
		return
	}
	text := fmt.Sprintf("chaosctl: fault %s (%s %s) on %s", f.Name, f.Plugin, f.Action, f.Target)
	if f.Effect != "" {
		text += ", effect " + f.Effect
	}
	body := mustJSON(annotation{
		DashboardUID: r.cfg.Grafana.DashboardUID, Time: f.InjectedAt.UnixMilli(),
		Tags: r.grafanaTags("fault:"+f.Name, "verdict:"+verdict), Text: text,
	})
	tok := r.token
	r.enqueue(r.grafanaLane, item{sink: "grafana", event: EventVerdict, reqs: func() []request {
		return []request{{method: http.MethodPost, url: r.annotationsURL(""), body: body, bearer: tok}}
	}})
}

// grafanaVerdict tags every fault region with the verdict (PATCH, which
// replaces the tags) and posts a region for the whole run.
func (r *Run) grafanaVerdict(p Payload, started time.Time) {
	if r.cfg.Grafana.URL == "" {
		return
	}
	v := "verdict:" + p.Verdict.Verdict
	text := fmt.Sprintf("chaosctl: run %s of %s: %s", r.runID, r.scenario, p.Verdict.Verdict)
	if d := durationOf(p.Verdict); d != "" {
		text += ", recovered in " + d
	}
	if len(p.Verdict.Reasons) > 0 {
		text += "\n" + strings.Join(p.Verdict.Reasons, "\n")
	}
	run := mustJSON(annotation{
		DashboardUID: r.cfg.Grafana.DashboardUID, Time: started.UnixMilli(), TimeEnd: p.Time.UnixMilli(),
		Tags: r.grafanaTags(v), Text: text,
	})
	tok := r.token
	r.enqueue(r.grafanaLane, item{sink: "grafana", event: EventVerdict, reqs: func() []request {
		// Called by the sender once the regions' POSTs are done.
		var out []request
		for _, rg := range r.regions {
			out = append(out, request{method: http.MethodPatch, url: r.annotationsURL(strconv.FormatInt(rg.id, 10)), bearer: tok,
				body: mustJSON(annotation{Tags: append(slices.Clone(rg.tags), v)})})
		}
		return append(out, request{method: http.MethodPost, url: r.annotationsURL(""), body: run, bearer: tok})
	}})
}
